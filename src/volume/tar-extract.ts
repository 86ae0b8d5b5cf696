// Extracts a client's tar (PUT /containers/{id}/archive) into a directory of
// a container's file system view. The tar is hostile input and the
// container may be too: every entry's parent is resolved inside the
// container (its symlinks, absolute or not, lead to container paths, never
// to host paths), names that climb above the extraction directory are
// refused, and the entry itself is created without following anything that
// stands at its path (it is removed first; files open O_EXCL|O_NOFOLLOW).
// Every system call names its target through the parent directory's
// descriptor (ContainerFs.at), so a directory swapped for a link while the
// copy runs cannot redirect it.
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, fchmodSync, fchownSync, fstatSync, futimesSync, linkSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, rmdirSync, symlinkSync, unlinkSync, writevSync, type Stats } from 'node:fs';
import path from 'node:path';
import { finished, type Readable } from 'node:stream';
import { BerthError, invalid } from '../core/errors.ts';
import { hostGid, hostUid } from '../core/id-map.ts';
import { TarReader, type TarEntry, type TarHandler } from '../image/tar-reader.ts';
import type { ContainerFs, HostLocation } from './container-fs.ts';

export interface ExtractOptions {
  /** Container path of the (resolved, existing) directory to extract into. */
  dest: string;
  noOverwriteDirNonDir: boolean;
  /** Keep the tar's owners; otherwise everything belongs to root (Docker's default). */
  copyUIDGID: boolean;
}

/**
 * Reads the tar as it arrives and handles each entry synchronously (TarReader):
 * a promise or thread-pool round trip per entry cost more than the entry's own
 * syscalls for trees of many files.
 */
export async function extractInto(view: ContainerFs, source: Readable, opts: ExtractOptions): Promise<void> {
  const x = new Extractor(view, opts);
  const reader = new TarReader(x);
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      x.abort();
      // The rest of the body is read and dropped, so that the client still gets the answer.
      source.resume();
      reject(err instanceof BerthError ? err : invalid(`invalid tar archive: ${(err as Error).message}`));
    };
    source.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        reader.push(chunk);
      } catch (err) {
        fail(err);
      }
    });
    // finished() also reports a body closed before this call (a client that
    // left while the container was looked up), which no event would; its
    // error listener stays, and fail() is idempotent.
    finished(source, { writable: false }, (err) => {
      if (err) fail(err.code === 'ERR_STREAM_PREMATURE_CLOSE' ? new Error('the archive was cut short') : err);
    });
    source.once('end', () => {
      if (failed) return;
      try {
        reader.end();
        x.finish();
        resolve();
      } catch (err) {
        fail(err);
      }
    });
  });
}

class Extractor implements TarHandler {
  private readonly view: ContainerFs;
  private readonly opts: ExtractOptions;
  /** Container directory -> its resolved container path (valid until something under it is replaced). */
  private readonly resolved = new Map<string, string>();
  /** Resolved container directory -> the mtime it gets once everything in it is written. */
  private readonly dirTimes = new Map<string, number>();
  /** The regular file whose body is arriving. */
  private file: { fd: number; uid: number; gid: number; mode: number; mtime: number } | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

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
  private parentDir(name: string, cparent: string): string {
    const hit = this.resolved.get(cparent);
    if (hit !== undefined) return hit;
    let dir: string;
    if (cparent === this.opts.dest || cparent === '/') {
      dir = this.view.resolve(cparent, true);
    } else {
      const up = this.parentDir(name, path.posix.dirname(cparent));
      dir = this.view.resolve(path.posix.join(up, path.posix.basename(cparent)), true);
    }
    const st = this.view.lstat(dir);
    if (!st) {
      this.writable(this.view.locate(dir));
      const at = this.view.at(dir);
      mkdirSync(at, { mode: 0o755 });
      if (!this.opts.copyUIDGID) lchownSync(at, hostUid(this.view.idMap, 0), hostGid(this.view.idMap, 0));
    } else if (!st.isDirectory()) {
      throw this.bad(name, `${cparent} is not a directory`);
    }
    this.resolved.set(cparent, dir);
    return dir;
  }

