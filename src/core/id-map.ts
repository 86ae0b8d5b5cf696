// User namespace remapping (the daemon's --userns-remap): container uid and
// gid 0..size-1 are host ids base..base+size-1. Files of images, container
// root file systems and volumes are stored with host ids, so that root in
// the container owns them and nobody on the host does.
import path from 'node:path';
import { invalid } from './errors.ts';

export interface IdRange {
  /** First host id; container id 0 maps to it. */
  base: number;
  size: number;
}

export interface IdMap {
  uid: IdRange;
  gid: IdRange;
}

function toHost(r: IdRange, id: number, what: string): number {
  if (!Number.isInteger(id) || id < 0 || id >= r.size) throw invalid(`Container ${what} ${id} cannot be mapped to a host ${what}`);
  return r.base + id;
}

/** Host ids outside the range have no name in the container: they show as the overflow id (65534), as the kernel does. */
function toContainer(r: IdRange, id: number): number {
  return id >= r.base && id < r.base + r.size ? id - r.base : 65534;
}

export const hostUid = (m: IdMap | undefined, uid: number): number => (m ? toHost(m.uid, uid, 'uid') : uid);
export const hostGid = (m: IdMap | undefined, gid: number): number => (m ? toHost(m.gid, gid, 'gid') : gid);
export const containerUid = (m: IdMap | undefined, uid: number): number => (m ? toContainer(m.uid, uid) : uid);
export const containerGid = (m: IdMap | undefined, gid: number): number => (m ? toContainer(m.gid, gid) : gid);

/** Where the network layer keeps the user namespace that owns a remapped sandbox's network namespace. */
export const USERNS_DIR = '/run/berth-userns';

/** The user namespace file of a sandbox, by its network namespace's path or name (the runtime joins it). */
export function usernsFileFor(netns: string): string {
  return path.join(USERNS_DIR, path.basename(netns));
}
