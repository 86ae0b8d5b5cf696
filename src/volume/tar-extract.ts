// Extracts a client's tar (PUT /containers/{id}/archive) into a directory of
// a container's file system view. The tar is hostile input and the
// container may be too: every entry's parent is resolved inside the
// container (its symlinks, absolute or not, lead to container paths, never
// to host paths), names that climb above the extraction directory are
// refused, and the entry itself is created without following anything that
// stands at its path (it is removed first; files open O_EXCL|O_NOFOLLOW).
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, openSync, promises as fs, writeSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { BerthError, invalid } from '../core/errors.ts';
import { mknodAll } from '../image/special-files.ts';
import type { ContainerFs, HostLocation } from './container-fs.ts';

export interface ExtractOptions {
  /** Container path of the (resolved, existing) directory to extract into. */
  dest: string;
  noOverwriteDirNonDir: boolean;
  /** Keep the tar's owners; otherwise everything belongs to root (Docker's default). */
  copyUIDGID: boolean;
}

type Header = tar.Headers;

export async function extractInto(view: ContainerFs, source: Readable, opts: ExtractOptions): Promise<void> {
  const x = new Extractor(view, opts);
  const extract = tar.extract();
  source.on('error', (err) => extract.destroy(err));
  source.pipe(extract);
  try {
    for await (const entry of extract) {
      await x.entry(entry.header, entry);
      entry.resume();
    }
  } catch (err) {
    source.unpipe(extract);
    source.resume();
    extract.destroy();
    if (err instanceof BerthError) throw err;
    throw invalid(`invalid tar archive: ${(err as Error).message}`);
  }
  await x.finish();
}

class Extractor {
  private readonly view: ContainerFs;
  private readonly opts: ExtractOptions;
  /** Container directory -> its resolved container path (valid until something under it is replaced). */
  private readonly resolved = new Map<string, string>();
  private readonly dirTimes = new Map<string, Date>();

  constructor(view: ContainerFs, opts: ExtractOptions) {
    this.view = view;
    this.opts = opts;
  }

  private bad(name: string, why: string): BerthError {
    return invalid(`invalid tar entry ${JSON.stringify(name)}: ${why}`);
  }

  /** The container path an entry names: under dest, or refused. */
  private target(name: string, what: string): string {
    if (name.includes('\0')) throw this.bad(name, `NUL byte in ${what}`);
    const joined = path.posix.normalize(`${this.opts.dest}/${name}`);
    const dest = this.opts.dest === '/' ? '/' : `${this.opts.dest}/`;
    const clean = joined.replace(/(.)\/+$/, '$1');
    if (clean !== this.opts.dest && !clean.startsWith(dest)) throw this.bad(name, `${what} is outside of ${this.opts.dest}`);
    return clean;
  }

  /** Resolves (and creates, as root-owned 0755 directories) the parent of an entry. */
  private async parentDir(name: string, cparent: string): Promise<string> {
    const hit = this.resolved.get(cparent);
    if (hit !== undefined) return hit;
    let dir: string;
    if (cparent === this.opts.dest || cparent === '/') {
      dir = await this.view.resolve(cparent, true);
    } else {
      const up = await this.parentDir(name, path.posix.dirname(cparent));
      dir = await this.view.resolve(path.posix.join(up, path.posix.basename(cparent)), true);
    }
    const loc = this.view.locate(dir);
    const st = await fs.lstat(loc.host).catch(() => undefined);
    if (!st) {
      this.writable(name, loc);
      await this.view.confined(loc);
      await fs.mkdir(loc.host, { mode: 0o755 });
      if (!this.opts.copyUIDGID) await fs.lchown(loc.host, 0, 0);
    } else if (!st.isDirectory()) {
      throw this.bad(name, `${cparent} is not a directory`);
    }
    this.resolved.set(cparent, dir);
    return dir;
  }

  private writable(_name: string, loc: HostLocation): void {
    if (loc.rw) return;
    throw invalid(loc.inMount ? 'mounted volume is marked read-only' : 'container rootfs is marked read-only');
  }

  /** Forgets resolutions at or under a path that is being replaced. */
  private forget(cpath: string): void {
    for (const k of this.resolved.keys()) if (k === cpath || k.startsWith(`${cpath}/`)) this.resolved.delete(k);
  }

