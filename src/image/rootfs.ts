// Container root file systems: an overlayfs mount of the image's unpacked
// layers (top-most first) under a per-container writable layer:
//   <root>/containers/<id>/{upper,work,merged,layers.json}
// layers.json records the chain ids the mount uses, so that layer garbage
// collection keeps them even when the image itself is force-removed.
// Lower dirs are named through short symlinks (<root>/l/<16 hex>) and the
// mount runs with <root> as its working directory, keeping the option string
// within the kernel's one-page limit for deep images.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { internal, invalid, notFound } from '../core/errors.ts';
import { hostGid, hostUid, type IdMap } from '../core/id-map.ts';
import { hexOf } from './digest.ts';
import { dirSize, isMountPoint, rmrf, run } from './fs-util.ts';
import type { LayerStore } from './layer-store.ts';
import { containerChanges, type Change } from './changes.ts';

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const MAX_MOUNT_OPTIONS = 4000;

export class RootfsManager {
  private readonly root: string;
  private readonly layers: LayerStore;
  /** Removed rootfs still being unmounted and deleted (see remove). */
  private readonly unmounting = new Set<Promise<void>>();

  private readonly idMap: IdMap | undefined;

  constructor(root: string, layers: LayerStore, idMap?: IdMap) {
    this.root = root;
    this.layers = layers;
    this.idMap = idMap;
  }

  async init(): Promise<void> {
    await fs.mkdir(path.join(this.root, 'containers'), { recursive: true, mode: 0o700 });
    // Searchable by a remapped container's processes, which walk down to their rootfs.
    if (this.idMap) await fs.chmod(path.join(this.root, 'containers'), 0o711);
    await fs.mkdir(path.join(this.root, 'l'), { recursive: true, mode: 0o700 });
    await fs.mkdir(path.join(this.root, 'empty'), { recursive: true, mode: 0o755 });
    // Writable layers a crash left half-deleted.
    await fs.mkdir(this.trash, { recursive: true, mode: 0o700 });
    for (const name of await fs.readdir(this.trash)) {
      const doomed = path.join(this.trash, name);
      // A crash can leave a removed rootfs still mounted: unmount before deleting.
      const merged = path.join(doomed, 'merged');
      const ready = (await isMountPoint(merged)) ? unmount(merged, name) : Promise.resolve();
      void ready.then(() => rmrf(doomed)).catch(() => undefined);
    }
  }

  /** Where removed writable layers are deleted, out of the way of `containers/`. */
  private get trash(): string {
    return path.join(this.root, 'trash');
  }

  private dir(containerId: string): string {
    if (!CONTAINER_ID.test(containerId) || containerId.includes('..')) throw invalid(`invalid container id: ${containerId}`);
    return path.join(this.root, 'containers', containerId);
  }

  merged(containerId: string): string {
    return path.join(this.dir(containerId), 'merged');
  }

  /** The container's writable layer (overlay upper dir). */
  upper(containerId: string): string {
    return path.join(this.dir(containerId), 'upper');
  }

  /** Mounts (or finds mounted) the rootfs; `chainIds` bottom layer first. Layers must exist. */
  async create(containerId: string, chainIds: string[]): Promise<string> {
    const dir = this.dir(containerId);
    const merged = path.join(dir, 'merged');
    for (const sub of ['upper', 'work', 'merged']) await fs.mkdir(path.join(dir, sub), { recursive: true, mode: 0o755 });
    // The rootfs' "/" takes the upper dir's owner: the container's root, on the host.
    if (this.idMap) await fs.chown(path.join(dir, 'upper'), hostUid(this.idMap, 0), hostGid(this.idMap, 0));
    const tmp = path.join(dir, 'layers.json.tmp');
    await fs.writeFile(tmp, JSON.stringify({ chainIds }));
    await fs.rename(tmp, path.join(dir, 'layers.json'));
    if (await isMountPoint(merged)) return merged;
    const lower: string[] = [];
    for (const chainId of [...chainIds].reverse()) {
      if (!(await this.layers.has(chainId))) throw internal(`layer ${chainId} is missing from the layer store`);
      lower.push(await this.link(chainId));
    }
    if (lower.length === 0) lower.push('empty');
    const rel = path.join('containers', containerId);
    const options = `lowerdir=${lower.join(':')},upperdir=${rel}/upper,workdir=${rel}/work,index=off`;
    if (options.length > MAX_MOUNT_OPTIONS) throw internal(`image has too many layers (${chainIds.length}) for one overlay mount`);
    try {
      await run('mount', ['-t', 'overlay', 'overlay', '-o', options, merged], { cwd: this.root });
    } catch (err) {
      throw internal(`mounting the rootfs of ${containerId} failed: ${(err as { stderr?: string }).stderr?.trim() ?? err}`, err);
    }
    return merged;
  }

