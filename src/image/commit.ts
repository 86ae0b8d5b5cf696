// `docker commit`: the container's overlay upper dir becomes a new layer.
// The layer's directory is a straight copy of the upper dir (`cp -a`: modes,
// owners, times, hardlinks, xattrs; overlay whiteouts, 0/0 character devices,
// and opaque marks are already the layer store's own form), made while the
// layer tar is written in the OCI form (".wh.name" entries, ".wh..wh..opq"
// for opaque directories) for its digest and for `docker save`, hashed as
// it is written, counting the layer's size on the way. Unpacking that tar
// again file by file took seconds for 10,000 files.
import { createHash } from 'node:crypto';
import { promises as fs, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { containerGid, containerUid, type IdMap } from '../core/id-map.ts';
import type { ImageConfig, ImageRecord, ImageRunConfig } from '../core/types.ts';
import { chainIds, sha256 } from './digest.ts';
import { run } from './fs-util.ts';
import type { LayerStore, StagedLayer } from './layer-store.ts';
import type { LoadPlan } from './load.ts';
import { deviceNumbers, TarWriter } from './tar-writer.ts';

export interface CommitOptions {
  config: ImageRunConfig;
  comment?: string;
  author?: string;
  createdBy?: string;
}

/** Overlay xattrs in the upper dir (relative path -> names and values), read with one getfattr. */
async function overlayXattrs(root: string): Promise<Map<string, Map<string, string>>> {
  const out = new Map<string, Map<string, string>>();
  let text = '';
  try {
    ({ stdout: text } = await run('getfattr', ['-R', '-h', '-d', '-m', '^trusted\\.overlay\\.', '--absolute-names', '.'], { cwd: root, maxBuffer: 256 << 20 }));
  } catch (err) {
    text = (err as { stdout?: string }).stdout ?? '';
  }
  let current: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      const rel = path.posix.normalize(line.slice(8).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))).replace(/^\.\/?/, '');
      current = new Map();
      out.set(rel, current);
    } else if (current) {
      const m = /^(trusted\.overlay\.[^=]+)(?:="(.*)")?$/.exec(line);
      if (m) current.set(m[1], m[2] ?? '');
    }
  }
  return out;
}

function opaqueOf(xattrs: Map<string, Map<string, string>>): Set<string> {
  return new Set([...xattrs].filter(([, x]) => x.get('trusted.overlay.opaque') === 'y').map(([p]) => p));
}

/** Mount targets runc creates empty in the upper dir; not changes of the user's. */
const MOUNT_TARGET_FILES = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf'];

/**
 * Paths of the upper dir that stay out of the layer: the empty mount-target
 * files when the image did not have them (and /etc when it holds nothing else
 * and was not in the image either).
 */
export async function mountTargetLeftovers(upper: string, lowerDirs: string[]): Promise<Set<string>> {
  const inImage = async (rel: string) => {
    for (const d of lowerDirs) if (await fs.lstat(path.join(d, rel)).then(() => true, () => false)) return true;
    return false;
  };
  const out = new Set<string>();
  for (const rel of MOUNT_TARGET_FILES) {
    const st = await fs.lstat(path.join(upper, rel)).catch(() => undefined);
    if (st?.isFile() && st.size === 0 && !(await inImage(rel))) out.add(rel);
  }
  if (out.size && !(await inImage('etc'))) {
    const names = await fs.readdir(path.join(upper, 'etc')).catch(() => [] as string[]);
    if (names.every((n) => out.has(`etc/${n}`))) out.add('etc');
  }
  return out;
}

/** The layer's directory: a copy of the upper dir without `exclude`, and without overlay xattrs other than opaque marks. */
export async function copyUpperDir(upper: string, dest: string, exclude: Set<string>, xattrs: Map<string, Map<string, string>>): Promise<void> {
  await run('cp', ['-a', '--', `${upper}/.`, `${dest}/`], { maxBuffer: 16 << 20 });
  for (const rel of [...exclude].sort().reverse()) await fs.rm(path.join(dest, rel), { recursive: true, force: true });
  // origin/impure/redirect... describe this upper dir's own lower layers; a lower layer must not carry them.
  const strip = new Map<string, string[]>();
  for (const [rel, names] of xattrs) {
    if (exclude.has(rel)) continue;
    for (const name of names.keys()) if (name !== 'trusted.overlay.opaque') (strip.get(name) ?? strip.set(name, []).get(name)!).push(rel || '.');
  }
  for (const [name, rels] of strip) {
    for (let i = 0; i < rels.length; i += 500) await run('setfattr', ['-h', '-x', name, '--', ...rels.slice(i, i + 500)], { cwd: dest });
  }
}

const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

/** Entries written before the walk yields, so that 10,000 small files do not hold the event loop at once. */
const ENTRIES_PER_YIELD = 256;

/**
 * The upper dir as a layer tar in pieces of about 1 MiB, walked once with
 * synchronous calls (TarWriter); `size` ends up as the layer's size the way
 * Docker counts it (lstat sizes of everything but directories, hard links
 * once), so the copy need not be walked again.
 */
