// `docker commit`: the container's overlay upper dir becomes a layer tar in
// the OCI form (overlay whiteouts, 0/0 character devices, become ".wh.name"
// entries; opaque directories get a ".wh..wh..opq" entry), then a new image
// whose config is the parent's plus that layer.
import { createReadStream, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { ImageConfig, ImageRecord, ImageRunConfig } from '../core/types.ts';
import { writeHashed } from './content-store.ts';
import { chainIds, sha256 } from './digest.ts';
import { run } from './fs-util.ts';
import type { LayerStore, StagedLayer } from './layer-store.ts';
import type { LoadPlan } from './load.ts';

export interface CommitOptions {
  config: ImageRunConfig;
  comment?: string;
  author?: string;
  createdBy?: string;
}

/** Directories (relative to root) marked opaque by overlayfs, read with one getfattr. */
async function opaqueDirs(root: string): Promise<Set<string>> {
  const out = new Set<string>();
  let text = '';
  try {
    ({ stdout: text } = await run('getfattr', ['-R', '-h', '-d', '-m', '^trusted\\.overlay\\.opaque$', '--absolute-names', '.'], { cwd: root, maxBuffer: 256 << 20 }));
  } catch (err) {
    text = (err as { stdout?: string }).stdout ?? '';
  }
  let current: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = line.slice(8).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    } else if (current !== undefined && /^trusted\.overlay\.opaque="y"$/.test(line)) {
      out.add(path.posix.normalize(current).replace(/^\.\/?/, ''));
    }
  }
  return out;
}

const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

/** The upper dir as a layer tar. */
export async function upperDirTar(upper: string): Promise<Readable> {
  const opaque = await opaqueDirs(upper);
  const pack = tar.pack();
  const links = new Map<string, string>();
  const add = (h: tar.Headers) =>
    new Promise<void>((res, rej) => {
      const done = (e?: Error | null) => (e ? rej(e) : res());
      // An empty regular file (a whiteout marker) needs an explicit empty body.
      if (h.type === 'file') pack.entry(h, Buffer.alloc(0), done);
      else pack.entry(h, done);
    });
  const walk = async (rel: string): Promise<void> => {
    const names = (await fs.readdir(rel ? path.join(upper, rel) : upper)).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const abs = path.join(upper, r);
      const st = await fs.lstat(abs);
      const head = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      if (isWhiteout(st)) {
        await add({ name: rel ? `${rel}/.wh.${n}` : `.wh.${n}`, size: 0, mode: 0o644, mtime: st.mtime, type: 'file' });
      } else if (st.isDirectory()) {
        await add({ ...head, name: `${r}/`, type: 'directory' });
        if (opaque.has(r)) await add({ name: `${r}/.wh..wh..opq`, size: 0, mode: 0o644, mtime: st.mtime, type: 'file' });
        await walk(r);
      } else if (st.isSymbolicLink()) {
        await add({ ...head, name: r, type: 'symlink', linkname: await fs.readlink(abs) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          await add({ ...head, name: r, type: 'link', linkname: first, size: 0 });
          continue;
        }
        if (st.nlink > 1) links.set(key, r);
        await new Promise<void>((res, rej) => {
          const sink = pack.entry({ ...head, name: r, type: 'file', size: st.size }, (e) => (e ? rej(e) : res()));
          if (st.size === 0) sink.end();
          else pipeline(createReadStream(abs, { start: 0, end: st.size - 1, highWaterMark: 1 << 20 }), sink).catch(rej);
        });
      } else if (st.isFIFO()) {
        await add({ ...head, name: r, type: 'fifo' });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const major = (st.rdev >> 8) & 0xfff;
        const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
        await add({ ...head, name: r, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major, devminor: minor });
      }
    }
  };
  void walk('').then(
    () => pack.finalize(),
    (err: Error) => pack.destroy(err),
  );
  return Readable.from(pack as AsyncIterable<Buffer>);
}

/** Stages the new layer and config; nothing in the store changes. */
export async function planCommit(
  upper: string,
  parent: ImageRecord,
  opts: CommitOptions,
  ctx: { layers: LayerStore; staging: string; pin: (digest: string) => void },
): Promise<{ plan: LoadPlan; id: string }> {
  await fs.mkdir(path.join(ctx.staging, 'layers'), { recursive: true });
  const blobFile = path.join(ctx.staging, 'layer.tar');
  const { digest: diffId } = await writeHashed(await upperDirTar(upper), blobFile);
  const diffIds = [...parent.config.rootfs.diff_ids, diffId];
  const chains = chainIds(diffIds);
  const chainId = chains[chains.length - 1];
  for (const c of chains) ctx.pin(c);
  const layers: StagedLayer[] = [];
  if (!(await ctx.layers.has(chainId))) {
    const parentChain = chains.length > 1 ? chains[chains.length - 2] : '';
    layers.push(await ctx.layers.stage(path.join(ctx.staging, 'layers'), { chainId, diffId, parent: parentChain }, createReadStream(blobFile)));
  }
  const created = new Date().toISOString();
  const config: ImageConfig = {
    ...parent.config,
    created,
    ...(opts.author ? { author: opts.author } : {}),
    config: opts.config,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [
      ...(parent.config.history ?? []),
      { created, ...(opts.author ? { author: opts.author } : {}), created_by: opts.createdBy ?? '', ...(opts.comment ? { comment: opts.comment } : {}) },
    ],
  };
  if (!opts.author) delete config.author;
  const configBytes = Buffer.from(JSON.stringify(config));
  const id = sha256(configBytes);
  const configFile = path.join(ctx.staging, 'config.json');
  await fs.writeFile(configFile, configBytes);
  return {
    id,
    plan: {
      images: [{ id, configBytes, config, tags: [], parent: parent.id }],
      blobs: [
        { file: blobFile, digest: diffId },
        { file: configFile, digest: id },
      ],
      layers,
    },
  };
}
