// Small file system helpers shared by the image modules.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

export const run = promisify(execFile);

/**
 * How much a file write stream may hold before it pushes back. Node's
 * default (16 KiB) is less than one chunk of a socket or file read, so the
 * reader stopped for every write; with room for a few MiB, reading, hashing
 * and writing overlap and queued chunks go out in one writev
 * (`docker load` of 200 MiB: 1.1-1.4 s -> 0.6-0.8 s).
 */
export const WRITE_BUFFER = 4 * 1024 * 1024;

/**
 * Copies a stream into an open file: one write in flight while the next
 * chunks arrive, queued chunks written together (WRITE_BUFFER's reasons).
 */
export async function writeAll(src: AsyncIterable<Buffer>, fh: FileHandle): Promise<void> {
  let inFlight: Promise<unknown> = Promise.resolve();
  let queued: Buffer[] = [];
  let bytes = 0;
  const flush = async () => {
    await inFlight;
    inFlight = writevFully(fh, queued, bytes);
    inFlight.catch(() => undefined); // awaited on the next flush or at the end
    queued = [];
    bytes = 0;
  };
  try {
    for await (const chunk of src) {
      queued.push(chunk);
      bytes += chunk.length;
      if (bytes >= WRITE_BUFFER / 4) await flush();
    }
    if (queued.length) await flush();
  } finally {
    await inFlight;
  }
}

async function writevFully(fh: FileHandle, buffers: Buffer[], bytes: number): Promise<void> {
  const { bytesWritten } = await fh.writev(buffers);
  if (bytesWritten === bytes) return;
  // A short write: the rest goes on (a full disk then fails with ENOSPC).
  const rest = Buffer.concat(buffers).subarray(bytesWritten);
  for (let off = 0; off < rest.length; ) off += (await fh.write(rest, off)).bytesWritten;
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

export async function rmrf(p: string): Promise<void> {
  await fs.rm(p, { recursive: true, force: true, maxRetries: 3 });
}

/** Bytes in a tree as Docker counts them: lstat sizes of everything but directories, hard links once. */
export async function dirSize(root: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (dir: string) => {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = path.join(dir, name);
      const st = await fs.lstat(p, { bigint: true }).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        await walk(p);
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += Number(st.size);
    }
  };
  await walk(root);
  return total;
}

/**
 * Marks directories whose children are independent trees (one per layer,
 * container or staging area) as tops of directory hierarchies for ext4's
 * Orlov allocator (chattr +T): each child then starts in a block group of
 * its own with free inodes and few directories, instead of beside its
 * siblings. Creating a file next to thousands of inodes deleted seconds ago
 * costs up to a millisecond on ext4 without a journal (the allocator steps
 * over each of them), which made docker commit of 10,000 files several
 * times slower on such hosts. Elsewhere (other file systems) it does
 * nothing; failure is ignored.
 */
export async function markHierarchyTops(dirs: string[]): Promise<void> {
  await run('chattr', ['+T', '--', ...dirs]).catch(() => undefined);
}

/** Mount points currently in this mount namespace (from /proc/self/mountinfo), unescaped. */
export async function mountPoints(): Promise<Set<string>> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length > 4) out.add(fields[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

export async function isMountPoint(p: string): Promise<boolean> {
  return (await mountPoints()).has(path.resolve(p));
}
