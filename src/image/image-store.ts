// The image store of a node: implements ImageApi over
//   <root>/blobs/sha256/<hex>   content store (configs, uncompressed layer tars)
//   <root>/layers/<chain hex>/  unpacked layers, shared through overlayfs
//   <root>/containers/<id>/     container rootfs (overlay upper/work/merged)
//   <root>/tmp/                 staging for loads and imports, emptied at start
// Image metadata lives in the Store: kind "image" (key: image id, value:
// ImageRecord) and kind "image-tag" (key: familiar "name:tag", value: {id}).
// Both are written in one transaction, and only once every blob and layer an
// image needs is in place. Mutations of metadata and garbage collection of
// layers run one at a time (a promise queue); long unpacking happens outside
// it, with the layers it relies on pinned against collection.
import type { IdMap } from '../core/id-map.ts';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { HistoryEntry, ImageApi, ImageUsage, ProgressMessage, RegistryAuth, RemovedImage } from '../agent/agent-api.ts';
import { BerthError, conflict, invalid, notFound } from '../core/errors.ts';
import { shortId } from '../core/ids.ts';
import { familiarName, familiarString, normalizeTagged, parseReference, withDefaultTag } from '../core/reference.ts';
import type { ImageRecord, ImageRunConfig } from '../core/types.ts';
import type { Operation, Store } from '../store/store.ts';
import { Archive } from './archive-reader.ts';
import { ContentStore } from './content-store.ts';
import { planCommit } from './commit.ts';
import { planDerive } from './derive.ts';
import { chainIds } from './digest.ts';
import { applyChanges } from './dockerfile-changes.ts';
import { markHierarchyTops, rmrf } from './fs-util.ts';
import { planImport, type ImportContext } from './import.ts';
import { LayerStore, type LayerMeta } from './layer-store.ts';
import { type LoadPlan, planLoad } from './load.ts';
import { matchesPruneFilters, parsePruneFilters } from './prune-filters.ts';
import { RootfsManager } from './rootfs.ts';
import { type SaveItem, writeDockerArchive } from './save.ts';
import { login as registryLogin, pull as registryPull, push as registryPush, type RegistryOptions, type StoreAccess } from './registry/operations.ts';
import type { BlobSource } from './registry/pull.ts';

export const IMAGE_KIND = 'image';
export const TAG_KIND = 'image-tag';
/** Key: diff id; value: where its compressed blobs live in registries (lets push skip or mount them). */
export const BLOB_SOURCE_KIND = 'blob-source';

interface TagRecord {
  id: string;
}

export interface ImageStoreOptions {
  /** Directory owned by the image store, e.g. <dataRoot>/image. */
  root: string;
  store: Store;
  /** Insecure registries, mirrors, certs.d (defaults: none, none, /etc/berth/certs.d). */
  registry?: RegistryOptions;
  /** The daemon's user namespace remapping: layers and container root file systems get host ids. */
  idMap?: IdMap;
}

interface DeleteConflict {
  message: string;
  hard: boolean;
  used: boolean;
}

const CONFLICT_CHILD = 1;
const CONFLICT_RUNNING = 2;
const CONFLICT_REFERENCE = 4;
const CONFLICT_STOPPED = 8;
const CONFLICT_HARD = CONFLICT_CHILD | CONFLICT_RUNNING;
const CONFLICT_SOFT = CONFLICT_REFERENCE | CONFLICT_STOPPED;

export class ImageStore implements ImageApi {
  readonly root: string;
  private readonly store: Store;
  private readonly content: ContentStore;
  private readonly layers: LayerStore;
  private readonly rootfs: RootfsManager;
  private readonly tmp: string;
  private readonly registry: RegistryOptions;
  private readonly ready: Promise<void>;
  private queue: Promise<unknown> = Promise.resolve();
  /** Digests (chain ids, blobs) that in-flight loads rely on: never garbage collected. */
  private readonly pins = new Map<string, number>();

