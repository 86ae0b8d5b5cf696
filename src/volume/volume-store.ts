// The node's volumes: records in the Store (kind "volume", key: name), data
// wherever the volume's driver keeps it (local: <dataRoot>/volumes/<name>/_data),
// and the preparation of a container's mounts before its bundle is written.
import type { IdMap } from '../core/id-map.ts';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import type { VolumeApi, VolumeCreateRequest } from '../agent/agent-api.ts';
import { internal, invalid, notFound } from '../core/errors.ts';
import type { MountPoint, VolumeRecord } from '../core/types.ts';
import { dirSize } from '../image/fs-util.ts';
import type { Store } from '../store/store.ts';
import { ContainerFs } from './container-fs.ts';
import type { VolumeDriver } from './driver.ts';
import { LocalDriver, mkdirForContainerRoot } from './local-driver.ts';

const run = promisify(execFile);
export const VOLUME_KIND = 'volume';
const VALID_VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export class VolumeStore implements VolumeApi {
  private readonly store: Store;
  private readonly drivers = new Map<string, VolumeDriver>();
  private readonly ready: Promise<void>;
  /** Volume creation and removal one at a time per name. */
  private queue: Promise<unknown> = Promise.resolve();

  private readonly idMap: IdMap | undefined;

  constructor(opts: { root: string; store: Store; idMap?: IdMap }) {
    this.store = opts.store;
    this.idMap = opts.idMap;
    const local = new LocalDriver(opts.root, opts.idMap);
    this.drivers.set(local.name, local);
    this.ready = local.init();
    this.ready.catch(() => undefined);
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private driver(name: string): VolumeDriver {
    const d = this.drivers.get(name);
    if (!d) throw notFound(`error looking up volume plugin ${name}: plugin "${name}" not found`);
    return d;
  }

  async create(req: VolumeCreateRequest): Promise<VolumeRecord> {
    await this.ready;
    const name = req.Name;
    if (!VALID_VOLUME_NAME.test(name)) {
      throw invalid(
        `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    }
    const driverName = req.Driver || 'local';
    const driver = this.driver(driverName);
    const opts = req.DriverOpts ?? {};
    driver.validate(name, opts);
    return this.locked(async () => {
      const existing = (await this.store.get<VolumeRecord>(VOLUME_KIND, name))?.value;
      if (existing) {
        if (existing.Driver !== driverName) {
          throw invalid(`create ${name}: volume name must be unique`);
        }
        return existing;
      }
      const mountpoint = await driver.create(name, opts);
      const record: VolumeRecord = {
        Name: name,
        Driver: driverName,
        Mountpoint: mountpoint,
        CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        Labels: req.Labels ?? {},
        Scope: 'local',
        Options: Object.keys(opts).length > 0 ? opts : null,
      };
      try {
        await this.store.put(VOLUME_KIND, name, record, 0);
      } catch (err) {
        await driver.remove(record).catch(() => undefined);
        throw err;
      }
      return record;
    });
  }

  async list(): Promise<VolumeRecord[]> {
    await this.ready;
    return (await this.store.list<VolumeRecord>(VOLUME_KIND)).map((r) => r.value);
  }

  async inspect(name: string): Promise<VolumeRecord> {
    await this.ready;
    const rec = name ? await this.store.get<VolumeRecord>(VOLUME_KIND, name) : undefined;
    if (!rec) throw notFound(`get ${name}: no such volume`);
    return rec.value;
  }

  async remove(name: string): Promise<void> {
    const vol = await this.inspect(name);
    await this.locked(async () => {
      // The record goes last: a failure leaves a volume that can be removed again.
      await this.driver(vol.Driver).remove(vol);
      await this.store.delete(VOLUME_KIND, name);
    });
  }

  async size(name: string): Promise<number> {
    const vol = await this.inspect(name);
    return dirSize(vol.Mountpoint);
  }

  async prepareMounts(containerId: string, rootfs: string, mounts: MountPoint[]): Promise<MountPoint[]> {
    await this.ready;
    void containerId;
    const image = new ContainerFs(rootfs, []);
    const out: MountPoint[] = [];
    for (const m of mounts) {
      if (m.Type === 'bind') {
        const st = await fs.stat(m.Source).catch(() => undefined);
        if (!st) {
          if (!m.CreateSource) throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${m.Source}`);
          await mkdirForContainerRoot(m.Source, this.idMap);
        }
        out.push(m);
      } else if (m.Type === 'volume') {
        const vol = await this.inspect(m.Name ?? '');
        const source = await this.driver(vol.Driver).mount(vol);
        if (!m.NoCopy) await copyUp(image, m.Destination, source);
        out.push({ ...m, Source: source, Driver: vol.Driver });
      } else {
        out.push(m);
      }
    }
    return out;
  }
}

/**
 * Docker's copy-up: an empty volume mounted where the image has a directory
 * gets that directory's content, owner and mode. The image path is resolved
 * inside the rootfs (an image may have a symlink there).
 */
async function copyUp(image: ContainerFs, destination: string, volumeDir: string): Promise<void> {
  const entries = await fs.readdir(volumeDir).catch(() => ['?']);
  if (entries.length > 0) return;
  try {
    const resolved = image.resolve(destination, true);
    const st = image.lstat(resolved);
    if (!st?.isDirectory()) return;
    // cp -a never follows symlinks in the source (-P) and keeps owners, modes, times and xattrs;
    // it reads the directory through the daemon's descriptor of it, reached without following links.
    const source = `/proc/${process.pid}/fd/${image.dirFd(resolved)}`;
    try {
      await run('cp', ['-a', '--', `${source}/.`, `${volumeDir}/`]);
    } catch (err) {
      throw internal(`copying image content at ${destination} into the volume failed: ${((err as { stderr?: string }).stderr ?? '').trim()}`, err);
    }
    await fs.chown(volumeDir, st.uid, st.gid);
    await fs.chmod(volumeDir, st.mode & 0o7777);
  } finally {
    image.close();
  }
}
