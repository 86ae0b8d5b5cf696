// The volume side of the head: `docker volume` verbs with usage checks
// against containers, and the mount lifecycle of containers (plan at create,
// set up on the node, anonymous volumes removed with rm -v).
import { randomBytes } from 'node:crypto';
import { conflict, invalid, isKind } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { ContainerRecord, MountPoint, VolumeRecord } from '../core/types.ts';
import type { Agent, VolumeCreateRequest } from '../agent/agent-api.ts';
import { matchesLabels } from './containers.ts';
import { ANONYMOUS_LABEL, planMounts, type ApiMount } from './mount-plan.ts';

/** What the container service asks of the volume layer. */
export interface ContainerMounts {
  /** Validates and resolves the mounts of a new container (400 on bad input); creates nothing. */
  plan(record: ContainerRecord): Promise<MountPoint[]>;
  /** Creates the volumes the mounts name and sets them up on the node; returns them with host sources. */
  setUp(containerId: string, rootfs: string, mounts: MountPoint[]): Promise<MountPoint[]>;
  /** After a container is gone: its anonymous volumes go too when asked (rm -v, --rm). */
  release(c: ContainerRecord, removeAnonymous: boolean): Promise<void>;
}

export const newVolumeName = () => randomBytes(32).toString('hex');

export class VolumeService implements ContainerMounts {
  private readonly agent: Agent;
  private readonly containers: () => Promise<ContainerRecord[]>;
  private readonly resolveContainer: (ref: string) => Promise<ContainerRecord>;
  private readonly log: Logger;

  constructor(opts: {
    agent: Agent;
    containers: () => Promise<ContainerRecord[]>;
    resolveContainer: (ref: string) => Promise<ContainerRecord>;
    log: Logger;
  }) {
    this.agent = opts.agent;
    this.containers = opts.containers;
    this.resolveContainer = opts.resolveContainer;
    this.log = opts.log;
  }

  create(req: VolumeCreateRequest): Promise<VolumeRecord> {
    return this.agent.volumes.create({ ...req, Name: req.Name || newVolumeName() });
  }

  inspect(name: string): Promise<VolumeRecord> {
    return this.agent.volumes.inspect(name);
  }

  /** Container ids using each volume. */
  async usage(): Promise<Map<string, string[]>> {
    const used = new Map<string, string[]>();
    for (const c of await this.containers()) {
      for (const m of c.Mounts ?? []) {
        if (m.Type !== 'volume' || !m.Name) continue;
        const list = used.get(m.Name) ?? [];
        if (!list.includes(c.Id)) list.push(c.Id);
        used.set(m.Name, list);
      }
    }
    return used;
  }

  async list(filters: Record<string, string[]>): Promise<VolumeRecord[]> {
    const dangling = filters.dangling?.[0];
    if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling)) throw invalid(`invalid filter 'dangling=${dangling}'`);
    const used = await this.usage();
    return (await this.agent.volumes.list())
      .filter((v) => {
        if (dangling !== undefined && (dangling === 'true' || dangling === '1') === used.has(v.Name)) return false;
        if (filters.name && !filters.name.some((n) => safeRegExp(n).test(v.Name))) return false;
        if (filters.driver && !filters.driver.includes(v.Driver)) return false;
        return matchesLabels(v.Labels ?? {}, filters);
      })
      .sort((a, b) => a.Name.localeCompare(b.Name));
  }

  async remove(name: string, opts: { force: boolean }): Promise<void> {
    let vol: VolumeRecord;
    try {
      vol = await this.agent.volumes.inspect(name);
    } catch (err) {
      if (opts.force && isKind(err, 'not-found')) return;
      throw err;
    }
    const users = (await this.usage()).get(vol.Name);
    if (users) throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    await this.agent.volumes.remove(vol.Name);
  }

  /** Unused volumes go: anonymous ones only unless filters say all=true (API 1.42+). */
  async prune(filters: Record<string, string[]>): Promise<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }> {
    const all = filters.all?.[0];
    if (all !== undefined && !['true', 'false', '1', '0'].includes(all)) throw invalid(`invalid filter 'all=${all}'`);
    const everything = all === 'true' || all === '1';
    const used = await this.usage();
    const deleted: string[] = [];
    let space = 0;
    for (const v of await this.agent.volumes.list()) {
      if (used.has(v.Name)) continue;
      if (!everything && !(ANONYMOUS_LABEL in (v.Labels ?? {}))) continue;
      if (!matchesLabels(v.Labels ?? {}, filters)) continue;
      const size = await this.agent.volumes.size(v.Name).catch(() => 0);
      try {
        await this.agent.volumes.remove(v.Name);
        deleted.push(v.Name);
        space += size;
      } catch (err) {
        if (!isKind(err, 'not-found')) throw err;
      }
    }
    return { VolumesDeleted: deleted.length ? deleted : null, SpaceReclaimed: space };
  }

  // ---- the container side ----

  async plan(record: ContainerRecord): Promise<MountPoint[]> {
    const hc = record.HostConfig;
    const from: { spec: string; container: ContainerRecord }[] = [];
    for (const spec of (hc.VolumesFrom as string[] | null | undefined) ?? []) {
      const ref = spec.split(':')[0];
      if (!ref) throw invalid(`invalid volumes-from: ${JSON.stringify(spec)}`);
      from.push({ spec, container: await this.resolveContainer(ref) });
    }
    const mounts = hc.Mounts;
    if (mounts !== undefined && mounts !== null && !Array.isArray(mounts)) throw invalid('invalid value for HostConfig.Mounts: expected an array');
    return planMounts({
      binds: hc.Binds ?? [],
      mounts: (mounts as ApiMount[] | undefined) ?? [],
      tmpfs: hc.Tmpfs ?? {},
      volumesFrom: from,
      volumes: Object.keys(record.Config.Volumes ?? {}),
      newName: newVolumeName,
    });
  }

  async setUp(containerId: string, rootfs: string, mounts: MountPoint[]): Promise<MountPoint[]> {
    for (const m of mounts) {
      if (m.Type !== 'volume' || !m.Name) continue;
      const labels = m.Anonymous ? { [ANONYMOUS_LABEL]: '', ...(m.VolumeOptions?.Labels ?? {}) } : (m.VolumeOptions?.Labels ?? {});
      await this.agent.volumes.create({ Name: m.Name, Driver: m.VolumeOptions?.Driver ?? m.Driver, DriverOpts: m.VolumeOptions?.DriverOpts, Labels: labels });
    }
    return this.agent.volumes.prepareMounts(containerId, rootfs, mounts);
  }

  async release(c: ContainerRecord, removeAnonymous: boolean): Promise<void> {
    if (!removeAnonymous) return;
    const anonymous = (c.Mounts ?? []).filter((m) => m.Type === 'volume' && m.Anonymous && m.Name).map((m) => m.Name!);
    if (anonymous.length === 0) return;
    const used = await this.usage();
    for (const name of anonymous) {
      if ((used.get(name) ?? []).some((id) => id !== c.Id)) continue;
      await this.agent.volumes.remove(name).catch((err) => {
        if (!isKind(err, 'not-found')) this.log.warn('removing anonymous volume failed', { name, error: String(err) });
      });
    }
  }
}

/** Docker matches name filters as regular expressions; a bad one matches literally. */
function safeRegExp(s: string): RegExp {
  try {
    return new RegExp(s);
  } catch {
    return new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  }
}
