// `docker cp` and `docker export` on the node: stat, tar out and tar in
// against a container's rootfs with its mounts laid over it (ContainerFs),
// following symlinks inside the container as Docker does and never outside.
import type { Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ContainerFsRef, FilesApi, PathStat } from '../agent/agent-api.ts';
import { invalid, notFound } from '../core/errors.ts';
import type { IdMap } from '../core/id-map.ts';
import { cleanContainerPath, ContainerFs } from './container-fs.ts';
import { extractInto } from './tar-extract.ts';
import { packTree } from './tar-pack.ts';

// Go's os.FileMode type bits: the docker CLI decodes the stat header with them.
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_CHARDEV = 2 ** 21;
const GO_STICKY = 2 ** 20;

export function goFileMode(st: Stats): number {
  let mode = st.mode & 0o777;
  if (st.mode & 0o4000) mode += GO_SETUID;
  if (st.mode & 0o2000) mode += GO_SETGID;
  if (st.mode & 0o1000) mode += GO_STICKY;
  if (st.isDirectory()) mode += GO_DIR;
  else if (st.isSymbolicLink()) mode += GO_SYMLINK;
  else if (st.isFIFO()) mode += GO_PIPE;
  else if (st.isSocket()) mode += GO_SOCKET;
  else if (st.isCharacterDevice()) mode += GO_DEVICE + GO_CHARDEV;
  else if (st.isBlockDevice()) mode += GO_DEVICE;
  return mode;
}

/** A path as the client gave it: "" and relative paths are taken from "/"; a trailing "/" or "/." means "follow the last link". */
function parsePath(raw: string): { clean: string; followLast: boolean; base: string } {
  if (raw.includes('\0')) throw invalid('invalid path: NUL byte');
  const withRoot = raw.startsWith('/') ? raw : `/${raw}`;
  const followLast = /\/\.?$/.test(withRoot);
  const clean = cleanContainerPath(withRoot);
  // The archive's top entry is named after what the user typed ("." for "dir/.").
  const base = /\/\.$/.test(withRoot) ? '.' : clean === '/' ? '.' : path.posix.basename(clean);
  return { clean, followLast, base };
}

export class ContainerFiles implements FilesApi {
  private readonly rootfsOf: (containerId: string) => string;
  private readonly idMap: IdMap | undefined;

  constructor(rootfsOf: (containerId: string) => string, idMap?: IdMap) {
    this.rootfsOf = rootfsOf;
    this.idMap = idMap;
  }

  private view(ref: ContainerFsRef): ContainerFs {
    return ContainerFs.fromMountPoints(this.rootfsOf(ref.containerId), ref.mounts, ref.readonlyRootfs, this.idMap);
  }

  private statResolved(view: ContainerFs, ref: ContainerFsRef, raw: string): { stat: PathStat; resolved: string; st: Stats } {
    const p = parsePath(raw);
    const resolved = view.resolve(p.clean, p.followLast);
    const st = view.lstat(resolved);
    if (!st) throw notFound(`Could not find the file ${raw} in container ${ref.name}`);
    if (p.followLast && !st.isDirectory()) throw invalid(`not a directory: ${raw}`);
    let linkTarget = '';
    if (st.isSymbolicLink()) linkTarget = view.resolve(resolved, true);
    return {
      stat: { name: p.base === '.' ? path.posix.basename(resolved) || '/' : p.base, size: st.size, mode: goFileMode(st), mtime: st.mtime.toISOString(), linkTarget },
      resolved,
      st,
    };
  }

  async stat(ref: ContainerFsRef, raw: string): Promise<PathStat> {
    const view = this.view(ref);
    try {
      return this.statResolved(view, ref, raw).stat;
    } finally {
      view.close();
    }
  }

  async getArchive(ref: ContainerFsRef, raw: string): Promise<{ stat: PathStat; tar: Readable }> {
    const view = this.view(ref);
    try {
      const { stat, resolved } = this.statResolved(view, ref, raw);
      // packTree closes the view when the stream ends.
      return { stat, tar: packTree(view, { source: resolved, rebase: parsePath(raw).base }) };
    } catch (err) {
      view.close();
      throw err;
    }
  }

  async putArchive(ref: ContainerFsRef, raw: string, tar: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
    const view = this.view(ref);
    try {
      const p = parsePath(raw);
      const dest = view.resolve(p.clean, true);
      const st = view.lstat(dest);
      if (!st) throw notFound(`Could not find the file ${raw} in container ${ref.name}`);
      if (!st.isDirectory()) throw invalid('extraction point is not a directory');
      const loc = view.locate(dest);
      if (!loc.rw) throw invalid(loc.inMount ? 'mounted volume is marked read-only' : 'container rootfs is marked read-only');
      await extractInto(view, tar, { dest, noOverwriteDirNonDir: opts.noOverwriteDirNonDir, copyUIDGID: opts.copyUIDGID });
    } finally {
      view.close();
    }
  }

  async exportRootfs(containerId: string): Promise<Readable> {
    const view = new ContainerFs(this.rootfsOf(containerId), [], { idMap: this.idMap });
    return packTree(view, { source: '/', rebase: '' });
  }
}
