// Unpacked layers, one directory per chain id, shared by every image and
// container whose layer chain contains it:
//   <root>/<chain hex>/diff       the layer's files (an overlayfs lower dir)
//   <root>/<chain hex>/layer.json chain id, diff id, parent chain id, size
// A layer directory appears by rename only once it is complete, and goes away
// by rename before it is deleted, so its presence means it is whole.
import type { IdMap } from '../core/id-map.ts';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { hexOf } from './digest.ts';
import { dirSize, exists, rmrf } from './fs-util.ts';
import { unpackLayer } from './unpack.ts';

export interface LayerMeta {
  chainId: string;
  diffId: string;
  /** Chain id of the layer below, "" for a bottom layer. */
  parent: string;
  size: number;
}

export interface StagedLayer {
  meta: LayerMeta;
  dir: string;
}

export class LayerStore {
  private readonly root: string;
  private readonly trash: string;
  /** The daemon's user namespace remapping: layers are stored with host ids. */
  readonly idMap: IdMap | undefined;

  /** `trash` is a scratch directory on the same file system for removals. */
  constructor(root: string, trash: string, idMap?: IdMap) {
    this.root = root;
    this.trash = trash;
    this.idMap = idMap;
  }

  async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
  }

  dir(chainId: string): string {
    return path.join(this.root, hexOf(chainId));
  }

  diffDir(chainId: string): string {
    return path.join(this.dir(chainId), 'diff');
  }

  async get(chainId: string): Promise<LayerMeta | undefined> {
    try {
      return JSON.parse(await fs.readFile(path.join(this.dir(chainId), 'layer.json'), 'utf8')) as LayerMeta;
    } catch {
      return undefined;
    }
  }

  has(chainId: string): Promise<boolean> {
    return exists(path.join(this.dir(chainId), 'layer.json'));
  }

  async list(): Promise<LayerMeta[]> {
    const names = await fs.readdir(this.root).catch(() => [] as string[]);
    const out: LayerMeta[] = [];
    for (const n of names) {
      if (!/^[a-f0-9]{64}$/.test(n)) continue;
      const meta = await this.get(`sha256:${n}`);
      if (meta) out.push(meta);
    }
    return out;
  }

  /** Unpacks a layer tar into `stagingDir/<chain hex>` (nothing in the store changes yet). */
  async stage(stagingDir: string, meta: Omit<LayerMeta, 'size'>, tar: Readable): Promise<StagedLayer> {
    const dir = path.join(stagingDir, hexOf(meta.chainId));
    await fs.mkdir(path.join(dir, 'diff'), { recursive: true, mode: 0o755 });
    const { size } = await unpackLayer(tar, path.join(dir, 'diff'), {
      label: `layer ${meta.diffId}`,
      scratchFile: path.join(stagingDir, `${hexOf(meta.chainId)}.xattrs`),
      idMap: this.idMap,
    });
    const full: LayerMeta = { ...meta, size };
    await fs.writeFile(path.join(dir, 'layer.json'), JSON.stringify(full));
    return { meta: full, dir };
  }

  /** Stages a layer from a directory already in the layer's form (moved, not copied: same file system); a size the caller counted saves a walk. */
  async stageDir(stagingDir: string, meta: Omit<LayerMeta, 'size'> & { size?: number }, filled: string): Promise<StagedLayer> {
    const dir = path.join(stagingDir, hexOf(meta.chainId));
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    await fs.rename(filled, path.join(dir, 'diff'));
    const full: LayerMeta = { ...meta, size: meta.size ?? (await dirSize(path.join(dir, 'diff'))) };
    await fs.writeFile(path.join(dir, 'layer.json'), JSON.stringify(full));
    return { meta: full, dir };
  }

  /** Moves a staged layer into place; a layer that appeared meanwhile wins and the staged copy is dropped. */
  async commit(staged: StagedLayer): Promise<void> {
    try {
      await fs.rename(staged.dir, this.dir(staged.meta.chainId));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      await rmrf(staged.dir);
    }
  }

  async remove(chainId: string): Promise<void> {
    const doomed = path.join(this.trash, `layer-${randomBytes(6).toString('hex')}`);
    try {
      await fs.rename(this.dir(chainId), doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await rmrf(doomed);
  }
}
