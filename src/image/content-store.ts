// Content-addressed blobs: <root>/sha256/<hex>. Image configs (their digest is
// the image id) and uncompressed layer tars (their digest is the diff id,
// kept so that `save` can hand out the exact bytes again).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hexOf } from './digest.ts';
import { exists, WRITE_BUFFER } from './fs-util.ts';

export class ContentStore {
  private readonly dir: string;

  constructor(root: string) {
    this.dir = path.join(root, 'sha256');
  }

  async init(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
  }

  path(digest: string): string {
    return path.join(this.dir, hexOf(digest));
  }

  has(digest: string): Promise<boolean> {
    return exists(this.path(digest));
  }

  read(digest: string): Promise<Buffer> {
    return fs.readFile(this.path(digest));
  }

  stream(digest: string): Readable {
    return createReadStream(this.path(digest));
  }

  async size(digest: string): Promise<number> {
    return (await fs.stat(this.path(digest))).size;
  }

  /** Moves a file whose digest the caller verified into the store (same file system). */
  async commit(file: string, digest: string): Promise<void> {
    await fs.rename(file, this.path(digest));
  }

  async remove(digest: string): Promise<void> {
    await fs.rm(this.path(digest), { force: true });
  }

  async list(): Promise<string[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }
}

/** Writes a stream to `file` and returns its sha256 digest and size. */
export async function writeHashed(src: Readable, file: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  src.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    size += chunk.length;
  });
  await pipeline(src, createWriteStream(file, { flags: 'wx', mode: 0o600, highWaterMark: WRITE_BUFFER }));
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

export const tempName = (dir: string, prefix: string) => path.join(dir, `${prefix}-${randomBytes(6).toString('hex')}`);
