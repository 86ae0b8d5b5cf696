// COPY and ADD: which files a step takes and where they land. The result is
// a tar whose entry names are absolute container paths (without the leading
// "/"), extracted over the step's rootfs at "/", plus a content hash for the
// layer cache (names, modes, owners, link targets and file bytes; never
// times, so an unchanged checkout hits the cache).
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable, pipeline as pipeline2 } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import tar from 'tar-stream';
import { invalid } from '../../core/errors.ts';
import { inflateGuard, peek } from '../decompress.ts';
import type { BuildContext } from './context.ts';

export interface Owner {
  uid: number;
  gid: number;
}

export interface CopyOptions {
  /** Absolute container path of the destination, ending in "/" when it must be a directory. */
  dest: string;
  /** The destination already is a directory in the image. */
  destIsDir: boolean;
  owner: Owner;
  /** Octal --chmod, applied to every file and directory copied. */
  chmod?: number;
  /** ADD: unpack local tar archives instead of copying them. */
  extractArchives: boolean;
}

/** Writes entries into a tar file and hashes what matters for the cache. */
export class LayerWriter {
  private readonly pack = tar.pack();
  private readonly hash: Hash = createHash('sha256');
  private readonly done: Promise<void>;
  private readonly dirs = new Set<string>();

  constructor(file: string) {
    this.done = pipeline(this.pack, createWriteStream(file));
  }

  /** Adds the parent directories of a name that nothing added yet (root-owned 0755, as Docker creates them). */
  private async parents(name: string): Promise<void> {
    const parts = name.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (dir === '' || this.dirs.has(dir)) continue;
      this.dirs.add(dir);
    }
  }

  async add(header: tar.Headers, body?: Readable | Buffer): Promise<void> {
    const name = header.name.replace(/\/+$/, '');
    await this.parents(name);
    if (header.type === 'directory') {
      if (this.dirs.has(name) && header.mode === undefined) return;
      this.dirs.add(name);
    }
    this.hash.update(JSON.stringify([name, header.type, header.mode, header.uid, header.gid, header.linkname ?? '']));
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error | null) => (e ? reject(e) : resolve());
      const entry = this.pack.entry({ ...header, name: header.type === 'directory' ? `${name}/` : name }, done);
      if (header.type !== 'file') return;
      if (body === undefined || Buffer.isBuffer(body)) {
        const buf = body ?? Buffer.alloc(0);
        this.hash.update(buf);
        entry.end(buf);
        return;
      }
      body.on('data', (c: Buffer) => this.hash.update(c));
      pipeline(body, entry).catch(reject);
    });
  }

  async finish(): Promise<string> {
    this.pack.finalize();
    await this.done;
    return this.hash.digest('hex');
  }

  abort(): void {
    // The file's pipeline then ends with a premature close: nobody waits for it any more.
    this.done.catch(() => undefined);
    this.pack.destroy();
  }
}