  constructor(opts: ImageStoreOptions) {
    this.root = path.resolve(opts.root);
    this.store = opts.store;
    this.tmp = path.join(this.root, 'tmp');
    this.registry = opts.registry ?? { insecure: [], mirrors: [], certsDir: '/etc/berth/certs.d' };
    this.content = new ContentStore(path.join(this.root, 'blobs'));
    this.layers = new LayerStore(path.join(this.root, 'layers'), this.tmp, opts.idMap);
    this.rootfs = new RootfsManager(this.root, this.layers, opts.idMap);
    this.ready = this.init();
    this.ready.catch(() => undefined);
  }

  private async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    // A remapped container's own processes (runc's init among them) walk down to its rootfs.
    if (this.layers.idMap) await fs.chmod(this.root, 0o711);
    await rmrf(this.tmp); // staging left by a crash
    await fs.mkdir(this.tmp, { mode: 0o700 });
    await this.content.init();
    await this.layers.init();
    await this.rootfs.init();
    await markHierarchyTops([this.tmp, path.join(this.root, 'layers'), path.join(this.root, 'containers')]);
  }

  /** Runs `fn` after every earlier locked operation has finished. */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private pin(digest: string): () => void {
    this.pins.set(digest, (this.pins.get(digest) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.pins.get(digest) ?? 1) - 1;
      if (n <= 0) this.pins.delete(digest);
      else this.pins.set(digest, n);
    };
  }

  private async staging(kind: string): Promise<string> {
    const dir = path.join(this.tmp, `${kind}-${randomBytes(8).toString('hex')}`);
    await fs.mkdir(dir, { mode: 0o700 });
    return dir;
  }

  // ---- lookup ----

  private async getImage(id: string): Promise<ImageRecord | undefined> {
    return (await this.store.get<ImageRecord>(IMAGE_KIND, id))?.value;
  }

  /** Finds an image by full id, "name[:tag]", "name@digest" or unambiguous id prefix. */
  private async find(input: string): Promise<ImageRecord | undefined> {
    const full = /^(?:sha256:)?([a-f0-9]{64})$/.exec(input);
    if (full) return this.getImage(`sha256:${full[1]}`);
    let ref;
    try {
      ref = parseReference(input);
    } catch {
      ref = undefined;
    }
    if (ref?.digest) {
      const key = `${familiarName(ref)}@${ref.digest}`;
      const all = await this.store.list<ImageRecord>(IMAGE_KIND);
      const hit = all.find((r) => r.value.repoDigests.includes(key));
      if (hit) return hit.value;
    } else if (ref) {
      const tag = await this.store.get<TagRecord>(TAG_KIND, familiarString(withDefaultTag(ref)));
      if (tag) {
        const img = await this.getImage(tag.value.id);
        if (img) return img;
      }
    }
    const prefix = /^(?:sha256:)?([a-f0-9]{1,63})$/.exec(input);
    if (prefix) {
      const matches = await this.store.list<ImageRecord>(IMAGE_KIND, `sha256:${prefix[1]}`);
      if (matches.length === 1) return matches[0].value;
    }
    return undefined;
  }

  private async resolve(input: string): Promise<ImageRecord> {
    const img = await this.find(input);
    if (!img) throw notFound(`No such image: ${displayName(input)}`);
    return img;
  }

  async list(): Promise<ImageRecord[]> {
    await this.ready;
    return (await this.store.list<ImageRecord>(IMAGE_KIND)).map((r) => r.value);
  }

  async inspect(nameOrId: string): Promise<ImageRecord> {
    await this.ready;
    return this.resolve(nameOrId);
  }

  // ---- load / import ----

  /**
   * Loads every image of the archive, or none. Reports "Loaded image: name:tag"
   * (or "Loaded image ID: sha256:..." for untagged images) once committed and
   * returns the same names/ids.
   */
  async load(tar: Readable, progress: (message: string) => void): Promise<string[]> {
    await this.ready;
    const staging = await this.staging('load');
    const unpins: (() => void)[] = [];
    try {
      await fs.mkdir(path.join(staging, 'archive'));
      const archive = await Archive.read(tar, path.join(staging, 'archive'));
      const plan = await planLoad(archive, {
        content: this.content,
        layers: this.layers,
        staging,
        pin: (d) => unpins.push(this.pin(d)),
      });
      const { messages, names } = await this.locked(() => this.commitPlan(plan));
      for (const m of messages) progress(m);
      return names;
    } finally {
      for (const u of unpins) u();
      await rmrf(staging);
    }
  }

  async import(
    tar: Readable,
    opts: { repo?: string; tag?: string; changes?: string[]; message?: string },
  ): Promise<ImageRecord> {
    await this.ready;
    let tagKey: string | undefined;
    if (opts.repo) {
      const ref = parseReference(opts.repo);
      if (ref.digest) throw invalid('refusing to create a tag with a digest reference');
      tagKey = familiarString(withDefaultTag(opts.tag ? { ...ref, tag: opts.tag } : ref));
      if (opts.tag) tagKey = normalizeTagged(tagKey);
    }
    const runConfig = applyChanges({}, opts.changes ?? []);
    return this.stageAndCommit('import', tagKey, (ctx) => planImport(tar, runConfig, opts.message, ctx));
  }

  /**
   * Plans one new image in a staging dir with the layers it uses pinned
   * against garbage collection, commits it (tagged) under the store lock,
   * and cleans the staging dir whatever happens.
   */
  private async stageAndCommit(
    kind: string,
    tagKey: string | undefined,
    planner: (ctx: ImportContext) => Promise<{ plan: LoadPlan; id: string }>,
  ): Promise<ImageRecord> {
    const staging = await this.staging(kind);
    const unpins: (() => void)[] = [];
    try {
      const { plan, id } = await planner({ layers: this.layers, staging, pin: (d) => unpins.push(this.pin(d)) });
      if (tagKey) plan.images[0].tags = [tagKey];
      await this.locked(() => this.commitPlan(plan));
      return this.resolve(id);
    } finally {
      for (const u of unpins) u();
      await rmrf(staging);
    }
  }

  /** Moves staged blobs and layers into place and writes image and tag records (locked). */
  private async commitPlan(plan: LoadPlan): Promise<{ messages: string[]; names: string[] }> {
    try {
      for (const blob of plan.blobs) {
        if (await this.content.has(blob.digest)) continue;
        await this.content.commit(blob.file, blob.digest);
      }
      for (const layer of plan.layers) await this.layers.commit(layer);
      const messages: string[] = [];
      const names: string[] = [];
      const touched = new Map<string, ImageRecord>();
      const owners = new Map<string, string>();
      const ops: Operation[] = [];
      const record = async (id: string) => touched.get(id) ?? (await this.getImage(id));
      for (const img of plan.images) {
        let rec = await record(img.id);
        if (!rec) {
          let size = 0;
          for (const chainId of chainIds(img.config.rootfs.diff_ids)) {
            const meta = await this.layers.get(chainId);
            if (!meta) throw new BerthError('internal', `layer ${chainId} vanished during the load`);
            size += meta.size;
          }
          const parent = img.parent && (touched.has(img.parent) || (await this.getImage(img.parent))) ? img.parent : '';
          rec = { id: img.id, repoTags: [], repoDigests: [], parent, config: img.config, size, loadedAt: new Date().toISOString() };
        }
        touched.set(img.id, rec);
        for (const tag of img.tags) {
          const oldId = owners.get(tag) ?? (await this.store.get<TagRecord>(TAG_KIND, tag))?.value.id;
          if (oldId && oldId !== img.id) {
            const old = await record(oldId);
            if (old) {
              old.repoTags = old.repoTags.filter((t) => t !== tag);
              touched.set(oldId, old);
            }
            messages.push(`The image ${tag} already exists, renaming the old one with ID ${oldId} to empty string`);
          }
          owners.set(tag, img.id);
          if (!rec.repoTags.includes(tag)) rec.repoTags.push(tag);
          ops.push({ op: 'put', kind: TAG_KIND, key: tag, value: { id: img.id } satisfies TagRecord });
        }
        for (const d of img.digests ?? []) if (!rec.repoDigests.includes(d)) rec.repoDigests.push(d);
        if (img.tags.length === 0) {
          messages.push(`Loaded image ID: ${img.id}`);
          names.push(img.id);
        } else {
          for (const t of img.tags) messages.push(`Loaded image: ${t}`);
          names.push(...img.tags);
        }
      }
      for (const rec of touched.values()) ops.push({ op: 'put', kind: IMAGE_KIND, key: rec.id, value: rec });
      await this.store.txn(ops);
      return { messages, names };
    } catch (err) {
      await this.gc().catch(() => undefined);
      throw err;
    }
  }

  // ---- registries ----

  async pull(ref: string, opts: { platform?: string; auth?: RegistryAuth; allTags?: boolean }, progress: (m: ProgressMessage) => void): Promise<string[]> {
    await this.ready;
    return registryPull(this.access(), this.registry, ref, opts, progress);
  }

  async push(ref: string, opts: { auth?: RegistryAuth }, progress: (m: ProgressMessage) => void): Promise<void> {
    await this.ready;
    return registryPush(this.access(), this.registry, ref, opts, progress);
  }

  login(auth: RegistryAuth): Promise<{ identityToken?: string }> {
    return registryLogin(this.registry, auth);
  }

  private access(): StoreAccess {
    return {
      content: this.content,
      layers: this.layers,
      staging: async (kind) => {
        const dir = await this.staging(kind);
        return { dir, done: () => rmrf(dir) };
      },
      pin: (d) => this.pin(d),
      commit: async (plan) => {
        await this.locked(() => this.commitPlan(plan));
      },
      find: (ref) => this.find(ref),
      tagsOf: async (repo) =>
        (await this.store.list<TagRecord>(TAG_KIND, `${repo}:`)).filter((t) => repoOf(t.key) === repo).map((t) => ({ tag: t.key, id: t.value.id })),
      addRepoDigest: (imageId, digestRef) =>
        this.locked(async () => {
          const img = await this.getImage(imageId);
          if (!img || img.repoDigests.includes(digestRef)) return;
          img.repoDigests.push(digestRef);
          await this.store.put(IMAGE_KIND, img.id, img);
        }),
      sources: async (diffId) => (await this.store.get<{ sources: BlobSource[] }>(BLOB_SOURCE_KIND, diffId))?.value.sources ?? [],
      remember: async (src) => {
        const old = (await this.store.get<{ sources: BlobSource[] }>(BLOB_SOURCE_KIND, src.diffId))?.value.sources ?? [];
        const same = (a: BlobSource) => a.domain === src.domain && a.repo === src.repo && a.digest === src.digest;
        if (old.some(same)) return;
        // The latest few are enough to find a mount source.
        await this.store.put(BLOB_SOURCE_KIND, src.diffId, { sources: [src, ...old].slice(0, 8) });
      },
    };
  }

  // ---- save ----

  async save(names: string[], out: Writable): Promise<void> {
    await this.ready;
    if (names.length === 0) throw invalid('no images specified');
    const items = new Map<string, SaveItem>();
    const add = (record: ImageRecord, tags: string[]) => {
      const item = items.get(record.id) ?? { record, tags: [] };
      for (const t of tags) if (!item.tags.includes(t)) item.tags.push(t);
      items.set(record.id, item);
    };
    for (const name of names) {
      const ref = safeParse(name);
      if (ref && !ref.tag && !ref.digest) {
        // A bare repository name saves every tag of that repository.
        const repo = familiarName(ref);
        const tags = (await this.store.list<TagRecord>(TAG_KIND, `${repo}:`)).filter((t) => repoOf(t.key) === repo);
        let found = false;
        for (const t of tags) {
          const rec = await this.getImage(t.value.id);
          if (rec) {
            add(rec, [t.key]);
            found = true;
          }
        }
        if (found) continue;
      }
      const img = await this.resolve(name);
      if (isIdPrefix(img.id, name) || !ref || ref.digest) add(img, []);
      else add(img, [familiarString(withDefaultTag(ref))]);
    }
    await writeDockerArchive(out, [...items.values()], this.content);
  }

  // ---- tags ----

  async tag(source: string, target: string): Promise<void> {
    await this.ready;
    if (/^[a-f0-9]{64}$/.test(target)) {
      throw invalid(`invalid repository name (${target}), cannot specify 64-byte hexadecimal strings`);
    }
    const ref = parseReference(target);
    if (ref.digest) throw invalid('refusing to create a tag with a digest reference');
    const key = familiarString(withDefaultTag(ref));
    await this.locked(async () => {
      const img = await this.resolve(source);
      await this.commitPlan({ images: [{ id: img.id, configBytes: Buffer.alloc(0), config: img.config, tags: [key] }], blobs: [], layers: [] });
    });
  }

  // ---- remove / prune ----

  async remove(nameOrId: string, opts: { force: boolean; noPrune: boolean; usage: ImageUsage }): Promise<RemovedImage[]> {
    await this.ready;
    return this.locked(() => this.removeLocked(nameOrId, opts));
  }

  private async removeLocked(input: string, opts: { force: boolean; noPrune: boolean; usage: ImageUsage }): Promise<RemovedImage[]> {
    const img = await this.resolve(input);
    const records: RemovedImage[] = [];
    let removedRepositoryRef = false;
    if (!isIdPrefix(img.id, input)) {
      // A reference was named: untag it first.
      const ref = parseReference(input);
      const key = ref.digest ? `${familiarName(ref)}@${ref.digest}` : familiarString(withDefaultTag(ref));
      if (!opts.force && isSingleReference(img)) {
        const user = opts.usage(img.id);
        if (user) {
          throw conflict(
            `conflict: unable to remove repository reference "${input}" (must force) - container ${shortId(user.containerId)} is using its referenced image ${shortId(img.id)}`,
          );
        }
      }
      const untagged = [key];
      if (!ref.digest && !img.repoTags.some((t) => t !== key && repoOf(t) === repoOf(key))) {
        // The last tag of a repository takes that repository's digests with it.
        untagged.push(...img.repoDigests.filter((d) => repoOf(d) === repoOf(key)));
      }
      await this.untag(img, untagged);
      for (const u of untagged) records.push({ Untagged: u });
      if (img.repoTags.length + img.repoDigests.length > 0) return records;
      removedRepositoryRef = true;
    } else if (isSingleReference(img)) {
      const c = await this.deleteConflict(img, CONFLICT_HARD | (opts.force ? 0 : CONFLICT_SOFT & ~CONFLICT_REFERENCE), opts.usage);
      if (c) throw conflict(conflictMessage(img.id, c));
      const refs = [...img.repoTags, ...img.repoDigests];
      await this.untag(img, refs);
      for (const r of refs) records.push({ Untagged: r });
    }
    await this.deleteImage(img, records, opts.force, !opts.noPrune, removedRepositoryRef, opts.usage);
    return records;
  }

  /** Removes references from an image (record updated in place and in the store). */
  private async untag(img: ImageRecord, refs: string[]): Promise<void> {
    if (refs.length === 0) return;
    img.repoTags = img.repoTags.filter((t) => !refs.includes(t));
    img.repoDigests = img.repoDigests.filter((d) => !refs.includes(d));
    const ops: Operation[] = refs.filter((r) => !r.includes('@')).map((key) => ({ op: 'delete', kind: TAG_KIND, key }));
    ops.push({ op: 'put', kind: IMAGE_KIND, key: img.id, value: img });
    await this.store.txn(ops);
  }

  private async deleteConflict(img: ImageRecord, mask: number, usage: ImageUsage): Promise<DeleteConflict | undefined> {
    if (mask & CONFLICT_CHILD) {
      const all = await this.store.list<ImageRecord>(IMAGE_KIND);
      if (all.some((r) => r.value.parent === img.id)) return { message: 'image has dependent child images', hard: true, used: false };
    }
    const user = usage(img.id);
    if (mask & CONFLICT_RUNNING && user?.running) {
      return { message: `image is being used by running container ${shortId(user.containerId)}`, hard: true, used: true };
    }
    if (mask & CONFLICT_REFERENCE && img.repoTags.length + img.repoDigests.length > 0) {
      return { message: 'image is referenced in multiple repositories', hard: false, used: false };
    }
    if (mask & CONFLICT_STOPPED && user && !user.running) {
      return { message: `image is being used by stopped container ${shortId(user.containerId)}`, hard: false, used: true };
    }
    return undefined;
  }

  private async deleteImage(
    img: ImageRecord,
    records: RemovedImage[],
    force: boolean,
    prune: boolean,
    quiet: boolean,
    usage: ImageUsage,
  ): Promise<void> {
    const c = await this.deleteConflict(img, CONFLICT_HARD | (force ? 0 : CONFLICT_SOFT), usage);
    if (c) {
      const all = await this.store.list<ImageRecord>(IMAGE_KIND);
      const dangling = img.repoTags.length + img.repoDigests.length === 0 && !all.some((r) => r.value.parent === img.id);
      // After untagging, a conflict only matters when it leaves a dangling image nobody uses.
      if (quiet && (!dangling || c.used)) return;
      throw conflict(conflictMessage(img.id, c));
    }
    const refs = [...img.repoTags, ...img.repoDigests];
    for (const r of refs) records.push({ Untagged: r });
    const ops: Operation[] = img.repoTags.map((key) => ({ op: 'delete', kind: TAG_KIND, key }));
    ops.push({ op: 'delete', kind: IMAGE_KIND, key: img.id });
    await this.store.txn(ops);
    records.push({ Deleted: img.id });
    for (const layer of await this.gc()) records.push({ Deleted: layer.chainId });
    if (prune && img.parent) {
      const parent = await this.getImage(img.parent);
      if (parent) await this.deleteImage(parent, records, false, true, true, usage);
    }
  }

  async prune(opts: {
    all: boolean;
    usage: ImageUsage;
    filters: Record<string, string[]>;
  }): Promise<{ ImagesDeleted: RemovedImage[] | null; SpaceReclaimed: number }> {
    await this.ready;
    const filters = parsePruneFilters(opts.filters, Date.now());
    const danglingOnly = filters.dangling ?? !opts.all;
    return this.locked(async () => {
      const before = await this.layers.list();
      const all = (await this.store.list<ImageRecord>(IMAGE_KIND)).map((r) => r.value);
      const hasChildren = (id: string) => all.some((r) => r.parent === id);
      const candidates = all.filter((img) => {
        const refs = img.repoTags.length + img.repoDigests.length;
        if (refs === 0 && hasChildren(img.id)) return false;
        if (danglingOnly && img.repoTags.length > 0) return false;
        return matchesPruneFilters(filters, img);
      });
      const deleted: RemovedImage[] = [];
      for (const candidate of candidates) {
        const img = await this.getImage(candidate.id);
        if (!img) continue;
        const refs = [...img.repoTags, ...img.repoDigests];
        const targets = refs.length > 0 ? refs : [img.id.slice(7)];
        for (const target of targets) {
          try {
            deleted.push(...(await this.removeLocked(target, { force: false, noPrune: false, usage: opts.usage })));
          } catch (err) {
            if (err instanceof BerthError && (err.kind === 'conflict' || err.kind === 'not-found')) continue;
            throw err;
          }
        }
      }
      const after = new Set((await this.layers.list()).map((l) => l.chainId));
      const reclaimed = before.filter((l) => !after.has(l.chainId)).reduce((sum, l) => sum + l.size, 0);
      return { ImagesDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: reclaimed };
    });
  }

  /** Deletes layers and blobs that no image, container rootfs or in-flight load needs (locked). */
  private async gc(): Promise<LayerMeta[]> {
    const images = (await this.store.list<ImageRecord>(IMAGE_KIND)).map((r) => r.value);
    const keep = namedChains(images);
    for (const c of this.pins.keys()) keep.add(c);
    for (const c of await this.rootfs.usedChains()) keep.add(c);
    const removed: LayerMeta[] = [];
    const remaining: LayerMeta[] = [];
    for (const layer of await this.layers.list()) {
      if (keep.has(layer.chainId)) {
        remaining.push(layer);
      } else {
        await this.layers.remove(layer.chainId);
        removed.push(layer);
      }
    }
    const blobs = new Set<string>(this.pins.keys());
    for (const img of images) blobs.add(img.id);
    for (const layer of remaining) blobs.add(layer.diffId);
    for (const digest of await this.content.list()) if (!blobs.has(digest)) await this.content.remove(digest);
    if (removed.length > 0) await this.rootfs.pruneLinks();
    return removed;
  }

  // ---- history ----

  async history(nameOrId: string): Promise<HistoryEntry[]> {
    await this.ready;
    const img = await this.resolve(nameOrId);
    const chains = chainIds(img.config.rootfs.diff_ids);
    const sizes: number[] = [];
    for (const c of chains) sizes.push((await this.layers.get(c))?.size ?? 0);
    const seconds = (t: string | undefined) => (t ? Math.floor(Date.parse(t) / 1000) || 0 : 0);
    const entries: HistoryEntry[] = [];
    const history = img.config.history ?? [];
    if (history.length > 0) {
      let layer = 0;
      for (const h of history) {
        const size = h.empty_layer ? 0 : (sizes[layer++] ?? 0);
        entries.push({ Id: '<missing>', Created: seconds(h.created), CreatedBy: h.created_by ?? '', Tags: null, Size: size, Comment: h.comment ?? '' });
      }
    } else {
      for (const size of sizes) {
        entries.push({ Id: '<missing>', Created: seconds(img.config.created), CreatedBy: '', Tags: null, Size: size, Comment: '' });
      }
    }
    entries.reverse();
    if (entries.length === 0) {
      entries.push({ Id: img.id, Created: seconds(img.config.created), CreatedBy: '', Tags: null, Size: 0, Comment: '' });
    }
    entries[0].Id = img.id;
    entries[0].Tags = img.repoTags.length > 0 ? [...img.repoTags] : null;
    return entries;
  }

  // ---- container root file systems ----

  async createRootfs(containerId: string, imageId: string): Promise<string> {
    await this.ready;
    return this.locked(async () => {
      const img = await this.resolve(imageId);
      return this.rootfs.create(containerId, chainIds(img.config.rootfs.diff_ids));
    });
  }

  async removeRootfs(containerId: string): Promise<void> {
    await this.ready;
    const chains = await this.rootfs.chainsOf(containerId);
    await this.rootfs.remove(containerId);
    // Only layers that no image names any more (an image force-removed while
    // this container used it) can be freed now. Otherwise there is nothing to
    // collect, and the caller need not wait for the unmount a collection
    // waits for.
    if (chains && !(await this.unnamedIn(chains))) return;
    await this.locked(() => this.gc());
  }

  /** Resolves once every removed rootfs is unmounted and deleted (daemon stop, tests). */
  settled(): Promise<void> {
    return this.rootfs.settled();
  }

  /** Whether some of these chain ids belong to no image. */
  private async unnamedIn(chains: string[]): Promise<boolean> {
    const named = namedChains((await this.store.list<ImageRecord>(IMAGE_KIND)).map((r) => r.value));
    return chains.some((c) => !named.has(c));
  }

  async changes(containerId: string): Promise<{ Path: string; Kind: 0 | 1 | 2 }[]> {
    await this.ready;
    return this.rootfs.changes(containerId);
  }

  async rootfsSize(containerId: string): Promise<number> {
    await this.ready;
    return this.rootfs.size(containerId);
  }

  /** The merged mount point of a container's rootfs (for docker cp and export). */
  rootfsPath(containerId: string): string {
    return this.rootfs.merged(containerId);
  }

  async commit(
    containerId: string,
    opts: { imageId: string; config: ImageRunConfig; changes?: string[]; repo?: string; tag?: string; comment?: string; author?: string; createdBy?: string },
  ): Promise<ImageRecord> {
    await this.ready;
    let tagKey: string | undefined;
    if (opts.repo) {
      const ref = parseReference(opts.repo);
      if (ref.digest) throw invalid('refusing to create a tag with a digest reference');
      tagKey = normalizeTagged(familiarString(withDefaultTag(opts.tag ? { ...ref, tag: opts.tag } : ref)));
    } else if (opts.tag) {
      throw invalid('tag is specified without a repository');
    }
    const config = applyChanges(opts.config, opts.changes ?? []);
    const parent = await this.resolve(opts.imageId);
    const commitOpts = { config, comment: opts.comment, author: opts.author, createdBy: opts.createdBy };
    return this.stageAndCommit('commit', tagKey, (ctx) => planCommit(this.rootfs.upper(containerId), parent, commitOpts, { ...ctx, idMap: this.layers.idMap }));
  }
  async derive(opts: { parentId: string; config: ImageRunConfig; createdBy: string }): Promise<ImageRecord> {
    await this.ready;
    const parent = opts.parentId ? await this.resolve(opts.parentId) : undefined;
    return this.stageAndCommit('derive', undefined, async (ctx) => {
      const planned = planDerive(parent, opts.config, opts.createdBy, ctx.staging);
      await fs.writeFile(planned.plan.blobs[0].file, planned.plan.images[0].configBytes);
      for (const c of chainIds(planned.plan.images[0].config.rootfs.diff_ids)) ctx.pin(c);
      return planned;
    });
  }
}