  async entry(h: Header, body: AsyncIterable<Buffer>): Promise<void> {
    const name = h.name;
    const ctarget = this.target(name, 'path');
    if (ctarget === this.opts.dest) {
      if (h.type === 'directory') return; // "./": the destination itself
      throw this.bad(name, 'names the extraction directory itself');
    }
    const parent = await this.parentDir(name, path.posix.dirname(ctarget));
    const cpath = path.posix.join(parent, path.posix.basename(ctarget));
    const loc = this.view.locate(cpath);
    this.writable(name, loc);
    await this.view.confined(loc);
    const abs = loc.host;
    const existing = await fs.lstat(abs).catch(() => undefined);
    const isDir = h.type === 'directory';
    if (existing && this.opts.noOverwriteDirNonDir) {
      if (existing.isDirectory() && !isDir) throw invalid(`cannot overwrite directory "${cpath}" with non-directory "${name}"`);
      if (!existing.isDirectory() && isDir) throw invalid(`cannot overwrite non-directory "${cpath}" with directory "${name}"`);
    }
    if (existing && !(isDir && existing.isDirectory())) {
      if (this.view.isMountPoint(cpath)) throw this.bad(name, `${cpath} is a mount point`);
      this.forget(ctarget);
      this.forget(cpath);
      if (existing.isDirectory()) await fs.rm(abs, { recursive: true, force: true });
      else await fs.unlink(abs);
    }
    const uid = this.opts.copyUIDGID ? (h.uid ?? 0) : 0;
    const gid = this.opts.copyUIDGID ? (h.gid ?? 0) : 0;
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ?? new Date();
    switch (h.type) {
      case 'directory':
        if (!existing?.isDirectory()) await fs.mkdir(abs, { mode: 0o700 });
        await fs.lchown(abs, uid, gid);
        await fs.chmod(abs, mode);
        this.dirTimes.set(abs, mtime);
        break;
      case 'file':
      case 'contiguous-file':
      case undefined:
      case null: {
        // Synchronous calls on the descriptor: a thread-pool round trip per
        // call cost more than the calls (docker cp of 1,000 files).
        const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          let pending: Buffer[] = [];
          let size = 0;
          const flush = () => {
            if (size) writeSync(fd, pending.length === 1 ? pending[0] : Buffer.concat(pending, size));
            pending = [];
            size = 0;
          };
          for await (const chunk of body) {
            pending.push(chunk);
            size += chunk.length;
            if (size >= 1 << 20) flush();
          }
          flush();
          fchownSync(fd, uid, gid);
          fchmodSync(fd, mode); // after chown, which clears set-id bits
          futimesSync(fd, mtime, mtime);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink':
        // Any target is fine: it is only ever followed inside the container.
        if (!h.linkname) throw this.bad(name, 'symlink with an empty target');
        await fs.symlink(h.linkname, abs);
        await fs.lchown(abs, uid, gid);
        await fs.lutimes(abs, mtime, mtime);
        break;
      case 'link': {
        const clink = this.target(h.linkname ?? '', 'hard link target');
        const linkParent = await this.parentDir(name, path.posix.dirname(clink));
        const src = this.view.locate(path.posix.join(linkParent, path.posix.basename(clink)));
        await this.view.confined(src);
        const st = await fs.lstat(src.host).catch(() => undefined);
        if (!st || st.isDirectory()) throw this.bad(name, `hard link to ${JSON.stringify(h.linkname)}, which is not a file`);
        await fs.link(src.host, abs); // link(2) does not follow a symlink source
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const type = h.type === 'fifo' ? 'p' : h.type === 'character-device' ? 'c' : 'b';
        await mknodAll(path.dirname(abs), [{ path: path.basename(abs), type, major: h.devmajor ?? 0, minor: h.devminor ?? 0 }]);
        await fs.lchown(abs, uid, gid);
        await fs.chmod(abs, mode);
        break;
      }
      default:
        return; // pax and GNU meta entries are folded in by tar-stream
    }
  }

  async finish(): Promise<void> {
    for (const [abs, time] of this.dirTimes) await fs.lutimes(abs, time, time).catch(() => undefined);
  }
}
