// Docker's json-file set on disk: <id>-json.log (written), <id>-json.log.1
// (the previous one), .2 ... up to max-file files in all. Rotation renames
// every file one step older and starts a new, empty current file (a new inode
// even with max-file 1, so a reader or a restarted converter can tell it from
// the file it knew).
import { promises as fs } from 'node:fs';

export interface RotationPolicy {
  /** Bytes per file; 0 = unbounded (never rotates). */
  maxSize: number;
  /** Files kept, the current one included (>= 1). */
  maxFile: number;
}

/** Names of the set, oldest first, the current file last. */
export function jsonLogFiles(current: string, maxFile: number): string[] {
  const out: string[] = [];
  for (let i = Math.max(1, maxFile) - 1; i >= 1; i--) out.push(`${current}.${i}`);
  out.push(current);
  return out;
}

async function inoOf(file: string): Promise<string | undefined> {
  try {
    return String((await fs.stat(file, { bigint: true })).ino);
  } catch {
    return undefined;
  }
}

export class RotatingFile {
  readonly path: string;
  private readonly policy: RotationPolicy;
  private handle: fs.FileHandle | undefined;
  /** Inode of the current file ("0" before it exists) and its size. */
  ino = '0';
  size = 0;

  constructor(path: string, policy: RotationPolicy) {
    this.path = path;
    this.policy = { maxSize: Math.max(0, policy.maxSize), maxFile: Math.max(1, Math.floor(policy.maxFile)) };
  }

  private async open(): Promise<fs.FileHandle> {
    if (this.handle) return this.handle;
    const h = await fs.open(this.path, 'a', 0o640);
    const st = await h.stat({ bigint: true });
    this.handle = h;
    this.ino = String(st.ino);
    this.size = Number(st.size);
    return h;
  }

  /** Reads the current file's inode and size (creating it). */
  async init(): Promise<void> {
    await this.open();
  }

  /**
   * Whether `bytes` more after `pending` (not yet appended) would overflow
   * the current file. A file holds at least one entry, so an entry larger than max-size gets a file of its own.
   */
  wouldOverflow(pending: number, bytes: number): boolean {
    const used = this.size + pending;
    return this.policy.maxSize > 0 && used > 0 && used + bytes > this.policy.maxSize;
  }

  async append(data: Buffer): Promise<void> {
    const h = await this.open();
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await h.write(data, off, data.length - off);
      off += bytesWritten;
    }
    this.size += data.length;
  }

  async rotate(): Promise<void> {
    await this.close();
    const files = jsonLogFiles(this.path, this.policy.maxFile); // oldest first
    if (files.length === 1) {
      await fs.rm(this.path, { force: true });
    } else {
      // .n-1 -> (dropped), ..., .1 -> .2, current -> .1
      for (let i = 1; i < files.length; i++) {
        await fs.rename(files[i], files[i - 1]).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
    }
    await this.open();
  }

  /**
   * Undoes writes made after a persisted point {ino, size}: the file with that
   * inode is cut back to size and anything newer is emptied. A file that is no
   * longer there (or ino "0") means the only later change was one rotation:
   * the current file holds nothing but later writes.
   */
  async rollBack(ino: string, size: number): Promise<void> {
    const files = jsonLogFiles(this.path, this.policy.maxFile).reverse(); // current first
    let k = -1;
    if (ino !== '0') {
      for (let i = 0; i < files.length; i++) {
        if ((await inoOf(files[i])) === ino) {
          k = i;
          break;
        }
      }
    }
    if (k >= 0) {
      const st = await fs.stat(files[k]);
      if (st.size > size) await fs.truncate(files[k], size);
    }
    for (let i = 0; i < (k >= 0 ? k : 1); i++) await fs.truncate(files[i], 0).catch(() => undefined);
    await this.close();
    await this.open();
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
  }
}
