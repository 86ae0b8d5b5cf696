// `docker save`: a docker-archive that Docker Engine 20.10+ loads
// (manifest.json + repositories), laid out as an OCI image layout the way
// Docker 25+ writes it (oci-layout, index.json, blobs/sha256/<hex> holding
// configs, OCI manifests and uncompressed layer tars).
import type { Readable, Writable } from 'node:stream';
import tar from 'tar-stream';
import { internal } from '../core/errors.ts';
import { familiarName, parseReference } from '../core/reference.ts';
import type { ImageRecord } from '../core/types.ts';
import type { ContentStore } from './content-store.ts';
import { hexOf, sha256 } from './digest.ts';

export interface SaveItem {
  record: ImageRecord;
  /** Familiar "name:tag" references to write for this image (may be empty). */
  tags: string[];
}

const MTIME = new Date(0);
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export async function writeDockerArchive(out: Writable, items: SaveItem[], content: ContentStore): Promise<void> {
  const pack = tar.pack();
  const finished = new Promise<void>((resolve, reject) => {
    out.once('finish', () => resolve());
    out.once('error', reject);
    pack.on('error', reject);
  });
  finished.catch(() => undefined); // awaited at the end; a rejection before then must not count as unhandled
  // A client that leaves early closes `out` before it finishes: the pack is
  // destroyed, which fails the entry being written and ends the walk.
  out.once('close', () => {
    if (!out.writableFinished) pack.destroy(new Error('the client went away during the save'));
  });
  pack.pipe(out);

  const addBytes = (name: string, data: Buffer) =>
    new Promise<void>((resolve, reject) =>
      pack.entry({ name, mtime: MTIME, mode: 0o644 }, data, (err) => (err ? reject(err) : resolve())),
    );
  const addStream = (name: string, size: number, src: Readable) =>
    new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name, size, mtime: MTIME, mode: 0o644 }, (err) => (err ? reject(err) : resolve()));
      // pipe() forwards no errors: the entry fails when the pack does (a client gone), and then the blob is closed.
      entry.on('error', (err: Error) => {
        src.destroy();
        reject(err);
      });
      src.once('error', reject);
      src.pipe(entry as unknown as NodeJS.WritableStream);
    });
  const addDir = (name: string) =>
    new Promise<void>((resolve, reject) =>
      pack.entry({ name, type: 'directory', mtime: MTIME, mode: 0o755 }, (err) => (err ? reject(err) : resolve())),
    );

  try {
    await addDir('blobs');
    await addDir('blobs/sha256');
    const written = new Set<string>();
    const manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
    const index: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const { record, tags } of items) {
      const config = await content.read(record.id).catch((err) => {
        throw internal(`config blob of image ${record.id} is missing`, err);
      });
      const blob = (digest: string) => `blobs/sha256/${hexOf(digest)}`;
      if (!written.has(record.id)) {
        await addBytes(blob(record.id), config);
        written.add(record.id);
      }
      const layers: { mediaType: string; digest: string; size: number }[] = [];
      for (const diffId of record.config.rootfs.diff_ids) {
        const size = await content.size(diffId).catch((err) => {
          throw internal(`layer blob ${diffId} of image ${record.id} is missing`, err);
        });
        if (!written.has(diffId)) {
          await addStream(blob(diffId), size, content.stream(diffId));
          written.add(diffId);
        }
        layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: diffId, size });
      }
      const ociManifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: record.id, size: config.length },
          layers,
        }),
      );
      const manifestDigest = sha256(ociManifest);
      if (!written.has(manifestDigest)) {
        await addBytes(blob(manifestDigest), ociManifest);
        written.add(manifestDigest);
      }
      const descriptor = { mediaType: OCI_MANIFEST, digest: manifestDigest, size: ociManifest.length };
      if (tags.length === 0) index.push(descriptor);
      for (const tag of tags) {
        const ref = parseReference(tag);
        index.push({
          ...descriptor,
          annotations: {
            'io.containerd.image.name': `${ref.domain}/${ref.path}:${ref.tag}`,
            'org.opencontainers.image.ref.name': ref.tag ?? 'latest',
          },
        });
        const diffIds = record.config.rootfs.diff_ids;
        if (diffIds.length > 0) {
          const repo = familiarName(ref);
          repositories[repo] = { ...repositories[repo], [ref.tag ?? 'latest']: hexOf(diffIds[diffIds.length - 1]) };
        }
      }
      manifest.push({
        Config: blob(record.id),
        RepoTags: tags.length > 0 ? tags : null,
        Layers: record.config.rootfs.diff_ids.map(blob),
      });
    }
    await addBytes(
      'index.json',
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: index })),
    );
    await addBytes('manifest.json', Buffer.from(JSON.stringify(manifest)));
    await addBytes('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    await addBytes('repositories', Buffer.from(JSON.stringify(repositories)));
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  await finished;
}
