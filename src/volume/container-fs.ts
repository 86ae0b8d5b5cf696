// A container's file system as seen from the host: its rootfs with its
// mounts (volumes, binds) laid over it. Paths are resolved at the level of
// container paths: a symlink's target is interpreted inside the container
// (absolute targets restart at the container's "/", ".." stops at it).
//
// A running container can swap any directory for a symlink at any moment
// (CVE-2018-15664), so nothing here or in its users touches a file by its
// host path: each directory is opened from its parent's descriptor, one
// component at a time, refusing symlinks (O_NOFOLLOW), and entries are named
// as /proc/self/fd/DIR/NAME. A swap after the open changes nothing: the
// descriptor still names the directory that was checked, inside the root.
import { closeSync, constants, lstatSync, openSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { invalid } from '../core/errors.ts';
import type { IdMap } from '../core/id-map.ts';
import type { MountPoint } from '../core/types.ts';

const MAX_LINKS = 40; // Linux's own limit on symlinks followed in one lookup
/** Directory descriptors kept between entries (trim()); one entry may open more. */
const KEEP_FDS = 128;

export interface FsMount {
  destination: string;
  source: string;
  rw: boolean;
}

export interface HostLocation {
  /** The directory that confines it: the rootfs or a mount source. */
  base: string;
  rw: boolean;
  inMount: boolean;
}

/** "/a/../b/./c/" -> "/b/c" (never above "/"). */
export function cleanContainerPath(p: string): string {
  return path.posix.resolve('/', p);
}

/** A lookup failed because a component is not a directory any more: a container that swapped something in. */
export function changedUnderneath(cpath: string): Error {
  return invalid(`${cpath} changed during the copy (a directory on the way is now a link or a file)`);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

export class ContainerFs {
  readonly rootfs: string;
  /** The daemon's user namespace remapping: files on the host carry host ids, archives the container's. */
  readonly idMap: IdMap | undefined;
  private readonly rootRw: boolean;
  /** Longest destination first, so that nested mounts win. */
  private readonly mounts: FsMount[];
  /** Container directory -> open descriptor; Map order is use order (oldest first). */
  private readonly dirs = new Map<string, number>();

  constructor(rootfs: string, mounts: FsMount[], opts: { readonlyRootfs?: boolean; idMap?: IdMap } = {}) {
    this.rootfs = rootfs;
    this.idMap = opts.idMap;
    this.rootRw = !opts.readonlyRootfs;
    this.mounts = mounts
      .filter((m) => m.source !== '')
      .map((m) => ({ ...m, destination: cleanContainerPath(m.destination) }))
      .sort((a, b) => b.destination.length - a.destination.length);
  }

  /** The bind-like mounts of a container (tmpfs mounts only exist inside a running container). */
  static fromMountPoints(rootfs: string, mounts: MountPoint[], readonlyRootfs: boolean, idMap?: IdMap): ContainerFs {
    return new ContainerFs(
      rootfs,
      mounts.filter((m) => m.Type !== 'tmpfs' && m.Source).map((m) => ({ destination: m.Destination, source: m.Source, rw: m.RW })),
      { readonlyRootfs, idMap },
    );
  }

  /** Which root or mount a clean container path lives in; symlinks are not looked at. */
  locate(cpath: string): HostLocation {
    const p = cleanContainerPath(cpath);
    const m = this.mountOf(p);
    return m ? { base: m.source, rw: m.rw, inMount: true } : { base: this.rootfs, rw: this.rootRw, inMount: false };
  }

  private mountOf(p: string): FsMount | undefined {
    return this.mounts.find((m) => p === m.destination || p.startsWith(m.destination === '/' ? '/' : `${m.destination}/`));
  }

  /** The host path of "/" or of a mount destination: trusted (the daemon's own, or the user's bind source). */
  private basePath(p: string): string | undefined {
    if (p === '/') return this.mounts.find((m) => m.destination === '/')?.source ?? this.rootfs;
    return this.mounts.find((m) => m.destination === p)?.source;
  }

  /** Mount destinations strictly below a container directory (for walks that cross into them). */
  mountsBelow(cdir: string): string[] {
    const prefix = cdir === '/' ? '/' : `${cdir}/`;
    return this.mounts.map((m) => m.destination).filter((d) => d !== cdir && d.startsWith(prefix));
  }

  isMountPoint(cpath: string): boolean {
    return this.mounts.some((m) => m.destination === cpath);
  }

  /**
   * An open descriptor of the directory at a resolved container path,
   * reached from "/" (or the mount it is in) without following any symlink.
   * Throws the lookup's errno error (ENOENT, ENOTDIR, ELOOP). The descriptor
   * stays valid until trim(), forget() or close().
   */
  dirFd(cdir: string): number {
    const p = cleanContainerPath(cdir);
    const hit = this.dirs.get(p);
    if (hit !== undefined) {
      this.dirs.delete(p);
      this.dirs.set(p, hit);
      return hit;
    }
    const base = this.basePath(p);
    const fd =
      base !== undefined
        ? openSync(base, constants.O_RDONLY | constants.O_DIRECTORY)
        : openSync(this.at(p), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    this.dirs.set(p, fd);
    return fd;
  }

  /**
   * A host path for the entry at a resolved container path that does not
   * depend on any directory on the way: /proc/self/fd/PARENT/NAME. System
   * calls that do not follow a last-component link (lstat, lchown, unlink,
   * mkdir, open with O_NOFOLLOW) touch exactly that entry. "/" and mount
   * destinations are their trusted host paths.
   */
  at(cpath: string): string {
    const p = cleanContainerPath(cpath);
    const base = this.basePath(p);
    if (base !== undefined) return base;
    return `/proc/self/fd/${this.dirFd(path.posix.dirname(p))}/${path.posix.basename(p)}`;
  }

  /** lstat of a resolved container path; undefined if it does not exist (or a component on the way is not a directory). */
  lstat(cpath: string): Stats | undefined {
    try {
      return lstatSync(this.at(cpath));
    } catch (err) {
      const code = errno(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      if (code === 'ELOOP') throw changedUnderneath(cpath);
      throw err;
    }
  }

  /** Closes the descriptors of a directory being replaced and of everything under it. */
  forget(cpath: string): void {
    const p = cleanContainerPath(cpath);
    for (const [k, fd] of this.dirs) {
      if (k === p || k.startsWith(p === '/' ? '/' : `${p}/`)) {
        this.dirs.delete(k);
        closeSync(fd);
      }
    }
  }

  /** Closes the least recently used descriptors beyond KEEP_FDS; callers call it between entries, never while holding a path from at(). */
  trim(): void {
    for (const [k, fd] of this.dirs) {
      if (this.dirs.size <= KEEP_FDS) return;
      this.dirs.delete(k);
      closeSync(fd);
    }
  }

  close(): void {
    for (const fd of this.dirs.values()) closeSync(fd);
    this.dirs.clear();
  }

  /**
   * Resolves symlinks in a container path inside the container. With
   * followLast false the last component stays as it is (lstat semantics).
   * Components that do not exist are joined as given.
   */
  resolve(cpath: string, followLast: boolean): string {
    const pending = cleanContainerPath(cpath).split('/').filter(Boolean);
    let done = '/';
    let links = 0;
    let missing = false;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '.' || part === '') continue;
      if (part === '..') {
        done = path.posix.dirname(done);
        continue;
      }
      const next = path.posix.join(done, part);
      if (missing || (pending.length === 0 && !followLast)) {
        done = next;
        continue;
      }
      const st = this.lstat(next);
      if (!st) {
        missing = true;
        done = next;
        continue;
      }
      if (!st.isSymbolicLink()) {
        done = next;
        continue;
      }
      if (++links > MAX_LINKS) throw invalid(`too many levels of symbolic links: ${cpath}`);
      let target: string;
      try {
        target = readlinkSync(this.at(next));
      } catch {
        throw changedUnderneath(next); // no longer a link, or gone
      }
      if (target.startsWith('/')) done = '/';
      pending.unshift(...target.split('/').filter(Boolean));
    }
    return done;
  }
}
