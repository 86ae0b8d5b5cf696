// Reads an image archive (docker-archive or OCI layout, itself possibly
// compressed) into a scratch directory without ever using the entry names on
// the file system: every regular file is written as a numbered file, and the
// names, symlinks and hard links of the archive live only in a map. Lookups
// resolve symlinks inside that map and refuse anything that climbs out.
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { invalid } from '../core/errors.ts';
import { decompressed, describeCorruption } from './decompress.ts';
import { writeHashed } from './content-store.ts';

export interface ArchiveFile {
  file: string;
  size: number;
  digest: string;
}

type Node = { kind: 'file'; file: ArchiveFile } | { kind: 'symlink'; target: string };

const MAX_JSON = 32 * 1024 * 1024;

export class Archive {
  private readonly nodes = new Map<string, Node>();

  private constructor() {}

  /** Reads the whole archive stream into `dir` (which must exist and be empty). */
  static async read(input: Readable, dir: string): Promise<Archive> {
    const archive = new Archive();
    let stream: Readable;
    try {
      ({ stream } = await decompressed(input));
    } catch (err) {
      throw describeCorruption(err, 'archive');
    }
    const extract = tar.extract();
    stream.on('error', (err) => extract.destroy(err));
    stream.pipe(extract);
    let count = 0;
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const name = normalize(h.name);
        if (h.type === 'file' || h.type === 'contiguous-file') {
          const file = path.join(dir, String(count++));
          const { digest, size } = await writeHashed(entry, file);
          archive.nodes.set(name, { kind: 'file', file: { file, size, digest } });
        } else if (h.type === 'symlink') {
          const target = path.posix.join(path.posix.dirname(name), h.linkname ?? '');
          if (!h.linkname || h.linkname.startsWith('/') || target.startsWith('../') || target === '..') {
            throw invalid(`invalid archive: symlink ${JSON.stringify(h.name)} points outside the archive`);
          }
          archive.nodes.set(name, { kind: 'symlink', target });
        } else if (h.type === 'link') {
          const target = archive.nodes.get(normalize(h.linkname ?? ''));
          if (!target) throw invalid(`invalid archive: hard link ${JSON.stringify(h.name)} to a missing file`);
          archive.nodes.set(name, target);
        }
        entry.resume();
      }
    } catch (err) {
      stream.unpipe(extract);
      stream.destroy();
      throw describeCorruption(err, 'archive');
    }
    return archive;
  }

  /** The file behind `name` after following symlinks, or undefined. */
  lookup(name: string): ArchiveFile | undefined {
    let key = normalize(name);
    for (let hops = 0; hops < 40; hops++) {
      const node = this.nodes.get(key);
      if (!node) return undefined;
      if (node.kind === 'file') return node.file;
      key = normalize(node.target);
    }
    throw invalid(`invalid archive: too many levels of symlinks at ${JSON.stringify(name)}`);
  }

  has(name: string): boolean {
    return this.lookup(name) !== undefined;
  }

  open(name: string): Readable {
    const f = this.lookup(name);
    if (!f) throw invalid(`invalid archive: ${name} is missing`);
    return createReadStream(f.file);
  }

  async json<T>(name: string): Promise<T> {
    const f = this.lookup(name);
    if (!f) throw invalid(`invalid archive: ${name} is missing`);
    if (f.size > MAX_JSON) throw invalid(`invalid archive: ${name} is too large`);
    const text = await fs.readFile(f.file, 'utf8');
    try {
      return JSON.parse(text) as T;
    } catch {
      throw invalid(`invalid archive: ${name} is not valid JSON`);
    }
  }

  async bytes(name: string): Promise<Buffer> {
    const f = this.lookup(name);
    if (!f) throw invalid(`invalid archive: ${name} is missing`);
    if (f.size > MAX_JSON) throw invalid(`invalid archive: ${name} is too large`);
    return fs.readFile(f.file);
  }
}

/** Archive-internal names: no leading "./" or "/", no "..". */
function normalize(name: string): string {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw invalid(`invalid archive: entry ${JSON.stringify(name)} has a ".." component`);
  return parts.join('/');
}
