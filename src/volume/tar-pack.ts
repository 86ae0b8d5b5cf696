// Writes a tar of a tree in a container's file system view: entries are
// lstat-ed (symlinks are stored as symlinks, never followed) and read
// through their parent directory's descriptor (ContainerFs.at), so a
// running container that swaps a directory for a link meanwhile cannot
// redirect the walk to the host's files; mounts below
// the tree are crossed into through ContainerFs.locate, hard links inside
// the archive are kept as links. The walk is synchronous and hands on about
// 1 MiB at a time (TarWriter): a thread-pool round trip or a promise per
// file cost more than the file's own syscalls.
import { closeSync, constants, fstatSync, openSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { deviceNumbers, TarWriter, type TarType } from '../image/tar-writer.ts';
import { containerGid, containerUid } from '../core/id-map.ts';
import type { ContainerFs } from './container-fs.ts';

export interface PackOptions {
  /** Container path of the tree's top (already resolved). */
  source: string;
  /** Name the top gets in the archive ("." for "dir/."; "" to put the top's content at the archive root). */
  rebase: string;
}

function entryType(st: Stats): TarType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets are not archived
}

/** Entries handed on before the walk yields, so that a tree of tiny files does not hold the event loop for long. */
const ENTRIES_PER_YIELD = 256;

function* walkTree(view: ContainerFs, opts: PackOptions): Generator<Buffer[]> {
  const w = new TarWriter();
  const links = new Map<string, string>();
  let sinceYield = 0;
  // Explicit stack of [container path, archive name]; children pushed in reverse for sorted order.
  const stack: [string, string][] = [[opts.source, opts.rebase]];
  while (stack.length > 0) {
    if (w.pending) {
      sinceYield = 0;
      yield w.take();
    } else if (++sinceYield >= ENTRIES_PER_YIELD) {
      sinceYield = 0;
      yield w.take(true);
    }
    view.trim();
    const [cpath, name] = stack.pop()!;
    let st: Stats | undefined;
    let fd = -1;
    let linkname = '';
    // What vanished or changed kind while walking (a running container) is left out.
    try {
      st = view.lstat(cpath);
      if (st?.isFile()) {
        // O_NONBLOCK: a fifo swapped in after the lstat must not block the open; the fstat then tells.
        fd = openSync(view.at(cpath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
        st = fstatSync(fd);
        if (!st.isFile()) st = undefined;
      } else if (st?.isSymbolicLink()) {
        linkname = readlinkSync(view.at(cpath));
      }
    } catch {
      st = undefined;
    }
    if (!st) {
      if (fd >= 0) closeSync(fd);
      continue;
    }
    const type = entryType(st);
    if (!type) continue;
    const base = { name: type === 'directory' ? `${name}/` : name, type, mode: st.mode & 0o7777, uid: containerUid(view.idMap, st.uid), gid: containerGid(view.idMap, st.gid), mtime: Math.floor(st.mtimeMs / 1000) };
    if (type === 'file') {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          closeSync(fd);
          w.header({ ...base, type: 'link', linkname: first });
          continue;
        }
        links.set(key, name);
      }
      w.header({ ...base, size: st.size });
      yield* w.fileBody(fd, st.size);
    } else if (type === 'symlink') {
      w.header({ ...base, linkname });
    } else if (type === 'character-device' || type === 'block-device') {
      w.header({ ...base, ...deviceNumbers(st.rdev) });
    } else if (type === 'directory') {
      if (name !== '') w.header(base);
      let names: string[] = [];
      try {
        names = readdirSync(`/proc/self/fd/${view.dirFd(cpath)}`).sort();
      } catch {
        names = [];
      }
      const children: [string, string][] = names.map((child) => [cpath === '/' ? `/${child}` : `${cpath}/${child}`, name === '' ? child : `${name}/${child}`]);
      // Mount points whose directory in the rootfs is missing still show their content.
      for (const dest of view.mountsBelow(cpath)) {
        const rel = path.posix.relative(cpath, dest);
        if (rel.includes('/') || names.includes(rel)) continue;
        children.push([dest, name === '' ? rel : `${name}/${rel}`]);
      }
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
    } else {
      w.header(base);
    }
  }
  w.end();
  yield w.take(true);
}

/** A tar stream of the tree; errors while walking end the stream with that error. */
export function packTree(view: ContainerFs, opts: PackOptions): Readable {
  const gen = walkTree(view, opts);
  return new Readable({
    highWaterMark: 1 << 20,
    // Ended, failed or a reader gone early: the walk's open file (if any) and the view's directories are closed.
    destroy(err, cb) {
      try {
        gen.return(undefined);
      } finally {
        view.close();
        cb(err);
      }
    },
    read() {
      try {
        for (;;) {
          const next = gen.next();
          if (next.done) {
            this.push(null);
            return;
          }
          if (next.value.length === 0) continue;
          for (const b of next.value) this.push(b);
          return;
        }
      } catch (err) {
        this.destroy(err as Error);
      }
    },
  });
}
