// Host devices for privileged containers (what Docker passes with --privileged).
import { promises as fs, type BigIntStats } from 'node:fs';
import path from 'node:path';
import type { OciDevice } from './oci-types.ts';

const SKIP = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev', 'console', 'core']);

const major = (rdev: bigint) => Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
const minor = (rdev: bigint) => Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));

/** The OCI description of the device node `st` describes, to be made at `inside`. */
export function deviceFromStat(inside: string, st: BigIntStats): OciDevice {
  return {
    path: inside,
    type: st.isCharacterDevice() ? 'c' : 'b',
    major: major(st.rdev),
    minor: minor(st.rdev),
    fileMode: Number(st.mode & 0o777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

export async function hostDevices(dir = '/dev'): Promise<OciDevice[]> {
  const out: OciDevice[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (SKIP.has(e.name) && dir === '/dev') continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      out.push(...(await hostDevices(full)));
      continue;
    }
    if (!e.isCharacterDevice() && !e.isBlockDevice()) continue;
    try {
      out.push(deviceFromStat(full, await fs.stat(full, { bigint: true })));
    } catch {
      // vanished meanwhile
    }
  }
  return out;
}