  private writable(loc: HostLocation): void {
    if (loc.rw) return;
    throw invalid(loc.inMount ? 'mounted volume is marked read-only' : 'container rootfs is marked read-only');
  }

  /** Forgets resolutions and open directories at or under a path that is being replaced. */
  private forget(cpath: string): void {
    for (const k of this.resolved.keys()) if (k === cpath || k.startsWith(`${cpath}/`)) this.resolved.delete(k);
    this.view.forget(cpath);
  }

  /**
   * Clears the way for an entry at `cpath` where something already stands
   * (found when creating it failed with EEXIST): checks noOverwriteDirNonDir,
   * refuses mount points, removes what is there unless both are directories.
   * Returns what stood there.
   */
  private replace(e: TarEntry, ctarget: string, cpath: string): Stats | undefined {
    const existing = this.view.lstat(cpath);
    if (!existing) return undefined;
    const isDir = e.type === 'directory';
    if (this.opts.noOverwriteDirNonDir) {
      if (existing.isDirectory() && !isDir) throw invalid(`cannot overwrite directory "${cpath}" with non-directory "${e.name}"`);
      if (!existing.isDirectory() && isDir) throw invalid(`cannot overwrite non-directory "${cpath}" with directory "${e.name}"`);
    }
    if (isDir && existing.isDirectory()) return existing;
    if (this.view.isMountPoint(cpath)) throw this.bad(e.name, `${cpath} is a mount point`);
    this.forget(ctarget);
    this.forget(cpath);
    removeEntry(this.view.dirFd(path.posix.dirname(cpath)), path.posix.basename(cpath));
    return existing;
  }

