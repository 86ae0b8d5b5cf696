// `docker load`: reads a docker-archive (manifest.json, legacy "<id>/layer.tar"
// or "blobs/sha256/..." layouts) or an OCI image layout (index.json, possibly
// nested indexes) and stages everything it needs: config blobs, uncompressed
// layer blobs verified against the config's diff_ids, and unpacked layers.
// Nothing in the store changes here; the image store commits the plan.
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { invalid } from '../core/errors.ts';
import { normalizeTagged } from '../core/reference.ts';
import type { ImageConfig } from '../core/types.ts';
import type { Archive } from './archive-reader.ts';
import type { ContentStore } from './content-store.ts';
import { writeHashed } from './content-store.ts';
import { decompressed, describeCorruption } from './decompress.ts';
import { chainIds, isDigest, sha256 } from './digest.ts';
import type { LayerStore, StagedLayer } from './layer-store.ts';

export interface ImageToLoad {
  id: string;
  configBytes: Buffer;
  config: ImageConfig;
  /** Familiar "name:tag" references. */
  tags: string[];
  /** Parent image id named by the archive, if any. */
  parent?: string;
  /** Familiar "name@sha256:..." references (pulled images). */
  digests?: string[];
}

export interface LoadPlan {
  images: ImageToLoad[];
  /** Staged files to move into the content store: config blobs and layer blobs. */
  blobs: { file: string; digest: string }[];
  layers: StagedLayer[];
}

export interface LoadContext {
  content: ContentStore;
  layers: LayerStore;
  /** An empty scratch directory for this load. */
  staging: string;
  /** Protects an existing layer from garbage collection until the load is committed. */
  pin: (chainId: string) => void;
}

interface LayerSource {
  /** Path inside the archive. */
  name: string;
  /** Digest of the (possibly compressed) blob when the archive states it (OCI). */
  digest?: string;
}

interface Candidate {
  configName: string;
  configDigest?: string;
  layers: LayerSource[];
  tags: string[];
  parent?: string;
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);
const FOREIGN_LAYER = /nondistributable|foreign/;

export async function planLoad(archive: Archive, ctx: LoadContext): Promise<LoadPlan> {
  let candidates: Candidate[];
  if (archive.has('manifest.json')) candidates = await dockerArchiveCandidates(archive);
  else if (archive.has('index.json')) candidates = await ociCandidates(archive);
  else throw invalid('invalid archive: neither manifest.json nor index.json found (not a docker-archive or OCI layout)');
  if (candidates.length === 0) throw invalid('invalid archive: it contains no images');

  await fs.mkdir(path.join(ctx.staging, 'blobs'), { recursive: true });
  await fs.mkdir(path.join(ctx.staging, 'layers'), { recursive: true });
  const plan: LoadPlan = { images: [], blobs: [], layers: [] };
  const stagedBlobs = new Map<string, string>(); // digest -> staged file
  const stagedChains = new Set<string>();
  // Layers unpack side by side (each into its own staging directory): the
  // writes of one overlap the tar parsing of another. A few at a time, so
  // that an image of a hundred layers does not open them all at once.
  const unpacking: Promise<StagedLayer>[] = [];
  const gate = new Gate(UNPACKS_AT_ONCE);
  let n = 0;

  const stageBytes = async (digest: string, data: Buffer) => {
    if (stagedBlobs.has(digest) || (await ctx.content.has(digest))) return;
    const file = path.join(ctx.staging, 'blobs', `b${n++}`);
    await fs.writeFile(file, data, { mode: 0o600 });
    stagedBlobs.set(digest, file);
    plan.blobs.push({ file, digest });
  };

  const byId = new Map<string, ImageToLoad>();
  try {
    for (const c of candidates) {
      const configBytes = await archive.bytes(c.configName);
      const id = sha256(configBytes);
      if (c.configDigest && c.configDigest !== id) {
        throw invalid(`invalid archive: config ${c.configName} does not match its digest ${c.configDigest}`);
      }
      const config = parseConfig(configBytes, c.configName);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== c.layers.length) {
        throw invalid(
          `invalid archive: image ${id} lists ${c.layers.length} layers but its config has ${diffIds.length} diff_ids`,
        );
      }
      const chains = chainIds(diffIds);
      for (let i = 0; i < diffIds.length; i++) {
        const chainId = chains[i];
        if (stagedChains.has(chainId)) continue;
        if (await ctx.layers.has(chainId)) {
          ctx.pin(chainId);
          continue;
        }
        const diffId = diffIds[i];
        let blobFile = stagedBlobs.get(diffId);
        if (!blobFile && (await ctx.content.has(diffId))) blobFile = ctx.content.path(diffId);
        if (!blobFile) blobFile = await stageLayerBlob(archive, c.layers[i], diffId, ctx, n++);
        if (!stagedBlobs.has(diffId) && blobFile.startsWith(ctx.staging)) {
          stagedBlobs.set(diffId, blobFile);
          plan.blobs.push({ file: blobFile, digest: diffId });
        }
        const file = blobFile;
        const staged = gate.run(() => ctx.layers.stage(path.join(ctx.staging, 'layers'), { chainId, diffId, parent: i === 0 ? '' : chains[i - 1] }, createReadStream(file)));
        staged.catch(() => undefined); // reported below, once all have ended
        unpacking.push(staged);
        stagedChains.add(chainId);
      }
      await stageBytes(id, configBytes);
      const existing = byId.get(id);
      if (existing) {
        for (const t of c.tags) if (!existing.tags.includes(t)) existing.tags.push(t);
      } else {
        const image: ImageToLoad = { id, configBytes, config, tags: [...new Set(c.tags)], parent: c.parent };
        byId.set(id, image);
        plan.images.push(image);
      }
    }
  } catch (err) {
    await Promise.allSettled(unpacking); // none still writes into the staging directory the caller removes
    throw err;
  }
  // Every unpack has ended before an error is reported: the caller then removes the staging directory.
  const unpacked = await Promise.allSettled(unpacking);
  const failed = unpacked.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  for (const r of unpacked) if (r.status === 'fulfilled') plan.layers.push(r.value);
  // A tag named twice in one archive ends on the last image that names it.
  const owner = new Map<string, ImageToLoad>();
  for (const img of plan.images) for (const t of img.tags) owner.set(t, img);
  for (const img of plan.images) img.tags = img.tags.filter((t) => owner.get(t) === img);
  return plan;
}

