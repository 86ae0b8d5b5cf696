// `docker cp`, `docker export` and `docker commit` on the head's side:
// find the container, then ask its node (agent.files, agent.images.commit).
import type { Readable } from 'node:stream';
import { invalid } from '../core/errors.ts';
import type { ContainerConfig, ContainerRecord, ImageRecord, ImageRunConfig } from '../core/types.ts';
import type { Agent, ContainerFsRef, PathStat } from '../agent/agent-api.ts';
import type { ContainerService } from './containers.ts';
import type { EventBus } from './events.ts';

const RUN_CONFIG_FIELDS = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild'] as const;

/** The parts of a container's Config that an image keeps. */
export function runConfigOf(config: ContainerConfig): ImageRunConfig {
  const out: Record<string, unknown> = {};
  for (const k of RUN_CONFIG_FIELDS) {
    const v = (config as Record<string, unknown>)[k];
    if (v !== undefined && v !== null && v !== '') out[k] = v;
  }
  return out as ImageRunConfig;
}

export class ContainerFilesService {
  private readonly agent: Agent;
  private readonly containers: ContainerService;
  private readonly events: EventBus;

  constructor(opts: { agent: Agent; containers: ContainerService; events: EventBus }) {
    this.agent = opts.agent;
    this.containers = opts.containers;
    this.events = opts.events;
  }

  private async ref(name: string): Promise<{ c: ContainerRecord; ref: ContainerFsRef }> {
    const c = await this.containers.resolve(name);
    return { c, ref: { containerId: c.Id, name, mounts: c.Mounts ?? [], readonlyRootfs: !!c.HostConfig.ReadonlyRootfs } };
  }

  async stat(name: string, path: string): Promise<PathStat> {
    if (!path) throw invalid('path must not be empty');
    return this.agent.files.stat((await this.ref(name)).ref, path);
  }

  async getArchive(name: string, path: string): Promise<{ stat: PathStat; tar: Readable }> {
    if (!path) throw invalid('path must not be empty');
    const { c, ref } = await this.ref(name);
    const out = await this.agent.files.getArchive(ref, path);
    this.events.emit('container', 'archive-path', c, { path });
    return out;
  }

  async putArchive(name: string, path: string, tar: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void> {
    if (!path) throw invalid('path must not be empty');
    const { c, ref } = await this.ref(name);
    await this.agent.files.putArchive(ref, path, tar, opts);
    this.events.emit('container', 'extract-to-dir', c, { path });
  }

  async export(name: string): Promise<Readable> {
    const c = await this.containers.resolve(name);
    const tar = await this.agent.files.exportRootfs(c.Id);
    this.events.emit('container', 'export', c);
    return tar;
  }

  /** A new image from the container's changes; `config` (the request body) overrides the container's own. */
  async commit(
    name: string,
    opts: { repo?: string; tag?: string; comment?: string; author?: string; changes: string[]; config?: ContainerConfig; pause?: boolean },
  ): Promise<ImageRecord> {
    const c = await this.containers.resolve(name);
    const base = runConfigOf(c.Config);
    const override = opts.config ? runConfigOf(opts.config) : {};
    // A frozen container cannot change its files while they are copied (Docker's default).
    const pause = opts.pause !== false && c.State.Running && !c.State.Paused;
    if (pause) await this.containers.pause(c.Id, true);
    let img: ImageRecord;
    try {
      img = await this.agent.images.commit(c.Id, {
        imageId: c.ImageId,
        config: { ...base, ...override },
        changes: opts.changes,
        repo: opts.repo,
        tag: opts.tag,
        comment: opts.comment,
        author: opts.author,
      });
      // Before the unpause, as Docker orders them.
      this.events.emit('container', 'commit', c, { comment: opts.comment ?? '', imageID: img.id });
    } finally {
      if (pause) await this.containers.pause(c.Id, false);
    }
    return img;
  }
}
