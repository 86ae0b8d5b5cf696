// Manifests as registries serve them: Docker schema 2 and OCI image
// manifests, Docker manifest lists and OCI indexes. Parsing checks the shape
// we rely on; digests of the bytes are checked by the caller.
import { invalid } from '../../core/errors.ts';
import { isDigest } from '../digest.ts';

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

/** What we ask registries for, most specific first. */
export const MANIFEST_ACCEPT = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(', ');

const LAYER_TYPES = new Set([DOCKER_LAYER_GZIP, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER, 'application/vnd.docker.image.rootfs.diff.tar']);
const FOREIGN_LAYER = /foreign|nondistributable/;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform & { 'os.version'?: string; 'os.features'?: string[] };
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export type Manifest = ImageManifest | ImageIndex;

export function isIndexType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_LIST;
}

/** Parses manifest bytes; `contentType` is the registry's Content-Type, used when the document names none. */
export function parseManifest(bytes: Buffer, contentType: string, what: string): Manifest {
  let doc: { schemaVersion?: number; mediaType?: string; config?: unknown; layers?: unknown; manifests?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(`${what}: manifest is not valid JSON`);
  }
  if (!doc || typeof doc !== 'object') throw invalid(`${what}: manifest is not a JSON object`);
  if (doc.schemaVersion === 1) throw invalid(`${what}: Docker Image manifest version 2, schema 1 is not supported`);
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : contentType.split(';')[0].trim();
  if (Array.isArray(doc.manifests) || isIndexType(declared)) {
    if (!Array.isArray(doc.manifests)) throw invalid(`${what}: index has no manifests`);
    return { kind: 'index', mediaType: declared || OCI_INDEX, manifests: doc.manifests.map((d) => descriptor(d, what)) };
  }
  if (!doc.config || !Array.isArray(doc.layers)) throw invalid(`${what}: manifest has no config or layers (media type ${declared || 'unknown'})`);
  const config = descriptor(doc.config, what);
  const layers = doc.layers.map((d) => descriptor(d, what));
  for (const l of layers) {
    if (FOREIGN_LAYER.test(l.mediaType)) continue;
    if (!LAYER_TYPES.has(l.mediaType)) throw invalid(`${what}: unsupported layer media type ${l.mediaType}`);
  }
  return { kind: 'manifest', mediaType: declared || OCI_MANIFEST, config, layers };
}

function descriptor(raw: unknown, what: string): Descriptor {
  const d = raw as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object' || !isDigest(d.digest) || typeof d.size !== 'number' || d.size < 0 || !Number.isSafeInteger(d.size)) {
    throw invalid(`${what}: manifest has an invalid descriptor ${JSON.stringify(raw)?.slice(0, 200)}`);
  }
  return { ...d, mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', digest: d.digest, size: d.size } as Descriptor;
}

export function isForeignLayer(d: Descriptor): boolean {
  return FOREIGN_LAYER.test(d.mediaType);
}
