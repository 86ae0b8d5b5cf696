// Pulling one image: resolve the reference to a manifest (choosing the
// platform's entry of an index), fetch and verify the config, download the
// layers that are not present yet (in parallel, resuming with Range or
// retrying a broken download) and decompress and unpack each one into the
// staging directory as it arrives, checking the blob's size and digest and
// the tar's diff id on the way. The result is a LoadPlan for the image store
// to commit; nothing in the store changes here, so a blob that fails a check
// leaves nothing behind.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, invalid, isKind, notFound } from '../../core/errors.ts';
import { familiarName, familiarString, type Reference } from '../../core/reference.ts';
import type { ImageConfig } from '../../core/types.ts';
import { writeHashed, type ContentStore } from '../content-store.ts';
import { decompressed, describeCorruption } from '../decompress.ts';
import { chainIds, isDigest, sha256 } from '../digest.ts';
import type { LayerStore, StagedLayer } from '../layer-store.ts';
import type { ImageToLoad, LoadPlan } from '../load.ts';
import { isForeignLayer, MANIFEST_ACCEPT, parseManifest, type Descriptor, type ImageManifest, type Platform } from './manifest.ts';
import { selectManifest } from './platform.ts';
import { layerProgress, limited, shortDigest, type Progress } from './progress.ts';
import { failure, readBody, type RegistryClient } from './registry-client.ts';

export const MAX_MANIFEST = 4 << 20;
const PARALLEL_DOWNLOADS = 3;
const ATTEMPTS = 5;

export interface PullContext {
  content: ContentStore;
  layers: LayerStore;
  staging: string;
  pin: (digest: string) => void;
  progress: Progress;
}

/** Where a layer's compressed blob came from: lets a later push skip or mount it. */
export interface BlobSource {
  diffId: string;
  digest: string;
  mediaType: string;
  size: number;
  domain: string;
  repo: string;
}

export interface PulledImage {
  plan: LoadPlan;
  image: ImageToLoad;
  sources: BlobSource[];
  /** Digest of what the reference named (the index for multi-platform images). */
  digest: string;
  /** Every layer was present already. */
  upToDate: boolean;
}

