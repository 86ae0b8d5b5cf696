// `docker import`: a root file system tarball (plain, gzip or zstd) becomes a
// one-layer image whose configuration comes from Dockerfile-style changes.
import path from 'node:path';
import { createReadStream, promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ImageConfig, ImageRunConfig } from '../core/types.ts';
import { writeHashed } from './content-store.ts';
import { decompressed, describeCorruption } from './decompress.ts';
import { sha256 } from './digest.ts';
import type { LayerStore, StagedLayer } from './layer-store.ts';
import type { LoadPlan } from './load.ts';

const HOST_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

export interface ImportContext {
  layers: LayerStore;
  staging: string;
  pin: (digest: string) => void;
}

/** Stages the layer and config of an imported image; `runConfig` already has the changes applied. */
export async function planImport(
  input: Readable,
  runConfig: ImageRunConfig,
  message: string | undefined,
  ctx: ImportContext,
): Promise<{ plan: LoadPlan; id: string }> {
  await fs.mkdir(path.join(ctx.staging, 'layers'), { recursive: true });
  const blobFile = path.join(ctx.staging, 'layer.tar');
  let diffId: string;
  try {
    const { stream } = await decompressed(input);
    ({ digest: diffId } = await writeHashed(stream, blobFile));
  } catch (err) {
    throw describeCorruption(err, 'import tarball');
  }
  ctx.pin(diffId);
  const layers: StagedLayer[] = [];
  if (!(await ctx.layers.has(diffId))) {
    layers.push(await ctx.layers.stage(path.join(ctx.staging, 'layers'), { chainId: diffId, diffId, parent: '' }, createReadStream(blobFile)));
  }
  const created = new Date().toISOString();
  const config: ImageConfig = {
    architecture: HOST_ARCH[process.arch] ?? process.arch,
    os: 'linux',
    created,
    config: runConfig,
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created, comment: message || 'Imported from -' }],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const id = sha256(configBytes);
  const configFile = path.join(ctx.staging, 'config.json');
  await fs.writeFile(configFile, configBytes);
  return {
    id,
    plan: {
      images: [{ id, configBytes, config, tags: [] }],
      blobs: [
        { file: blobFile, digest: diffId },
        { file: configFile, digest: id },
      ],
      layers,
    },
  };
}
