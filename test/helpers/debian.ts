// The Debian-based test image (scripts/build-debian-image.ts: debootstrap
// bookworm minbase from this machine's apt mirror, cached under .test-data
// and built once per set of packages) imported into a test daemon.
//
//   const DEBIAN = await loadDebianImage(d);            // plain minbase
//   const WEB = await loadDebianImage(d, { packages: ['nginx-light'] });
import assert from 'node:assert/strict';
import { buildDebianImage, type DebianImage } from '../../scripts/build-debian-image.ts';
import type { Daemon } from './daemon.ts';

const built = new Map<string, Promise<DebianImage>>();

export interface DebianImageOptions {
  packages?: string[];
  emptyDirs?: string[];
}

/** The cached root filesystem tarball (built on first use; later runs find it). */
export function debianImage(opts: DebianImageOptions = {}): Promise<DebianImage> {
  const id = JSON.stringify([[...(opts.packages ?? [])].sort(), [...(opts.emptyDirs ?? [])].sort()]);
  let p = built.get(id);
  if (!p) {
    p = buildDebianImage(opts);
    built.set(id, p);
  }
  return p;
}

/** `docker import`s the image into the daemon as berth-test/debian:<key> and returns that reference. */
export async function loadDebianImage(d: Daemon, opts: DebianImageOptions = {}): Promise<string> {
  const { archive, key } = await debianImage(opts);
  const ref = `berth-test/debian:${key}`;
  const r = await d.docker(['import', archive, ref], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `docker import ${archive} failed: ${r.stderr}${r.stdout}`);
  return ref;
}
