// A container's file system as seen from the host: its rootfs with its
// mounts (volumes, binds) laid over it. Paths are resolved at the level of
// container paths: every component is looked up through hostPath() and a
// symlink's target is interpreted inside the container (absolute targets
// restart at the container's "/", ".." stops at it). So no lookup ever lands
// outside the rootfs or a mount source, whatever the container planted.
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { invalid } from '../core/errors.ts';
import type { MountPoint } from '../core/types.ts';

const MAX_LINKS = 40; // Linux's own limit on symlinks followed in one lookup

export interface FsMount {
  destination: string;
  source: string;
  rw: boolean;
}

export interface HostLocation {
  /** Absolute host path. */
  host: string;
  /** The directory that confines it: the rootfs or a mount source. */
  base: string;
  rw: boolean;
  inMount: boolean;
}

/** "/a/../b/./c/" -> "/b/c" (never above "/"). */
export function cleanContainerPath(p: string): string {
  return path.posix.resolve('/', p);
}

export class ContainerFs {
  readonly rootfs: string;
  private readonly rootRw: boolean;
  /** Longest destination first, so that nested mounts win. */
  private readonly mounts: FsMount[];

  constructor(rootfs: string, mounts: FsMount[], opts: { readonlyRootfs?: boolean } = {}) {
    this.rootfs = rootfs;
    this.rootRw = !opts.readonlyRootfs;
    this.mounts = mounts
      .filter((m) => m.source !== '')
      .map((m) => ({ ...m, destination: cleanContainerPath(m.destination) }))
      .sort((a, b) => b.destination.length - a.destination.length);
  }

  /** The bind-like mounts of a container (tmpfs mounts only exist inside a running container). */
  static fromMountPoints(rootfs: string, mounts: MountPoint[], readonlyRootfs: boolean): ContainerFs {
    return new ContainerFs(
      rootfs,
      mounts.filter((m) => m.Type !== 'tmpfs' && m.Source).map((m) => ({ destination: m.Destination, source: m.Source, rw: m.RW })),
      { readonlyRootfs },
    );
  }

  /** Where a clean container path lives on the host; symlinks are not looked at. */
  locate(cpath: string): HostLocation {
    const p = cleanContainerPath(cpath);
    for (const m of this.mounts) {
      if (p === m.destination || p.startsWith(m.destination === '/' ? '/' : `${m.destination}/`)) {
        const rel = p.slice(m.destination.length).replace(/^\/+/, '');
        return { host: rel ? path.join(m.source, rel) : m.source, base: m.source, rw: m.rw, inMount: true };
      }
    }
    return { host: p === '/' ? this.rootfs : path.join(this.rootfs, p.slice(1)), base: this.rootfs, rw: this.rootRw, inMount: false };
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
   * Resolves symlinks in a container path inside the container. With
   * followLast false the last component stays as it is (lstat semantics).
   * Components that do not exist are joined as given.
   */
  async resolve(cpath: string, followLast: boolean): Promise<string> {
    return this.resolveSync(cpath, followLast);
  }

  /** resolve() without a thread-pool round trip per component (extraction calls it for every new directory). */
  resolveSync(cpath: string, followLast: boolean): string {
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
      const st = lstatSync(this.locate(next).host, { throwIfNoEntry: false });
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
      const target = readlinkSync(this.locate(next).host);
      if (target.startsWith('/')) done = '/';
      pending.unshift(...target.split('/').filter(Boolean));
    }
    return done;
  }

  /** The real path of a root or mount source, asked once per view (cp of many files calls confined() for each). */
  private readonly realBases = new Map<string, string>();
  private realBase(base: string): string {
    let p = this.realBases.get(base);
    if (p === undefined) this.realBases.set(base, (p = realpathSync.native(base)));
    return p;
  }

  /**
   * Guards against a path swapped for a symlink between resolve() and use (a
   * running container can do that): the real host path of what exists must
   * still be inside its base.
   */
  async confined(loc: HostLocation): Promise<void> {
    this.confinedSync(loc);
  }

  /** confined() with synchronous calls: extraction asks it for every entry. */
  confinedSync(loc: HostLocation): void {
    // The last component itself is never followed by callers (lstat, O_NOFOLLOW).
    let probe = loc.host === loc.base ? loc.host : path.dirname(loc.host);
    for (;;) {
      let real: string | undefined;
      try {
        real = realpathSync.native(probe);
      } catch {
        real = undefined;
      }
      if (real !== undefined) {
        const base = this.realBase(loc.base);
        if (real !== base && !real.startsWith(base.endsWith('/') ? base : `${base}/`)) {
          throw invalid('path escapes the container root');
        }
        return;
      }
      const parent = path.dirname(probe);
      if (parent === probe) return;
      probe = parent;
    }
  }
}
