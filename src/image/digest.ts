// sha256 digests and layer chain ids as the OCI image spec defines them.
import { createHash } from 'node:crypto';
import { invalid } from '../core/errors.ts';

const DIGEST = /^sha256:([a-f0-9]{64})$/;

export function sha256(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}

/** The 64 hex digits of a "sha256:<hex>" digest; invalid error for anything else. */
export function hexOf(digest: string, what = 'digest'): string {
  const m = DIGEST.exec(digest);
  if (!m) throw invalid(`invalid ${what}: ${JSON.stringify(digest)}`);
  return m[1];
}

/** Chain ids: chain[0] = diff[0]; chain[n] = sha256(chain[n-1] + " " + diff[n]). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const diff of diffIds) {
    out.push(out.length === 0 ? diff : sha256(`${out[out.length - 1]} ${diff}`));
  }
  return out;
}