const UNPACKS_AT_ONCE = 4;

/** Runs at most `size` of the functions given to run() at a time, the others in the order given. */
export class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly size: number;

  constructor(size: number) {
    this.size = size;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running < this.size) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // a finishing run hands its slot over
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/** Decompresses one layer of the archive into a staged blob and checks it against its diff id. */
async function stageLayerBlob(archive: Archive, src: LayerSource, diffId: string, ctx: LoadContext, n: number): Promise<string> {
  const f = archive.lookup(src.name);
  if (!f) throw invalid(`invalid archive: layer ${src.name} is missing`);
  if (src.digest && src.digest !== f.digest) {
    throw invalid(`invalid archive: layer blob ${src.name} does not match its digest ${src.digest}`);
  }
  // An uncompressed layer (what `docker save` writes) already is the blob,
  // hashed as the archive was read: no second copy.
  if (f.digest === diffId) return f.file;
  const file = path.join(ctx.staging, 'blobs', `l${n}`);
  let result: { digest: string };
  try {
    const { stream } = await decompressed(archive.open(src.name));
    result = await writeHashed(stream, file);
  } catch (err) {
    throw describeCorruption(err, `layer ${src.name}`);
  }
  if (result.digest !== diffId) {
    throw invalid(`invalid archive: layer ${src.name} has diff id ${result.digest}, but the image config expects ${diffId}`);
  }
  return file;
}

function parseConfig(bytes: Buffer, name: string): ImageConfig {
  let config: ImageConfig;
  try {
    config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch {
    throw invalid(`invalid archive: image config ${name} is not valid JSON`);
  }
  if (!config || typeof config !== 'object' || !config.rootfs || !Array.isArray(config.rootfs.diff_ids)) {
    throw invalid(`invalid archive: image config ${name} has no rootfs.diff_ids`);
  }
  for (const d of config.rootfs.diff_ids) {
    if (!isDigest(d)) throw invalid(`invalid archive: image config ${name} has an invalid diff id ${JSON.stringify(d)}`);
  }
  return config;
}

interface DockerManifestEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
  Parent?: unknown;
}