function* upperDirChunks(upper: string, exclude: Set<string>, opaque: Set<string>, size: { bytes: number }, idMap?: IdMap): Generator<Buffer[]> {
  const w = new TarWriter();
  const links = new Map<string, string>();
  let sinceYield = 0;
  function* walk(rel: string): Generator<Buffer[]> {
    for (const n of readdirSync(rel ? path.join(upper, rel) : upper).sort()) {
      if (w.pending) {
        sinceYield = 0;
        yield w.take();
      } else if (++sinceYield >= ENTRIES_PER_YIELD) {
        sinceYield = 0;
        yield w.take(true);
      }
      const r = rel ? `${rel}/${n}` : n;
      if (exclude.has(r)) continue;
      const abs = path.join(upper, r);
      const st = lstatSync(abs);
      // A remapped container's files are stored with host ids; the layer carries the container's.
      const head = { mode: st.mode & 0o7777, uid: containerUid(idMap, st.uid), gid: containerGid(idMap, st.gid), mtime: Math.floor(st.mtimeMs / 1000) };
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (!st.isDirectory() && first === undefined) size.bytes += st.size;
      if (isWhiteout(st)) {
        w.header({ name: rel ? `${rel}/.wh.${n}` : `.wh.${n}`, type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: head.mtime });
      } else if (st.isDirectory()) {
        w.header({ ...head, name: `${r}/`, type: 'directory' });
        if (opaque.has(r)) w.header({ name: `${r}/.wh..wh..opq`, type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: head.mtime });
        yield* walk(r);
      } else if (st.isSymbolicLink()) {
        w.header({ ...head, name: r, type: 'symlink', linkname: readlinkSync(abs) });
      } else if (st.isFile()) {
        if (first !== undefined) {
          w.header({ ...head, name: r, type: 'link', linkname: first });
          continue;
        }
        if (st.nlink > 1) links.set(key, r);
        w.header({ ...head, name: r, type: 'file', size: st.size });
        // O_NOFOLLOW: a running container (--pause=false) could swap in a link to a host file.
        yield* w.fileBody(abs, st.size);
      } else if (st.isFIFO()) {
        w.header({ ...head, name: r, type: 'fifo' });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        w.header({ ...head, name: r, type: st.isCharacterDevice() ? 'character-device' : 'block-device', ...deviceNumbers(st.rdev) });
      }
    }
  }
  yield* walk('');
  w.end();
  yield w.take(true);
}

/** The upper dir as a layer tar stream. */
export async function upperDirTar(upper: string, opts: { exclude?: Set<string>; opaque?: Set<string> } = {}): Promise<Readable> {
  const opaque = opts.opaque ?? opaqueOf(await overlayXattrs(upper));
  return Readable.from(flatten(upperDirChunks(upper, opts.exclude ?? new Set(), opaque, { bytes: 0 })));
}

function* flatten(chunks: Iterable<Buffer[]>): Generator<Buffer> {
  for (const batch of chunks) yield* batch;
}

/** Writes the layer tar to `file`, hashing it on the way: its diff id, and the layer's size. */
export async function writeLayerTar(upper: string, file: string, opts: { exclude: Set<string>; opaque: Set<string>; idMap?: IdMap }): Promise<{ diffId: string; size: number }> {
  const size = { bytes: 0 };
  const hash = createHash('sha256');
  const fh = await fs.open(file, 'wx', 0o600);
  try {
    for (const batch of upperDirChunks(upper, opts.exclude, opts.opaque, size, opts.idMap)) {
      for (const b of batch) hash.update(b);
      if (batch.length) await fh.writev(batch);
    }
  } finally {
    await fh.close();
  }
  return { diffId: `sha256:${hash.digest('hex')}`, size: size.bytes };
}

/** Stages the new layer and config; nothing in the store changes. */
export async function planCommit(
  upper: string,
  parent: ImageRecord,
  opts: CommitOptions,
  ctx: { layers: LayerStore; staging: string; pin: (digest: string) => void; idMap?: IdMap },
): Promise<{ plan: LoadPlan; id: string }> {
  await fs.mkdir(path.join(ctx.staging, 'layers'), { recursive: true });
  const blobFile = path.join(ctx.staging, 'layer.tar');
  const copy = path.join(ctx.staging, 'diff');
  await fs.mkdir(copy, { mode: 0o755 });
  const xattrs = await overlayXattrs(upper);
  const exclude = await mountTargetLeftovers(upper, chainIds(parent.config.rootfs.diff_ids).map((c) => ctx.layers.diffDir(c)));
  // The tar (for the digest) and the copy (for the layer) are made side by side.
  const [{ diffId, size }] = await Promise.all([writeLayerTar(upper, blobFile, { exclude, opaque: opaqueOf(xattrs), idMap: ctx.idMap }), copyUpperDir(upper, copy, exclude, xattrs)]);
  const diffIds = [...parent.config.rootfs.diff_ids, diffId];
  const chains = chainIds(diffIds);
  const chainId = chains[chains.length - 1];
  for (const c of chains) ctx.pin(c);
  const layers: StagedLayer[] = [];
  if (!(await ctx.layers.has(chainId))) {
    const parentChain = chains.length > 1 ? chains[chains.length - 2] : '';
    layers.push(await ctx.layers.stageDir(path.join(ctx.staging, 'layers'), { chainId, diffId, parent: parentChain, size }, copy));
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
