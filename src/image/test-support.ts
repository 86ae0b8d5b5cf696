// Helpers for the image tests: tarballs built in memory with tar-stream, and
// an image store over a real SQLite store in a unique temporary directory.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import tar from 'tar-stream';
import type { ImageUsage } from '../agent/agent-api.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { ImageStore } from './image-store.ts';

export interface TarEntry {
  name: string;
  type?: tar.Headers['type'];
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: Buffer) => chunks.push(c));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date('2024-01-02T03:04:05Z'),
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
      pax: e.pax,
    } as tar.Headers;
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: unknown) => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry(header, e.data ?? '', cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface TestImage {
  tags?: string[];
  layers: Buffer[]; // uncompressed layer tars
  /** How each layer is written into the archive. */
  compress?: 'gzip' | 'zstd' | 'none';
  config?: Record<string, unknown>;
  history?: unknown[];
}

export function imageConfig(img: TestImage): { bytes: Buffer; id: string } {
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-02T03:04:05Z',
    config: { Cmd: ['/bin/sh'], ...img.config },
    rootfs: { type: 'layers', diff_ids: img.layers.map((l) => sha(l)) },
    history: img.history ?? img.layers.map((_, i) => ({ created: '2024-01-02T03:04:05Z', created_by: `step ${i}` })),
  };
  const bytes = Buffer.from(JSON.stringify(config));
  return { bytes, id: sha(bytes) };
}

function compressLayer(layer: Buffer, how: TestImage['compress']): Buffer {
  if (how === 'gzip') return gzipSync(layer);
  if (how === 'zstd') return zstdCompressSync(layer);
  return layer;
}

/** A docker-archive: "legacy" (<id>/layer.tar, <id>.json) or "blobs" (Docker 25 layout). */
export async function dockerArchive(images: TestImage[], layout: 'legacy' | 'blobs' = 'legacy'): Promise<Buffer> {
  const entries: TarEntry[] = [];
  const manifest: unknown[] = [];
  const seen = new Set<string>();
  for (const img of images) {
    const { bytes, id } = imageConfig(img);
    const hex = id.slice(7);
    const configName = layout === 'legacy' ? `${hex}.json` : `blobs/sha256/${hex}`;
    if (!seen.has(configName)) entries.push({ name: configName, data: bytes });
    seen.add(configName);
    const layers: string[] = [];
    for (const layer of img.layers) {
      const data = compressLayer(layer, img.compress);
      const name = layout === 'legacy' ? `${sha(layer).slice(7, 71)}/layer.tar` : `blobs/sha256/${sha(data).slice(7)}`;
      if (!seen.has(name)) entries.push({ name, data });
      seen.add(name);
      layers.push(name);
    }
    manifest.push({ Config: configName, RepoTags: img.tags ?? null, Layers: layers });
  }
  entries.push({ name: 'manifest.json', data: JSON.stringify(manifest) });
  return makeTar(entries);
}

/** An OCI image layout; `nested` wraps each manifest in an index for two platforms. */
export async function ociLayout(images: TestImage[], opts: { nested?: boolean; refName?: 'containerd' | 'oci' } = {}): Promise<Buffer> {
  const entries: TarEntry[] = [{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }];
  const blobs = new Map<string, Buffer>();
  const blob = (data: Buffer) => {
    const d = sha(data);
    blobs.set(d, data);
    return { digest: d, size: data.length };
  };
  const manifests: unknown[] = [];
  for (const img of images) {
    const { bytes } = imageConfig(img);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(bytes) },
        layers: img.layers.map((l) => ({
          mediaType: `application/vnd.oci.image.layer.v1.tar${img.compress === 'gzip' ? '+gzip' : img.compress === 'zstd' ? '+zstd' : ''}`,
          ...blob(compressLayer(l, img.compress)),
        })),
      }),
    );
    let top = { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...blob(manifest) };
    if (opts.nested) {
      const other = { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...blob(Buffer.from('{"bogus":true}')), platform: { os: 'linux', architecture: 's390x' } };
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [other, { ...top, platform: { os: 'linux', architecture: 'amd64' } }],
        }),
      );
      top = { mediaType: 'application/vnd.oci.image.index.v1+json', ...blob(index) };
    }
    for (const tag of img.tags ?? [null]) {
      const annotations: Record<string, string> = {};
      if (tag && opts.refName !== 'oci') annotations['io.containerd.image.name'] = `docker.io/library/${tag}`;
      if (tag && opts.refName === 'oci') annotations['org.opencontainers.image.ref.name'] = tag;
      manifests.push(tag ? { ...top, annotations } : top);
    }
  }
  for (const [d, data] of blobs) entries.push({ name: `blobs/sha256/${d.slice(7)}`, data });
  entries.push({ name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests }) });
  return makeTar(entries);
}

export interface TestEnv {
  base: string;
  root: string;
  store: SqliteStore;
  images: ImageStore;
  cleanup(): Promise<void>;
}

export async function newEnv(): Promise<TestEnv> {
  const base = mkdtempSync(path.join(os.tmpdir(), 'berth-image-test-'));
  const store = new SqliteStore(path.join(base, 'state.db'));
  const root = path.join(base, 'image');
  const images = new ImageStore({ root, store });
  await images.list(); // finishes the store's initialisation
  return {
    base,
    root,
    store,
    images,
    async cleanup() {
      await images.settled();
      // Unmount anything a failed test left under this directory, deepest first.
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((m) => m && m.startsWith(base))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) {
        try {
          execFileSync('umount', ['-l', m], { stdio: 'ignore' });
        } catch {
          // gone meanwhile (a parent's lazy unmount takes its children along)
        }
      }
      await store.close();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export const noUsage: ImageUsage = () => undefined;

export function streamOf(buf: Buffer): Readable {
  return Readable.from([buf]);
}

export async function load(env: TestEnv, archive: Buffer): Promise<{ names: string[]; messages: string[] }> {
  const messages: string[] = [];
  const names = await env.images.load(streamOf(archive), (m) => messages.push(m));
  return { names, messages };
}

export function collect(): { stream: Writable; result: () => Buffer } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { stream, result: () => Buffer.concat(chunks) };
}

/** Everything under `dir`, as relative paths (for "nothing left behind" checks). */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) walk(path.join(d, e.name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}

export function getfattr(file: string, name: string): string | undefined {
  try {
    return execFileSync('getfattr', ['-h', '--only-values', '-n', name, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}