async function dockerArchiveCandidates(archive: Archive): Promise<Candidate[]> {
  const manifest = await archive.json<DockerManifestEntry[]>('manifest.json');
  if (!Array.isArray(manifest)) throw invalid('invalid archive: manifest.json is not a list');
  return manifest.map((entry, i) => {
    if (typeof entry?.Config !== 'string') throw invalid(`invalid archive: manifest.json entry ${i} has no Config`);
    const layers = entry.Layers ?? [];
    if (!Array.isArray(layers) || layers.some((l) => typeof l !== 'string')) {
      throw invalid(`invalid archive: manifest.json entry ${i} has invalid Layers`);
    }
    const repoTags = entry.RepoTags ?? [];
    if (!Array.isArray(repoTags) || repoTags.some((t) => typeof t !== 'string')) {
      throw invalid(`invalid archive: manifest.json entry ${i} has invalid RepoTags`);
    }
    const tags = (repoTags as string[]).map((t) => normalizeTagged(t));
    const parent = typeof entry.Parent === 'string' && isDigest(entry.Parent) ? entry.Parent : undefined;
    return { configName: entry.Config, layers: (layers as string[]).map((name) => ({ name })), tags, parent };
  });
}

interface Descriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

const HOST_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

async function ociCandidates(archive: Archive): Promise<Candidate[]> {
  const index = await archive.json<{ manifests?: Descriptor[] }>('index.json');
  if (!index || !Array.isArray(index.manifests)) throw invalid('invalid archive: index.json has no manifests');
  const out: Candidate[] = [];
  for (const desc of index.manifests) {
    const tags = namesOf(desc.annotations);
    await collect(archive, desc, tags, out, 0);
  }
  return out;
}

function namesOf(annotations: Record<string, string> | undefined): string[] {
  if (!annotations) return [];
  const full = annotations['io.containerd.image.name'];
  const ref = annotations['org.opencontainers.image.ref.name'];
  for (const name of [full, ref]) {
    // A bare "latest" in ref.name is a tag without a repository: nothing to name the image by.
    if (!name || !/[:/@]/.test(name)) continue;
    try {
      return [normalizeTagged(name)];
    } catch {
      continue;
    }
  }
  return [];
}

async function blobName(archive: Archive, desc: Descriptor): Promise<string> {
  if (!isDigest(desc.digest)) throw invalid(`invalid archive: descriptor with invalid digest ${JSON.stringify(desc.digest)}`);
  const name = `blobs/sha256/${desc.digest.slice(7)}`;
  const f = archive.lookup(name);
  if (!f) throw invalid(`invalid archive: blob ${desc.digest} is missing`);
  if (f.digest !== desc.digest) throw invalid(`invalid archive: blob ${desc.digest} does not match its digest`);
  return name;
}

async function collect(archive: Archive, desc: Descriptor, tags: string[], out: Candidate[], depth: number): Promise<void> {
  if (depth > 4) throw invalid('invalid archive: indexes nested too deeply');
  const name = await blobName(archive, desc);
  const doc = await archive.json<{ mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] }>(name);
  const isIndex = INDEX_TYPES.has(desc.mediaType ?? '') || INDEX_TYPES.has(doc.mediaType ?? '') || Array.isArray(doc.manifests);
  if (isIndex) {
    const manifests = (doc.manifests ?? []).filter((m) => !m.mediaType || MANIFEST_TYPES.has(m.mediaType) || INDEX_TYPES.has(m.mediaType));
    const arch = HOST_ARCH[process.arch] ?? process.arch;
    const matching = manifests.filter((m) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === arch));
    const chosen = matching[0] ?? (manifests.length === 1 ? manifests[0] : undefined);
    if (!chosen) throw invalid(`invalid archive: no image for linux/${arch} in index ${desc.digest}`);
    await collect(archive, chosen, tags, out, depth + 1);
    return;
  }
  if (!doc.config || !Array.isArray(doc.layers)) throw invalid(`invalid archive: manifest ${desc.digest} has no config or layers`);
  const configName = await blobName(archive, doc.config);
  const layers: LayerSource[] = [];
  for (const l of doc.layers) {
    if (l.mediaType && FOREIGN_LAYER.test(l.mediaType)) {
      throw invalid(`invalid archive: foreign layer ${l.digest} is not included in the archive`);
    }
    layers.push({ name: await blobName(archive, l), digest: l.digest });
  }
  out.push({ configName, configDigest: doc.config.digest, layers, tags });
}