/** "busybox" -> "busybox:latest" for messages; ids and unparsable input stay as given. */
function displayName(input: string): string {
  if (/^(?:sha256:)?[a-f0-9]{1,64}$/.test(input)) return input;
  try {
    return normalizeTagged(input);
  } catch {
    return input;
  }
}

/** Docker's rule: the input names the image by id (or id prefix) rather than by reference. */
function isIdPrefix(id: string, input: string): boolean {
  return id.startsWith(input) || id.slice(7).startsWith(input);
}

function safeParse(input: string): ReturnType<typeof parseReference> | undefined {
  try {
    return parseReference(input);
  } catch {
    return undefined;
  }
}

/** "busybox:latest" / "busybox@sha256:..." -> "busybox". */
function repoOf(ref: string): string {
  return familiarName(parseReference(ref));
}

/** True when all of an image's references belong to one tag (and digests of its repository). */
function isSingleReference(img: ImageRecord): boolean {
  const total = img.repoTags.length + img.repoDigests.length;
  if (total <= 1) return total === 1;
  if (img.repoTags.length > 1) return false;
  const single = img.repoTags[0] ?? img.repoDigests[0];
  const digestRepos = new Set(img.repoDigests.map(repoOf));
  return digestRepos.size === 1 && digestRepos.has(repoOf(single));
}

function conflictMessage(id: string, c: DeleteConflict): string {
  return `conflict: unable to delete ${shortId(id)} (${c.hard ? 'cannot be forced' : 'must be forced'}) - ${c.message}`;
}

/** The chain ids of every layer these images are made of. */
function namedChains(images: ImageRecord[]): Set<string> {
  const named = new Set<string>();
  for (const img of images) for (const c of chainIds(img.config.rootfs.diff_ids)) named.add(c);
  return named;
}
