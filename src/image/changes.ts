// `docker diff`: what a container changed, read from its overlay upper dir.
// A whiteout (0/0 character device) is a deletion, a path the image's layers
// have is a change, anything else an addition (a new directory with all it
// holds). The mount points runc makes for /proc, /sys, /dev/* and the etc
// files are left out, as Docker keeps those in a separate init layer.
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';

export const KIND_CHANGED = 0;
export const KIND_ADDED = 1;
export const KIND_DELETED = 2;

export interface Change {
  Path: string;
  Kind: 0 | 1 | 2;
}

/** Docker's init layer: present in every container, never part of a diff. */
const INIT_PATHS = new Set(['/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/console', '/proc', '/sys', '/etc', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/etc/mtab', '/.dockerenv']);

const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

async function lstat(p: string): Promise<Stats | undefined> {
  return fs.lstat(p).catch(() => undefined);
}

/** Whether the image (its layers, top-most first) has the path: the first layer that mentions it decides. */
async function inLower(lowerTopFirst: string[], rel: string): Promise<boolean> {
  for (const dir of lowerTopFirst) {
    const st = await lstat(path.join(dir, rel));
    if (st) return !isWhiteout(st);
  }
  return false;
}

export async function containerChanges(upper: string, lowerTopFirst: string[]): Promise<Change[]> {
  const out: Change[] = [];
  const addAll = async (rel: string): Promise<void> => {
    for (const name of (await fs.readdir(path.join(upper, rel)).catch(() => [] as string[])).sort()) {
      const p = path.posix.join(rel, name);
      out.push({ Path: p, Kind: KIND_ADDED });
      const st = await lstat(path.join(upper, p));
      if (st?.isDirectory()) await addAll(p);
    }
  };
  /** Returns whether anything under rel was reported. */
  const walk = async (rel: string): Promise<boolean> => {
    let any = false;
    for (const name of (await fs.readdir(path.join(upper, rel)).catch(() => [] as string[])).sort()) {
      const p = path.posix.join(rel, name);
      const st = await lstat(path.join(upper, p));
      if (!st) continue;
      if (isWhiteout(st)) {
        if (INIT_PATHS.has(p)) continue;
        out.push({ Path: p, Kind: KIND_DELETED });
        any = true;
        continue;
      }
      const existed = await inLower(lowerTopFirst, p);
      if (!st.isDirectory()) {
        if (INIT_PATHS.has(p) && !existed) continue;
        if (INIT_PATHS.has(p) && /^\/etc\/(hosts|hostname|resolv\.conf|mtab)$/.test(p)) continue;
        out.push({ Path: p, Kind: existed ? KIND_CHANGED : KIND_ADDED });
        any = true;
        continue;
      }
      if (!existed && !INIT_PATHS.has(p)) {
        out.push({ Path: p, Kind: KIND_ADDED });
        await addAll(p);
        any = true;
        continue;
      }
      const at = out.length;
      const below = await walk(p);
      // A directory is there because something under it changed (or itself did);
      // an init-layer directory only counts for what is below it.
      if (below || !INIT_PATHS.has(p)) {
        out.splice(at, 0, { Path: p, Kind: existed ? KIND_CHANGED : KIND_ADDED });
        any = true;
      }
    }
    return any;
  };
  await walk('/');
  return out;
}
