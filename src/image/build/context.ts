// The build context as the API receives it: a tar (plain or gzip) of the
// directory, or a bare Dockerfile (`docker build - < Dockerfile`). A tar is
// unpacked with the layer unpacker (it refuses escapes and symlink tricks)
// into a private directory; .dockerignore applies to everything a COPY or
// ADD reads from it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { invalid } from '../../core/errors.ts';
import { decompressed, peek } from '../decompress.ts';
import { unpackLayer } from '../unpack.ts';

// The package is CommonJS with `module.exports = factory` (no default export for TypeScript).
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as typeof import('@balena/dockerignore').default;

export interface BuildContext {
  /** Directory holding the context's files. */
  dir: string;
  dockerfile: string;
  /** True when the path (relative, "/"-separated) is excluded by .dockerignore. */
  ignored(rel: string): boolean;
}

const isTar = (head: Buffer) => head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';

export async function receiveContext(body: Readable, work: string, dockerfileName: string): Promise<BuildContext> {
  const dir = path.join(work, 'context');
  await fs.mkdir(dir, { mode: 0o700 });
  const { stream } = await decompressed(body);
  const { head, stream: rest } = await peek(stream, 512);
  if (!isTar(head)) {
    // Not an archive: the body is the Dockerfile itself and the context is empty.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of rest) {
      size += (c as Buffer).length;
      if (size > 16 << 20) throw invalid('the Dockerfile sent as the build context is too large');
      chunks.push(c as Buffer);
    }
    return { dir, dockerfile: Buffer.concat(chunks).toString('utf8'), ignored: () => false };
  }
  await unpackLayer(rest, dir, { label: 'build context', scratchFile: path.join(work, 'xattrs') });
  const name = (dockerfileName || 'Dockerfile').replace(/^\.?\//, '');
  const rel = path.posix.normalize(name);
  if (rel.startsWith('..') || path.posix.isAbsolute(rel)) throw invalid(`the Dockerfile (${name}) must be within the build context`);
  let dockerfile: string;
  try {
    dockerfile = await fs.readFile(path.join(dir, rel), 'utf8');
  } catch {
    throw invalid(`Cannot locate specified Dockerfile: ${name}`);
  }
  const patterns = await fs.readFile(path.join(dir, '.dockerignore'), 'utf8').catch(() => '');
  const ig = dockerignore().add(
    patterns
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#')),
  );
  return { dir, dockerfile, ignored: (p) => p !== '' && ig.ignores(p) };
}