const GLOB = /[*?[]/;

/** A glob of one path as Go's filepath.Match reads it ("*" never crosses "/"). */
function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw invalid(`syntax error in pattern: ${pattern}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += '\\' + pattern[++i];
    else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Relative paths of the context the source names (globs expanded), ignored files left out. */
async function matchSources(ctx: BuildContext, source: string): Promise<string[]> {
  const clean = path.posix.normalize('/' + source).slice(1).replace(/\/+$/, '');
  if (clean.startsWith('..')) throw invalid(`forbidden path outside the build context: ${source}`);
  if (!GLOB.test(clean)) {
    if (clean !== '' && ctx.ignored(clean)) return [];
    const st = await fs.lstat(path.join(ctx.dir, clean)).catch(() => undefined);
    return st ? [clean] : [];
  }
  const re = globRegex(clean);
  const depth = clean.split('/').length;
  const out: string[] = [];
  const walk = async (rel: string, level: number): Promise<void> => {
    const names = (await fs.readdir(rel ? path.join(ctx.dir, rel) : ctx.dir).catch(() => [] as string[])).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      if (level === depth) {
        if (re.test(r) && !ctx.ignored(r)) out.push(r);
      } else if ((await fs.lstat(path.join(ctx.dir, r))).isDirectory()) {
        await walk(r, level + 1);
      }
    }
  };
  await walk('', 1);
  return out;
}

function modeOf(st: Stats, chmod: number | undefined): number {
  return chmod !== undefined ? chmod : st.mode & 0o7777;
}

/** Copies a context file or tree to `target` (a container path without leading "/"). */
async function addTree(w: LayerWriter, ctx: BuildContext, rel: string, target: string, opts: CopyOptions, top: boolean): Promise<void> {
  const abs = path.join(ctx.dir, rel);
  let st = await fs.lstat(abs);
  if (top && st.isSymbolicLink()) {
    // A named source is followed, but only to something inside the context.
    const real = await fs.realpath(abs).catch(() => '');
    const root = await fs.realpath(ctx.dir);
    if (!real.startsWith(root + '/')) throw invalid(`forbidden path outside the build context: ${rel}`);
    return addTree(w, ctx, path.relative(root, real), target, opts, true);
  }
  const base = { uid: opts.owner.uid, gid: opts.owner.gid, mtime: st.mtime };
  if (st.isDirectory()) {
    if (!top) await w.add({ ...base, name: target, type: 'directory', mode: modeOf(st, opts.chmod) });
    for (const n of (await fs.readdir(abs)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (ctx.ignored(r)) continue;
      await addTree(w, ctx, r, target ? `${target}/${n}` : n, opts, false);
    }
  } else if (st.isSymbolicLink()) {
    await w.add({ ...base, name: target, type: 'symlink', mode: 0o777, linkname: await fs.readlink(abs) });
  } else if (st.isFile()) {
    if (top && opts.extractArchives && (await addArchive(w, abs, target.replace(/\/?[^/]*$/, ''), opts))) return;
    st = await fs.stat(abs);
    await w.add({ ...base, name: target, type: 'file', size: st.size, mode: modeOf(st, opts.chmod) }, createReadStream(abs));
  }
}

const isTarHeader = (head: Buffer) => head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';

/** The file's bytes, decompressed (and guarded) when it is gzip, bzip2, xz or zstd: the compressions Docker's ADD recognizes. */
async function decompressedFile(file: string): Promise<Readable> {
  const { head, stream } = await peek(createReadStream(file), 6);
  const guarded = (decoder: NodeJS.ReadWriteStream) =>
    // A decoder error reaches the guard through the pipeline, and the extractor from there.
    pipeline2([stream, decoder, inflateGuard(`ADD ${path.basename(file)}`)], () => {}) as unknown as Readable;
  if (head[0] === 0x1f && head[1] === 0x8b) return guarded(createGunzip());
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return guarded(createZstdDecompress());
  const tool = head.subarray(0, 3).toString('latin1') === 'BZh' ? 'bzip2' : head.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) ? 'xz' : '';
  if (!tool) return stream;
  // Debian's bzip2 and xz-utils, as a filter: streams Node's zlib does not speak.
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.on('error', () => undefined);
  stream.pipe(child.stdin);
  const guard = inflateGuard(`ADD ${path.basename(file)}`);
  child.stdout.pipe(guard);
  child.on('close', (code) => {
    if (code !== 0) guard.destroy(new Error(`${tool} -dc failed: ${err.trim() || `exit code ${code}`}`));
  });
  child.on('error', (e) => guard.destroy(e));
  guard.on('close', () => child.kill());
  return guard;
}

/** ADD of a local tar (plain or compressed): its entries go under the destination directory. False when not an archive. */
async function addArchive(w: LayerWriter, file: string, destDir: string, opts: CopyOptions): Promise<boolean> {
  let head: Buffer;
  let src: Readable;
  try {
    ({ head, stream: src } = await peek(await decompressedFile(file), 512));
  } catch {
    return false; // compressed-looking data that does not decompress: copied as it is
  }
  if (!isTarHeader(head)) {
    src.destroy();
    return false;
  }
  const extract = tar.extract();
  src.on('error', (e) => extract.destroy(e));
  src.pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
    const name = path.posix.normalize('/' + h.name).slice(1).replace(/\/+$/, '');
    if (name === '' || name.startsWith('..')) {
      entry.resume();
      continue;
    }
    const target = destDir ? `${destDir}/${name}` : name;
    const owner = opts.owner.uid !== 0 || opts.owner.gid !== 0 ? opts.owner : { uid: h.uid ?? 0, gid: h.gid ?? 0 };
    const common = { name: target, mode: opts.chmod ?? h.mode, uid: owner.uid, gid: owner.gid, mtime: h.mtime };
    if (h.type === 'file' || h.type === 'contiguous-file') {
      await w.add({ ...common, type: 'file', size: h.size }, entry);
      continue;
    }
    if (h.type === 'directory') await w.add({ ...common, type: 'directory' });
    else if (h.type === 'symlink') await w.add({ ...common, type: 'symlink', linkname: h.linkname });
    else if (h.type === 'link' && h.linkname) {
      const ln = path.posix.normalize('/' + h.linkname).slice(1);
      await w.add({ ...common, type: 'link', linkname: destDir ? `${destDir}/${ln}` : ln });
    }
    entry.resume();
  }
  return true;
}

/** Container path of a source's destination, without the leading "/". */
function targetOf(source: string, opts: CopyOptions, many: boolean): string {
  const dest = opts.dest.replace(/^\/+/, '');
  const intoDir = opts.dest.endsWith('/') || opts.destIsDir || many;
  const clean = dest.replace(/\/+$/, '');
  return intoDir ? (clean ? `${clean}/${path.posix.basename(source)}` : path.posix.basename(source)) : clean;
}

/** Stages the files of a COPY/ADD from the context into `w`. */
export async function copyFromContext(w: LayerWriter, ctx: BuildContext, sources: string[], opts: CopyOptions, keyword: string): Promise<void> {
  const matched: string[] = [];
  for (const s of sources) {
    const hits = await matchSources(ctx, s);
    if (hits.length === 0) {
      throw invalid(`${keyword} failed: file not found in build context or excluded by .dockerignore: stat ${s}: file does not exist`);
    }
    matched.push(...hits);
  }
  const many = matched.length > 1 || sources.some((s) => GLOB.test(s));
  if (many && !opts.dest.endsWith('/') && !opts.destIsDir) {
    throw invalid(`When using ${keyword} with more than one source file, the destination must be a directory and end with a /`);
  }
  for (const rel of matched) {
    const st = await fs.stat(path.join(ctx.dir, rel)).catch(() => undefined);
    if (rel === '' || st?.isDirectory()) {
      // A directory's contents land in the destination, not the directory itself.
      const dest = opts.dest.replace(/^\/+/, '').replace(/\/+$/, '');
      await addTree(w, ctx, rel, dest, opts, true);
    } else {
      await addTree(w, ctx, rel, targetOf(rel, opts, many), opts, true);
    }
  }
}

/**
 * Stages what `docker cp` style archives of another image hold: `tarOf(path)`
 * gives a tar whose entries are named after the path's last component.
 */
export async function copyFromArchive(w: LayerWriter, source: string, archive: Readable, isDir: boolean, opts: CopyOptions): Promise<void> {
  const extract = tar.extract();
  archive.on('error', (e) => extract.destroy(e));
  archive.pipe(extract);
  const dirDest = opts.dest.replace(/^\/+/, '').replace(/\/+$/, '');
  const fileDest = targetOf(source, opts, false);
  for await (const entry of extract) {
    const h = entry.header;
    const parts = h.name.replace(/\/+$/, '').split('/');
    let target: string;
    if (isDir) {
      if (parts.length === 1) {
        entry.resume();
        continue; // the directory itself: its contents go to dest
      }
      target = [dirDest, ...parts.slice(1)].filter(Boolean).join('/');
    } else {
      target = fileDest;
    }
    await addEntry(w, entry, target, opts);
  }
}

/**
 * Writes one entry of a source archive into the layer at `target`, with the
 * step's --chown/--chmod; other entry types (devices, fifos) are skipped.
 */
async function addEntry(w: LayerWriter, entry: tar.Entry, target: string, opts: CopyOptions): Promise<void> {
  const h = entry.header;
  const owner = opts.owner.uid !== 0 || opts.owner.gid !== 0 ? opts.owner : { uid: h.uid ?? 0, gid: h.gid ?? 0 };
  const common = { name: target, mode: opts.chmod ?? h.mode, uid: owner.uid, gid: owner.gid, mtime: h.mtime };
  if (h.type === 'file') {
    await w.add({ ...common, type: 'file', size: h.size }, entry);
    return;
  }
  if (h.type === 'directory') await w.add({ ...common, type: 'directory' });
  else if (h.type === 'symlink') await w.add({ ...common, type: 'symlink', linkname: h.linkname });
  entry.resume();
}

/**
 * COPY --from with a wildcard: `archive` is the tar of the pattern's fixed
 * leading directory (entries under `base`, its last component); every entry
 * `depth` levels below that matches `pattern` is copied as a named source
 * would be (a file into the destination directory, a directory's contents
 * into it). Returns how many entries matched.
 */
export async function copyGlobFromArchive(w: LayerWriter, archive: Readable, base: string, pattern: string, opts: CopyOptions): Promise<number> {
  const re = globRegex(pattern);
  const depth = pattern.split('/').length;
  const dest = opts.dest.replace(/^\/+/, '').replace(/\/+$/, '');
  const extract = tar.extract();
  archive.on('error', (e) => extract.destroy(e));
  archive.pipe(extract);
  let matched = 0;
  for await (const entry of extract) {
    const h = entry.header;
    let name = h.name.replace(/^(\.?\/)+/, '').replace(/\/+$/, '');
    if (base) {
      if (name !== base && !name.startsWith(base + '/')) {
        entry.resume();
        continue;
      }
      name = name.slice(base.length + 1);
    }
    const parts = name.split('/').filter(Boolean);
    if (parts.length < depth || !re.test(parts.slice(0, depth).join('/'))) {
      entry.resume();
      continue;
    }
    if (parts.length === depth) matched++;
    // A matched directory itself: its contents land in the destination.
    if (parts.length === depth && h.type === 'directory') {
      entry.resume();
      continue;
    }
    const rel = parts.length === depth ? parts[depth - 1] : parts.slice(depth).join('/');
    const target = dest ? `${dest}/${rel}` : rel;
    await addEntry(w, entry, target, opts);
  }
  return matched;
}

/** Splits "/a/b/*.txt" into the fixed directory ("/a/b") and the pattern below it ("*.txt"). */
export function globParts(source: string): { dir: string; pattern: string } {
  const parts = source.split('/').filter(Boolean);
  const first = parts.findIndex((p) => GLOB.test(p));
  return { dir: '/' + parts.slice(0, first).join('/'), pattern: parts.slice(first).join('/') };
}