/** GET a manifest by tag or digest; verifies the bytes against the digest asked for or announced. */
export async function fetchManifest(client: RegistryClient, reference: string, what: string) {
  const res = await client.request('GET', `/v2/${client.repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
  if (res.statusCode === 404) {
    await failure(res, what).catch((err: BerthError) => {
      throw notFound(`manifest for ${what} not found: ${err.message.slice(what.length + 2)}`);
    });
  }
  if (res.statusCode !== 200) await failure(res, what);
  const bytes = await readBody(res, MAX_MANIFEST);
  const digest = sha256(bytes);
  const announced = res.headers['docker-content-digest'];
  if (isDigest(reference) && reference !== digest) throw invalid(`manifest verification failed for digest ${reference}`);
  if (typeof announced === 'string' && announced.startsWith('sha256:') && announced !== digest) {
    throw invalid(`manifest verification failed for digest ${announced}`);
  }
  return { bytes, digest, manifest: parseManifest(bytes, String(res.headers['content-type'] ?? ''), what) };
}

export async function pullImage(
  client: RegistryClient,
  ref: Reference,
  platform: Platform,
  ctx: PullContext,
): Promise<PulledImage> {
  const what = familiarString(ref);
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const top = await fetchManifest(client, reference, what);
  // Only now: an error before the first message becomes the HTTP status (missing image, denied access).
  ctx.progress({ id: reference, status: `Pulling from ${ref.path}` });
  let manifest: ImageManifest;
  if (top.manifest.kind === 'index') {
    const chosen = selectManifest(top.manifest.manifests, platform);
    const inner = await fetchManifest(client, chosen.digest, what);
    if (inner.manifest.kind !== 'manifest') throw invalid(`${what}: nested indexes are not supported`);
    manifest = inner.manifest;
  } else {
    manifest = top.manifest;
  }

  const configBytes = await fetchSmallBlob(client, manifest.config, `config of ${what}`);
  const config = parseConfig(configBytes, what);
  const layerDescs = manifest.layers;
  if (layerDescs.some(isForeignLayer)) throw invalid(`${what}: foreign (non-distributable) layers are not supported`);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layerDescs.length) {
    throw invalid(`${what}: the manifest lists ${layerDescs.length} layers but the image config has ${diffIds.length} diff_ids`);
  }

  const id = sha256(configBytes);
  const chains = chainIds(diffIds);
  const layerMeta = (i: number) => ({ chainId: chains[i], diffId: diffIds[i], parent: i === 0 ? '' : chains[i - 1] });
  const image: ImageToLoad = { id, configBytes, config, tags: [], digests: [`${familiarName(ref)}@${top.digest}`] };
  if (ref.tag || !ref.digest) image.tags.push(familiarString({ ...ref, digest: undefined, tag: ref.tag ?? 'latest' }));
  const plan: LoadPlan = { images: [image], blobs: [], layers: [] };
  const sources: BlobSource[] = layerDescs.map((d, i) => ({
    diffId: diffIds[i],
    digest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    domain: ref.domain,
    repo: ref.path,
  }));

  await fs.mkdir(path.join(ctx.staging, 'blobs'), { recursive: true });
  await fs.mkdir(path.join(ctx.staging, 'layers'), { recursive: true });
  const cfgFile = path.join(ctx.staging, 'blobs', 'config');
  await fs.writeFile(cfgFile, configBytes, { mode: 0o600 });
  if (!(await ctx.content.has(id))) plan.blobs.push({ file: cfgFile, digest: id });

  // Which layers are missing; a blob listed twice is fetched once.
  const wanted = new Map<string, { desc: Descriptor; layers: number[] }>();
  let upToDate = true;
  for (let i = 0; i < layerDescs.length; i++) {
    if (await ctx.layers.has(chains[i])) {
      ctx.pin(chains[i]);
      ctx.progress({ id: shortDigest(layerDescs[i].digest), status: 'Already exists', progressDetail: {} });
      continue;
    }
    upToDate = false;
    const entry = wanted.get(layerDescs[i].digest) ?? { desc: layerDescs[i], layers: [] };
    entry.layers.push(i);
    wanted.set(layerDescs[i].digest, entry);
  }
  const jobs = [...wanted.values()];
  for (const j of jobs) ctx.progress({ id: shortDigest(j.desc.digest), status: 'Pulling fs layer', progressDetail: {} });
  const tasks = jobs.map((job) => async () => {
    const idShort = shortDigest(job.desc.digest);
    const [first, ...more] = job.layers;
    const staged = await fetchLayer(client, job.desc, diffIds[first], layerMeta(first), ctx, first, idShort);
    plan.layers.push(staged.layer);
    if (!plan.blobs.some((b) => b.digest === diffIds[first])) plan.blobs.push({ file: staged.blob, digest: diffIds[first] });
    // The same blob listed again (empty layers, typically): unpack the verified tar once more.
    for (const i of more) {
      if (diffIds[i] !== diffIds[first]) throw invalid(`${what}: the image config gives one blob the diff ids ${diffIds[first]} and ${diffIds[i]}`);
      const again = await ctx.layers.stage(path.join(ctx.staging, 'layers'), layerMeta(i), createReadStream(staged.blob));
      plan.layers.push(again);
    }
    ctx.progress({ id: idShort, status: 'Pull complete', progressDetail: {} });
  });
  await limited(tasks, PARALLEL_DOWNLOADS, (i) => ctx.progress({ id: shortDigest(jobs[i].desc.digest), status: 'Waiting', progressDetail: {} }));
  return { plan, image, sources, digest: top.digest, upToDate };
}

async function fetchSmallBlob(client: RegistryClient, desc: Descriptor, what: string): Promise<Buffer> {
  if (desc.size > MAX_MANIFEST) throw invalid(`${what} is too large (${desc.size} bytes)`);
  const res = await client.request('GET', `/v2/${client.repo}/blobs/${desc.digest}`, { redirect: true });
  if (res.statusCode !== 200) await failure(res, what);
  const bytes = await readBody(res, MAX_MANIFEST);
  if (bytes.length !== desc.size || sha256(bytes) !== desc.digest) throw invalid(`${what}: blob verification failed for digest ${desc.digest}`);
  return bytes;
}

function parseConfig(bytes: Buffer, what: string): ImageConfig {
  let config: ImageConfig;
  try {
    config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch {
    throw invalid(`${what}: the image config is not valid JSON`);
  }
  if (!config?.rootfs || !Array.isArray(config.rootfs.diff_ids) || !config.rootfs.diff_ids.every(isDigest)) {
    throw invalid(`${what}: the image config has no valid rootfs.diff_ids`);
  }
  return config;
}

const RETRIABLE = /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|ECONNABORTED|aborted|socket hang up|premature/i;

function retriable(err: unknown): boolean {
  if (err instanceof BerthError) return err.kind === 'unavailable';
  const e = err as NodeJS.ErrnoException;
  return RETRIABLE.test(`${e?.code ?? ''} ${e?.message ?? ''}`);
}

/**
 * Streams a blob into `sink` while checking its size and digest; ends the
 * sink only when both are right, and destroys it with the error otherwise, so
 * whatever the sink made of the bytes must stay staged until this resolves. A
 * broken transfer resumes where it stopped when the registry honours Range
 * (and skips what it already has when the registry sends everything again);
 * after ATTEMPTS failures the error stands. When the sink fails first
 * (corrupt gzip, say), the rest is still read so that a blob that is not what
 * the manifest says is reported as that, not as whatever it broke downstream.
 */
export async function download(client: RegistryClient, desc: Descriptor, sink: Writable, report: (current: number) => void): Promise<void> {
  const hash = createHash('sha256');
  let received = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const headers: Record<string, string> = received > 0 ? { Range: `bytes=${received}-` } : {};
        const res = await client.request('GET', `/v2/${client.repo}/blobs/${desc.digest}`, { headers, redirect: true });
        if (res.statusCode !== 200 && res.statusCode !== 206) await failure(res, `blob ${desc.digest}`);
        let skip = res.statusCode === 200 ? received : received - rangeStart(res.headers['content-range'], received);
        if (skip < 0) throw invalid(`blob ${desc.digest}: the registry answered a range that starts after byte ${received}`);
        for await (const chunk of res) {
          let c = chunk as Buffer;
          if (skip > 0) {
            const n = Math.min(skip, c.length);
            skip -= n;
            c = c.subarray(n);
            if (c.length === 0) continue;
          }
          received += c.length;
          if (received > desc.size) throw invalid(`filesystem layer verification failed for digest ${desc.digest}: more than the ${desc.size} bytes announced`);
          hash.update(c);
          if (!sink.destroyed && !sink.write(c)) await drainedOrGone(sink);
          report(received);
        }
        if (received < desc.size) throw Object.assign(new Error('premature end of blob'), { code: 'ECONNRESET' });
        break;
      } catch (err) {
        if (!retriable(err) || attempt >= ATTEMPTS) throw err;
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
    if (`sha256:${hash.digest('hex')}` !== desc.digest) throw invalid(`filesystem layer verification failed for digest ${desc.digest}`);
  } catch (err) {
    sink.destroy(err as Error);
    throw err;
  }
  if (!sink.destroyed) sink.end();
}

/** The first byte of a 206 answer ("bytes 100-199/200"); what was asked for when the header is missing or odd. */
function rangeStart(header: string | undefined, asked: number): number {
  const m = /^bytes (\d+)-/.exec(header ?? '');
  return m ? Number(m[1]) : asked;
}

/** Resolves when `w` wants more or is gone (a failed consumer must not stall the download). */
function drainedOrGone(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}

/** Buffers between the stages of a layer's pipeline: enough that socket, gunzip and disk rarely wait for each other. */
const PIPE_BUFFER = 1 << 20;

/**
 * One layer in one pass: the download (size and digest checked) is
 * decompressed as it arrives, and the tar both unpacked into the staging
 * directory and kept as the uncompressed blob, whose digest must be the
 * layer's diff id. Nothing is staged for the store unless all of it holds.
 */
async function fetchLayer(
  client: RegistryClient,
  desc: Descriptor,
  diffId: string,
  meta: { chainId: string; diffId: string; parent: string },
  ctx: PullContext,
  index: number,
  idShort: string,
): Promise<{ layer: StagedLayer; blob: string }> {
  const blob = path.join(ctx.staging, 'blobs', `layer-${index}`);
  const compressed = new PassThrough({ highWaterMark: PIPE_BUFFER });
  // Its errors reach extract through the decompression pipeline; this one only keeps a late one from going unhandled.
  compressed.on('error', () => undefined);
  const fetched = download(client, desc, compressed, layerProgress(ctx.progress, idShort, 'Downloading', desc.size)).then(() => {
    ctx.progress({ id: idShort, status: 'Verifying Checksum', progressDetail: {} });
    ctx.progress({ id: idShort, status: 'Download complete', progressDetail: {} });
    ctx.progress({ id: idShort, status: 'Extracting', progressDetail: { current: desc.size, total: desc.size } });
  });
  // Once extraction is over, bytes still arriving (after the end of a gzip stream) are dropped, never left to stall the download.
  const made = extract(compressed, diffId, meta, ctx, blob).finally(() => compressed.resume());
  const [got, result] = await Promise.allSettled([fetched, made]);
  // The download's verdict comes first: a blob with the wrong digest says so, whatever broke downstream.
  if (got.status === 'rejected') {
    await made.catch(() => undefined);
    throw got.reason;
  }
  if (result.status === 'rejected') throw result.reason;
  return { layer: result.value, blob };
}

/** Decompresses the tar once, writing the uncompressed blob (checked against the diff id) and unpacking it together. */
async function extract(
  compressed: PassThrough,
  diffId: string,
  meta: { chainId: string; diffId: string; parent: string },
  ctx: PullContext,
  blob: string,
): Promise<StagedLayer> {
  let stream: Readable | undefined;
  const toBlob = new PassThrough({ highWaterMark: PIPE_BUFFER });
  const toUnpack = new PassThrough({ highWaterMark: PIPE_BUFFER });
  // A failure can arrive before the writer and the unpacker listen (the unpacker makes its directory first):
  // they learn of it from the destroyed stream, and the error must not go unhandled meanwhile.
  for (const s of [toBlob, toUnpack]) s.on('error', () => undefined);
  try {
    stream = (await decompressed(compressed)).stream;
    stream.pipe(toBlob);
    stream.pipe(toUnpack);
    stream.on('error', (err) => {
      toBlob.destroy(err);
      toUnpack.destroy(err);
    });
    const [written, layer] = await Promise.all([
      writeHashed(toBlob, blob),
      // The unpacker may stop at the end-of-archive marker: drain the rest so the tee never stalls.
      ctx.layers.stage(path.join(ctx.staging, 'layers'), meta, toUnpack).finally(() => toUnpack.resume()),
    ]);
    if (written.digest !== diffId) throw invalid(`layer ${shortDigest(meta.chainId)}: its content has diff id ${written.digest}, but the image config expects ${diffId}`);
    return layer;
  } catch (err) {
    stream?.destroy();
    compressed.destroy();
    toBlob.destroy();
    toUnpack.destroy();
    if (isKind(err, 'invalid')) throw err;
    throw describeCorruption(err, `layer ${diffId}`);
  }
}
