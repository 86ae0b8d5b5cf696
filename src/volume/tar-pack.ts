// Writes a tar of a tree in a container's file system view: entries are
// lstat-ed (symlinks are stored as symlinks, never followed), mounts below
// the tree are crossed into through ContainerFs.locate, hard links inside
// the archive are kept as links.
import { closeSync, constants, createReadStream, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { coalesce } from '../core/coalesce.ts';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { ContainerFs } from './container-fs.ts';

export interface PackOptions {
  /** Container path of the tree's top (already resolved). */
  source: string;
  /** Name the top gets in the archive ("." for "dir/."; "" to put the top's content at the archive root). */
  rebase: string;
}

function entryType(st: Stats): tar.Headers['type'] | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets are not archived
}

/** A tar stream of the tree; errors while walking end the stream with that error. */
export function packTree(view: ContainerFs, opts: PackOptions): Readable {
  const pack = tar.pack();
  const links = new Map<string, string>();

  const add = (header: tar.Headers) =>
    new Promise<void>((resolve, reject) => {
      pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });

  const walk = async (cpath: string, name: string): Promise<void> => {
    const loc = view.locate(cpath);
    // Synchronous metadata calls and small reads: a thread-pool round trip
    // each cost more than the calls themselves for trees of many files.
    let st: Stats | undefined;
    try {
      st = lstatSync(loc.host);
    } catch {
      return; // vanished while walking
    }
    const type = entryType(st);
    if (!type) return;
    const base: tar.Headers = {
      name: type === 'directory' ? `${name}/` : name,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: st.mtime,
      type,
    };
    if (type === 'file' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        await add({ ...base, type: 'link', linkname: first, size: 0 });
        return;
      }
      links.set(key, name);
    }
    if (type === 'symlink') {
      await add({ ...base, linkname: readlinkSync(loc.host) });
    } else if (type === 'file') {
      const size = st.size;
      if (size <= SMALL_FILE) {
        const body = size ? readSmall(loc.host, size) : Buffer.alloc(0);
        await new Promise<void>((resolve, reject) => pack.entry({ ...base, size }, body, (err) => (err ? reject(err) : resolve())));
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...base, size }, (err) => (err ? reject(err) : resolve()));
        if (size === 0) {
          sink.end();
          return;
        }
        pipeline(createReadStream(loc.host, { start: 0, end: size - 1, highWaterMark: 1 << 20 }), sink).catch(reject);
      });
    } else if (type === 'character-device' || type === 'block-device') {
      await add({ ...base, devmajor: ((st.rdev >> 8) & 0xfff) | Math.floor(st.rdev / 2 ** 32) & ~0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) });
    } else if (type === 'directory') {
      if (name !== '') await add(base);
      let names: string[] = [];
      try {
        names = readdirSync(loc.host).sort();
      } catch {
        names = [];
      }
      for (const child of names) {
        const childPath = cpath === '/' ? `/${child}` : `${cpath}/${child}`;
        await walk(childPath, name === '' ? child : `${name}/${child}`);
      }
      // Mount points whose directory in the rootfs is missing still show their content.
      for (const dest of view.mountsBelow(cpath)) {
        const rel = path.posix.relative(cpath, dest);
        if (rel.includes('/') || names.includes(rel)) continue;
        await walk(dest, name === '' ? rel : `${name}/${rel}`);
      }
    } else {
      await add(base);
    }
  };

  void (async () => {
    try {
      await walk(opts.source, opts.rebase);
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return Readable.from(coalesce(pack as AsyncIterable<Buffer>));
}

const SMALL_FILE = 256 << 10;

/** Exactly `size` bytes (the size the header announced), opened without following a link swapped in meanwhile. */
function readSmall(file: string, size: number): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break; // shrank meanwhile: the rest stays zero, as the header promised its size
      off += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}