  /** A short relative name ("l/<16 hex>") for a layer's diff directory. */
  private async link(chainId: string): Promise<string> {
    const hex = hexOf(chainId);
    const name = path.join('l', hex.slice(0, 16));
    const target = path.join('..', 'layers', hex, 'diff');
    const abs = path.join(this.root, name);
    const current = await fs.readlink(abs).catch(() => undefined);
    if (current === target) return name;
    if (current !== undefined) await fs.unlink(abs);
    await fs.symlink(target, abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    return name;
  }

  async remove(containerId: string): Promise<void> {
    const dir = this.dir(containerId);
    const mounted = await isMountPoint(path.join(dir, 'merged'));
    // The container is gone once its directory is (one rename; the mount
    // moves with it). Unmounting an overlay syncs its whole upper file system
    // (hundreds of ms on a busy disk), and deleting the files takes a while:
    // neither is worth making `docker rm` wait for. Layer GC waits for the
    // unmounts (usedChains).
    const doomed = path.join(this.trash, `${path.basename(dir)}-${randomBytes(4).toString('hex')}`);
    try {
      await fs.rename(dir, doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      if (mounted) await unmount(path.join(dir, 'merged'), containerId);
      await rmrf(dir);
      return;
    }
    const done: Promise<void> = (mounted ? unmount(path.join(doomed, 'merged'), containerId) : Promise.resolve())
      // Never delete through a mount that stayed: the next start's trash sweep unmounts it first.
      .then(() => rmrf(doomed))
      .catch(() => undefined)
      .finally(() => this.unmounting.delete(done));
    this.unmounting.add(done);
  }

  /** Resolves once every removed rootfs is unmounted (tests, daemon stop). */
  async settled(): Promise<void> {
    await Promise.all(this.unmounting);
  }

  /** `docker diff`: the writable layer against the layers the mount uses. */
  async changes(containerId: string): Promise<Change[]> {
    const dir = this.dir(containerId);
    let recorded: string;
    try {
      recorded = await fs.readFile(path.join(dir, 'layers.json'), 'utf8');
    } catch (err) {
      // Being removed (or never finished): there is no writable layer to compare.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`No such container: ${containerId}`);
      throw err;
    }
    const { chainIds } = JSON.parse(recorded) as { chainIds: string[] };
    return containerChanges(path.join(dir, 'upper'), [...chainIds].reverse().map((c) => this.layers.diffDir(c)));
  }

  async size(containerId: string): Promise<number> {
    return dirSize(path.join(this.dir(containerId), 'upper'));
  }

  /** The chain ids a container's rootfs mounts; undefined when it has no record of them (being made or gone). */
  async chainsOf(containerId: string): Promise<string[] | undefined> {
    try {
      return (JSON.parse(await fs.readFile(path.join(this.dir(containerId), 'layers.json'), 'utf8')) as { chainIds: string[] }).chainIds;
    } catch {
      return undefined;
    }
  }

  /** Chain ids used by any container's rootfs. */
  async usedChains(): Promise<Set<string>> {
    // A removed rootfs may still be mounted on its layers.
    await this.settled();
    const used = new Set<string>();
    const ids = await fs.readdir(path.join(this.root, 'containers')).catch(() => [] as string[]);
    // (a rootfs being created or removed has no record: nothing of it to keep)
    for (const id of ids) for (const c of (await this.chainsOf(id)) ?? []) used.add(c);
    return used;
  }

  /** Removes short links whose layer is gone. */
  async pruneLinks(): Promise<void> {
    const names = await fs.readdir(path.join(this.root, 'l')).catch(() => [] as string[]);
    for (const n of names) {
      const abs = path.join(this.root, 'l', n);
      const ok = await fs.stat(abs).then(() => true, () => false);
      if (!ok) await fs.unlink(abs).catch(() => undefined);
    }
  }
}

/** umount, lazily when busy. */
async function unmount(merged: string, containerId: string): Promise<void> {
  try {
    await run('umount', [merged]);
  } catch {
    await run('umount', ['-l', merged]).catch((err: unknown) => {
      throw internal(`unmounting the rootfs of ${containerId} failed`, err);
    });
  }
}
