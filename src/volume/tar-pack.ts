// Writes a tar of a tree in a container's file system view: entries are
// lstat-ed (symlinks are stored as symlinks, never followed), mounts below
// the tree are crossed into through ContainerFs.locate, hard links inside
// the archive are kept as links. The walk is synchronous and hands on about
// 1 MiB at a time (TarWriter): a thread-pool round trip or a promise per
// file cost more than the file's own syscalls.
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { deviceNumbers, TarWriter, type TarType } from '../image/tar-writer.ts';
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
    const [cpath, name] = stack.pop()!;
    const loc = view.locate(cpath);
    let st: Stats;
    try {
      st = lstatSync(loc.host);
    } catch {
      continue; // vanished while walking
    }
    const type = entryType(st);
    if (!type) continue;
    const base = { name: type === 'directory' ? `${name}/` : name, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
    if (type === 'file') {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          w.header({ ...base, type: 'link', linkname: first });
          continue;
        }
        links.set(key, name);
      }
      w.header({ ...base, size: st.size });
      yield* w.fileBody(loc.host, st.size);
    } else if (type === 'symlink') {
      w.header({ ...base, linkname: readlinkSync(loc.host) });
    } else if (type === 'character-device' || type === 'block-device') {
      w.header({ ...base, ...deviceNumbers(st.rdev) });
    } else if (type === 'directory') {
      if (name !== '') w.header(base);
      let names: string[] = [];
      try {
        names = readdirSync(loc.host).sort();
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
    // A reader gone early: the walk's open file (if any) is closed.
    destroy(err, cb) {
      try {
        gen.return(undefined);
      } finally {
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