  /** Runs `create` on the entry's path; when something stands there, clears the way (replace()) and runs it again. */
  private create(e: TarEntry, ctarget: string, cpath: string, create: (at: string) => void): Stats | undefined {
    try {
      create(this.view.at(cpath));
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const existing = this.replace(e, ctarget, cpath);
    if (!(existing?.isDirectory() && e.type === 'directory')) create(this.view.at(cpath));
    return existing;
  }

  entry(e: TarEntry): void {
    this.view.trim();
    const name = e.name;
    const ctarget = this.target(name, 'path');
    if (ctarget === this.opts.dest) {
      if (e.type === 'directory') return; // "./": the destination itself
      throw this.bad(name, 'names the extraction directory itself');
    }
    if (e.type === undefined) return; // other meta entries carry nothing to extract
    const parent = this.parentDir(name, path.posix.dirname(ctarget));
    const cpath = path.posix.join(parent, path.posix.basename(ctarget));
    this.writable(this.view.locate(cpath));
    const uid = hostUid(this.view.idMap, this.opts.copyUIDGID ? e.uid : 0);
    const gid = hostGid(this.view.idMap, this.opts.copyUIDGID ? e.gid : 0);
    const mode = e.mode & 0o7777;
    const mtime = e.mtime;
    switch (e.type) {
      case 'directory': {
        this.create(e, ctarget, cpath, (at) => mkdirSync(at, { mode: 0o700 }));
        // The directory itself, opened without following a link swapped in for it.
        const fd = this.view.dirFd(cpath);
        fchownSync(fd, uid, gid);
        fchmodSync(fd, mode); // after chown, which clears set-id bits
        this.dirTimes.set(cpath, mtime);
        break;
      }
      case 'file': {
        // Created without following anything that stands at the path (it is removed first).
        let fd = -1;
        this.create(e, ctarget, cpath, (at) => {
          fd = openSync(at, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        });
        this.file = { fd, uid, gid, mode, mtime };
        break;
      }
      case 'symlink': {
        // Any target is fine: it is only ever followed inside the container.
        if (!e.linkname) throw this.bad(name, 'symlink with an empty target');
        this.create(e, ctarget, cpath, (at) => symlinkSync(e.linkname, at));
        const at = this.view.at(cpath);
        lchownSync(at, uid, gid);
        lutimesSync(at, mtime, mtime);
        break;
      }
      case 'link': {
        const clink = this.target(e.linkname, 'hard link target');
        const linkParent = this.parentDir(name, path.posix.dirname(clink));
        const src = path.posix.join(linkParent, path.posix.basename(clink));
        const st = this.view.lstat(src);
        if (!st || st.isDirectory()) throw this.bad(name, `hard link to ${JSON.stringify(e.linkname)}, which is not a file`);
        this.create(e, ctarget, cpath, (at) => linkSync(this.view.at(src), at)); // link(2) does not follow a symlink source
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const type = e.type === 'fifo' ? 'p' : e.type === 'character-device' ? 'c' : 'b';
        const leaf = path.posix.basename(cpath);
        const args = type === 'p' ? ['--', leaf, 'p'] : ['--', leaf, type, String(e.devmajor), String(e.devminor)];
        // Rare in docker cp: one mknod process, working in the parent directory through the daemon's descriptor of it.
        this.create(e, ctarget, cpath, () => {
          try {
            const dirFd = this.view.dirFd(parent);
            execFileSync('mknod', args, { cwd: `/proc/${process.pid}/fd/${dirFd}`, stdio: ['ignore', 'ignore', 'pipe'] });
          } catch (err) {
            if (/File exists/.test(String((err as { stderr?: Buffer }).stderr ?? ''))) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
            throw err;
          }
        });
        const at = this.view.at(cpath);
        lchownSync(at, uid, gid);
        chmodNoFollow(at, mode);
        break;
      }
    }
  }

  /** Writes a file's body in pieces of up to 1 MiB (writev of the slices the reader hands on). */
  data(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= 1 << 20) this.flush();
  }

  private flush(): void {
    const f = this.file;
    if (f && this.pendingBytes > 0) {
      let bufs = this.pending;
      let left = this.pendingBytes;
      while (left > 0) {
        const n = writevSync(f.fd, bufs);
        left -= n;
        if (left > 0) bufs = dropBytes(bufs, n);
      }
    }
    this.pending = [];
    this.pendingBytes = 0;
  }

  end(): void {
    const f = this.file;
    if (!f) return;
    try {
      this.flush();
      fchownSync(f.fd, f.uid, f.gid);
      fchmodSync(f.fd, f.mode); // after chown, which clears set-id bits
      futimesSync(f.fd, f.mtime, f.mtime);
    } finally {
      this.file = undefined;
      closeSync(f.fd);
    }
  }

  /** An error ended the extraction: the file being written is closed. */
  abort(): void {
    if (this.file) closeSync(this.file.fd);
    this.file = undefined;
    this.pending = [];
    this.pendingBytes = 0;
  }

  finish(): void {
    for (const [cpath, time] of this.dirTimes) {
      this.view.trim();
      try {
        futimesSync(this.view.dirFd(cpath), time, time);
      } catch {
        // gone or replaced meanwhile: its time does not matter
      }
    }
  }
}

/** Linux's O_PATH (Node does not export it): a handle on the inode itself, opening no device or fifo. */
const O_PATH = 0o10000000;

/**
 * chmod of what stands at `at` now, never of a symlink's target: a running
 * container can swap what extraction just made for a symlink, whose target
 * the host would resolve among its own files (lchown and lutimes cannot
 * follow; chmod would).
 */
function chmodNoFollow(at: string, mode: number): void {
  const fd = openSync(at, O_PATH | constants.O_NOFOLLOW);
  try {
    if (fstatSync(fd).isSymbolicLink()) throw invalid(`${path.basename(at)} was replaced by a symbolic link during the copy`);
    chmodSync(`/proc/self/fd/${fd}`, mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes what stands at NAME in the directory `dirFd`, a whole tree
 * included, through descriptors: a path-based recursive remove would follow
 * a directory the container swaps for a link to the host's "/" meanwhile.
 */
function removeEntry(dirFd: number, name: string): void {
  const at = `/proc/self/fd/${dirFd}/${name}`;
  if (!lstatSync(at).isDirectory()) {
    unlinkSync(at);
    return;
  }
  const fd = openSync(at, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    for (const child of readdirSync(`/proc/self/fd/${fd}`)) removeEntry(fd, child);
  } finally {
    closeSync(fd);
  }
  rmdirSync(at);
}

/** The buffers after the first n bytes (a short writev). */
function dropBytes(bufs: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}
