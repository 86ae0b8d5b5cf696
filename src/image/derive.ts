// A child image that only changes the configuration (build steps such as ENV,
// CMD or LABEL): the parent's layers, a history entry marked empty_layer.
import path from 'node:path';
import type { ImageConfig, ImageRecord, ImageRunConfig } from '../core/types.ts';
import { sha256 } from './digest.ts';
import type { LoadPlan } from './load.ts';

/** The plan for the new image; the caller writes plan.blobs[0] (the config) before committing. */
export function planDerive(
  parent: ImageRecord | undefined,
  runConfig: ImageRunConfig,
  createdBy: string,
  staging: string,
): { plan: LoadPlan; id: string } {
  const created = new Date().toISOString();
  const base: ImageConfig = parent?.config ?? { architecture: goArch(process.arch), os: 'linux', rootfs: { type: 'layers', diff_ids: [] } };
  const config: ImageConfig = {
    ...base,
    created,
    config: runConfig,
    rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids] },
    history: [...(base.history ?? []), { created, created_by: createdBy, empty_layer: true }],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const id = sha256(configBytes);
  return {
    id,
    plan: {
      images: [{ id, configBytes, config, tags: [], parent: parent?.id ?? '' }],
      blobs: [{ file: path.join(staging, 'config.json'), digest: id }],
      layers: [],
    },
  };
}

function goArch(arch: string): string {
  return arch === 'x64' ? 'amd64' : arch === 'ia32' ? '386' : arch;
}
