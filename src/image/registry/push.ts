// Pushing one tag of an image: every layer is skipped when the repository
// has it, mounted from another repository of the same registry that we
// pulled or pushed it from, or compressed (gzip) and uploaded in chunks;
// then the config (one monolithic upload) and the manifest (Docker schema 2,
// or OCI when a layer already lives in the registry with an OCI type).
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { invalid } from '../../core/errors.ts';
import type { ImageRecord } from '../../core/types.ts';
import { writeHashed, type ContentStore } from '../content-store.ts';
import { sha256 } from '../digest.ts';
import {
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  type Descriptor,
} from './manifest.ts';
import type { BlobSource } from './pull.ts';
import { layerProgress, limited, shortDigest, type Progress } from './progress.ts';
import { failure, type RegistryClient } from './registry-client.ts';

const PARALLEL_UPLOADS = 5;
export const DEFAULT_CHUNK = 32 << 20;

export interface PushContext {
  content: ContentStore;
  staging: string;
  /** Known compressed blobs of a diff id (from earlier pulls and pushes). */
  sources: (diffId: string) => Promise<BlobSource[]>;
  remember: (source: BlobSource) => Promise<void>;
  progress: Progress;
  chunkSize: number;
}

export async function pushImage(client: RegistryClient, img: ImageRecord, tag: string, ctx: PushContext): Promise<{ digest: string; size: number }> {
  const diffIds = img.config.rootfs.diff_ids;
  const unique = [...new Set(diffIds)];
  for (const d of unique) ctx.progress({ id: shortDigest(d), status: 'Preparing', progressDetail: {} });
  let n = 0;
  const tasks = unique.map((diffId) => () => pushLayer(client, diffId, ctx, n++));
  const pushed = await limited(tasks, PARALLEL_UPLOADS, (i) => ctx.progress({ id: shortDigest(unique[i]), status: 'Waiting', progressDetail: {} }));
  const byDiff = new Map(unique.map((d, i) => [d, pushed[i]]));
  const layers = diffIds.map((d) => byDiff.get(d)!);

  const configBytes = await ctx.content.read(img.id);
  if (sha256(configBytes) !== img.id) throw invalid(`the config of image ${img.id} is damaged in the store`);
  const oci = layers.some((l) => l.mediaType.startsWith('application/vnd.oci.'));
  const config: Descriptor = { mediaType: oci ? OCI_CONFIG : DOCKER_CONFIG, digest: img.id, size: configBytes.length };
  if (!(await exists(client, img.id))) await uploadBuffer(client, configBytes, img.id);

  const manifest = {
    schemaVersion: 2,
    mediaType: oci ? OCI_MANIFEST : DOCKER_MANIFEST,
    config,
    layers: layers.map((l) => ({ mediaType: oci && l.mediaType === DOCKER_LAYER_GZIP ? OCI_LAYER_GZIP : l.mediaType, digest: l.digest, size: l.size })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const digest = sha256(bytes);
  const res = await client.request('PUT', `/v2/${client.repo}/manifests/${tag}`, { headers: { 'Content-Type': manifest.mediaType }, body: bytes });
  if (res.statusCode !== 201 && res.statusCode !== 200) await failure(res, `manifest for ${tag}`);
  res.resume();
  const stored = res.headers['docker-content-digest'];
  if (typeof stored === 'string' && stored !== digest) throw invalid(`the registry stored the manifest as ${stored}, expected ${digest}`);
  return { digest, size: bytes.length };
}

async function exists(client: RegistryClient, digest: string): Promise<boolean> {
  const res = await client.request('HEAD', `/v2/${client.repo}/blobs/${digest}`, { redirect: true });
  res.resume();
  if (res.statusCode === 200) return true;
  if (res.statusCode === 404) return false;
  return failure(res, `blob ${digest}`);
}

async function pushLayer(client: RegistryClient, diffId: string, ctx: PushContext, n: number): Promise<BlobSource> {
  const id = shortDigest(diffId);
  const known = (await ctx.sources(diffId)).filter((s) => s.domain === client.domain);
  for (const src of known) {
    if (src.repo === client.repo) {
      if (await exists(client, src.digest)) {
        ctx.progress({ id, status: 'Layer already exists', progressDetail: {} });
        return src;
      }
      continue;
    }
    const mounted = await mount(client, src);
    if (mounted) {
      ctx.progress({ id, status: `Mounted from ${src.repo}`, progressDetail: {} });
      const here = { ...src, repo: client.repo };
      await ctx.remember(here);
      return here;
    }
  }
  if (!(await ctx.content.has(diffId))) throw invalid(`layer ${diffId} has no stored content to push`);
  const file = path.join(ctx.staging, `push-${n}.gz`);
  try {
    const { digest, size } = await writeHashed(ctx.content.stream(diffId).pipe(createGzip()), file);
    const src: BlobSource = { diffId, digest, size, mediaType: DOCKER_LAYER_GZIP, domain: client.domain, repo: client.repo };
    if (await exists(client, digest)) {
      ctx.progress({ id, status: 'Layer already exists', progressDetail: {} });
    } else {
      await uploadFile(client, file, digest, size, ctx.chunkSize, layerProgress(ctx.progress, id, 'Pushing', size));
      ctx.progress({ id, status: 'Pushed', progressDetail: {} });
    }
    await ctx.remember(src);
    return src;
  } finally {
    await fs.rm(file, { force: true });
  }
}

/** Cross-repository mount: 201 means the registry linked the blob; 202 means it started an upload instead. */
async function mount(client: RegistryClient, src: BlobSource): Promise<boolean> {
  client.addScope(`repository:${src.repo}:pull`);
  const q = new URLSearchParams({ mount: src.digest, from: src.repo });
  const res = await client.request('POST', `/v2/${client.repo}/blobs/uploads/?${q}`);
  res.resume();
  if (res.statusCode === 201) return true;
  if (res.statusCode === 202 && res.headers.location) {
    const del = await client.request('DELETE', res.headers.location);
    del.resume();
    return false;
  }
  if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 404) return false;
  return failure(res, `mount of ${src.digest}`);
}

async function startUpload(client: RegistryClient): Promise<string> {
  const res = await client.request('POST', `/v2/${client.repo}/blobs/uploads/`);
  res.resume();
  if (res.statusCode !== 202 || !res.headers.location) return failure(res, 'blob upload');
  return res.headers.location;
}

function withDigest(location: string, digest: string): string {
  return location + (location.includes('?') ? '&' : '?') + `digest=${encodeURIComponent(digest)}`;
}

/** Monolithic upload: POST, then PUT with the whole body. */
export async function uploadBuffer(client: RegistryClient, data: Buffer, digest: string): Promise<void> {
  const location = await startUpload(client);
  const res = await client.request('PUT', withDigest(location, digest), { headers: { 'Content-Type': 'application/octet-stream' }, body: data });
  res.resume();
  if (res.statusCode !== 201) await failure(res, `blob ${digest}`);
}

/** Chunked upload: PATCH each chunk with its Content-Range (following the Location the registry hands back), then PUT ?digest=. */
export async function uploadFile(client: RegistryClient, file: string, digest: string, size: number, chunkSize: number, report: (n: number) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      let location = await startUpload(client);
      let sent = 0;
      do {
        const end = Math.min(size, sent + chunkSize);
        let done = sent;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            done += chunk.length;
            report(done);
            cb(null, chunk);
          },
        });
        const body = end > sent ? createReadStream(file, { start: sent, end: end - 1 }).pipe(counter) : Buffer.alloc(0);
        const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(end - sent) };
        if (end > sent) headers['Content-Range'] = `${sent}-${end - 1}`;
        const res = await client.request('PATCH', location, { headers, body });
        res.resume();
        if (res.statusCode !== 202 || !res.headers.location) await failure(res, `blob ${digest}`);
        location = res.headers.location!;
        sent = end;
      } while (sent < size);
      const res = await client.request('PUT', withDigest(location, digest));
      res.resume();
      if (res.statusCode !== 201) await failure(res, `blob ${digest}`);
      return;
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || ('kind' in err && (err as { kind: string }).kind !== 'unavailable')) throw err;
    }
  }
}
