// Docker's "local" volume driver: a directory <root>/<name>/_data, or, with
// -o type/device/o, whatever `mount -t type -o o device` gives (a tmpfs, a
// bind of a host directory, a block device), mounted on first use.
import { hostGid, hostUid, type IdMap } from '../core/id-map.ts';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { internal, invalid } from '../core/errors.ts';
import type { VolumeRecord } from '../core/types.ts';
import { isMountPoint, run } from '../image/fs-util.ts';
import type { VolumeDriver } from './driver.ts';

const OPTION_KEYS = ['type', 'device', 'o', 'size'];

/** Makes a directory a container mounts (and its missing parents); the one it made belongs to the container's root, remapped or not (as in Docker). */
export async function mkdirForContainerRoot(dir: string, idMap: IdMap | undefined): Promise<void> {
  const made = await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  if (made !== undefined && idMap) await fs.chown(dir, hostUid(idMap, 0), hostGid(idMap, 0));
}

export class LocalDriver implements VolumeDriver {
  readonly name = 'local';
  private readonly root: string;
  private readonly idMap: IdMap | undefined;

  constructor(root: string, idMap?: IdMap) {
    this.root = root;
    this.idMap = idMap;
  }

  /** A volume's directory, made when missing. */
  private async ensureDataDir(name: string): Promise<string> {
    const dir = this.dataDir(name);
    await mkdirForContainerRoot(dir, this.idMap);
    return dir;
  }

  async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o701 });
  }

  private dataDir(name: string): string {
    return path.join(this.root, name, '_data');
  }

  validate(_name: string, opts: Record<string, string>): void {
    for (const key of Object.keys(opts)) {
      if (!OPTION_KEYS.includes(key)) throw invalid(`invalid option key: "${key}"`);
    }
    const o = opts.o ?? '';
    if (opts.type === undefined && (opts.device !== undefined || o !== '')) {
      throw invalid('missing required option: "type"');
    }
    if (opts.type !== undefined && opts.type !== 'tmpfs' && opts.device === undefined) {
      throw invalid('missing required option: "device"');
    }
    if (/\bbind\b/.test(o) && opts.device !== undefined && !path.isAbsolute(opts.device)) {
      throw invalid(`invalid device for a bind mount: ${opts.device}: must be an absolute path`);
    }
  }

  async create(name: string, _opts: Record<string, string>): Promise<string> {
    return this.ensureDataDir(name);
  }

  async mount(vol: VolumeRecord): Promise<string> {
    const dir = await this.ensureDataDir(vol.Name);
    const opts = vol.Options ?? {};
    if (opts.type === undefined || (await isMountPoint(dir))) return dir;
    let o = opts.o ?? '';
    if (opts.size && opts.type === 'tmpfs') o = [o, `size=${opts.size}`].filter(Boolean).join(',');
    const device = opts.device ?? opts.type;
    if (/\bbind\b/.test(o)) {
      const st = await fs.stat(device).catch(() => undefined);
      if (!st) throw invalid(`error while mounting volume '${dir}': failed to mount local volume: mount ${device}:${dir}, flags: 0x1000: no such file or directory`);
    }
    const args = ['-t', opts.type, ...(o ? ['-o', o] : []), device, dir];
    try {
      await run('mount', args);
    } catch (err) {
      const msg = ((err as { stderr?: string }).stderr ?? String(err)).trim();
      throw invalid(`error while mounting volume '${dir}': failed to mount local volume: ${msg}`);
    }
    return dir;
  }

  async remove(vol: VolumeRecord): Promise<void> {
    const dir = this.dataDir(vol.Name);
    if (await isMountPoint(dir)) {
      await run('umount', [dir]).catch(async () => {
        await run('umount', ['-l', dir]).catch((err: unknown) => {
          throw internal(`unmounting volume ${vol.Name} failed`, err);
        });
      });
    }
    // Never descend into something still mounted (a bind of a host directory).
    if (await isMountPoint(dir)) throw internal(`volume ${vol.Name} is still mounted`);
    await fs.rm(path.join(this.root, vol.Name), { recursive: true, force: true, maxRetries: 3 });
  }
}
