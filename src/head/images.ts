// The image side of the head: list filters, usage checks against containers,
// and events; storage itself is the node's (agent.images).
import type { Readable, Writable } from 'node:stream';
import { invalid } from '../core/errors.ts';
import { familiarName, normalizeTagged, parseReference } from '../core/reference.ts';
import type { ImageRecord } from '../core/types.ts';
import type { Agent, HistoryEntry, ImageUsage, ProgressMessage, RegistryAuth, RemovedImage } from '../agent/agent-api.ts';
import type { ContainerService } from './containers.ts';
import { matchesLabels, parseUntil } from './containers.ts';
import type { EventBus } from './events.ts';

export class ImageService {
  private readonly agent: Agent;
  private readonly containers: ContainerService;
  private readonly events: EventBus;

  constructor(opts: { agent: Agent; containers: ContainerService; events: EventBus }) {
    this.agent = opts.agent;
    this.containers = opts.containers;
    this.events = opts.events;
  }

  inspect(nameOrId: string): Promise<ImageRecord> {
    return this.agent.images.inspect(nameOrId);
  }

  history(nameOrId: string): Promise<HistoryEntry[]> {
    return this.agent.images.history(nameOrId);
  }

  async list(opts: { all: boolean; filters: Record<string, string[]> }): Promise<ImageRecord[]> {
    const f = opts.filters;
    const images = await this.agent.images.list();
    const at = async (ref: string) => (await this.agent.images.inspect(ref)).loadedAt;
    const before = f.before?.[0] ? await at(f.before[0]) : undefined;
    const since = f.since?.[0] ? await at(f.since[0]) : undefined;
    const until = f.until?.[0] ? parseUntil(f.until[0]) : undefined;
    const dangling = f.dangling?.[0];
    if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling)) {
      throw invalid(`invalid filter 'dangling=${dangling}'`);
    }
    const parents = new Set(images.map((img) => img.parent).filter(Boolean));
    return images
      .filter((img) => {
        const isDangling = img.repoTags.length === 0 && img.repoDigests.length === 0;
        // Untagged parents (a build's intermediate images) show only with --all, as in Docker.
        if (!opts.all && dangling === undefined && isDangling && parents.has(img.id)) return false;
        if (dangling !== undefined && (dangling === 'true' || dangling === '1') !== isDangling) return false;
        if (f.reference && !f.reference.some((pattern) => img.repoTags.some((t) => matchReference(pattern, t)))) return false;
        if (!matchesLabels(img.config.config?.Labels ?? {}, f)) return false;
        if (before !== undefined && !(img.loadedAt < before)) return false;
        if (since !== undefined && !(img.loadedAt > since)) return false;
        if (until !== undefined && !(Date.parse(imageCreated(img)) < until)) return false;
        return true;
      })
      // With a reference filter only the matching tags are shown, as in Docker.
      .map((img) => (f.reference ? { ...img, repoTags: img.repoTags.filter((t) => f.reference.some((p) => matchReference(p, t))) } : img))
      .sort((a, b) => imageCreated(b).localeCompare(imageCreated(a)));
  }

  async load(tar: Readable, progress: (message: string) => void): Promise<string[]> {
    const loaded = await this.agent.images.load(tar, progress);
    for (const ref of loaded) this.events.emitImage('load', ref, ref);
    return loaded;
  }

  async pull(ref: string, opts: { platform?: string; auth?: RegistryAuth; allTags?: boolean }, progress: (m: ProgressMessage) => void): Promise<string[]> {
    const pulled = await this.agent.images.pull(ref, opts, progress);
    for (const r of pulled) this.events.emitImage('pull', r, r);
    return pulled;
  }

  async push(ref: string, opts: { auth?: RegistryAuth }, progress: (m: ProgressMessage) => void): Promise<void> {
    await this.agent.images.push(ref, opts, progress);
    this.events.emitImage('push', ref, ref);
  }

  login(auth: RegistryAuth): Promise<{ identityToken?: string }> {
    return this.agent.images.login(auth);
  }

  save(names: string[], out: Writable): Promise<void> {
    return this.agent.images.save(names, out);
  }

  async import(tar: Readable, opts: { repo?: string; tag?: string; changes?: string[]; message?: string }): Promise<ImageRecord> {
    const img = await this.agent.images.import(tar, opts);
    this.events.emitImage('import', img.id, img.repoTags[0] ?? img.id);
    return img;
  }

  async tag(source: string, target: string): Promise<void> {
    await this.agent.images.tag(source, target);
    // Docker's tag event names the image by id and the new reference.
    const img = await this.agent.images.inspect(target).catch(() => undefined);
    this.events.emitImage('tag', img?.id ?? source, normalizeTagged(target), img?.config.config?.Labels ?? {});
  }

  async remove(nameOrId: string, opts: { force: boolean; noPrune: boolean }): Promise<RemovedImage[]> {
    const img = await this.agent.images.inspect(nameOrId).catch(() => undefined);
    const removed = await this.agent.images.remove(nameOrId, { ...opts, usage: await this.usage() });
    for (const r of removed) {
      // As Docker: the image id is the actor of an untag (the reference went away).
      if (r.Untagged) this.events.emitImage('untag', img?.id ?? r.Untagged, img?.id ?? r.Untagged);
      if (r.Deleted) this.events.emitImage('delete', r.Deleted, r.Deleted);
    }
    return removed;
  }

  async prune(opts: { all: boolean; filters: Record<string, string[]> }) {
    return this.agent.images.prune({ ...opts, usage: await this.usage() });
  }

  /** Which container uses an image, preferring a running one. */
  private async usage(): Promise<ImageUsage> {
    const byImage = new Map<string, { containerId: string; running: boolean }>();
    for (const c of await this.containers.list()) {
      const prev = byImage.get(c.ImageId);
      if (!prev || (!prev.running && c.State.Running)) byImage.set(c.ImageId, { containerId: c.Id, running: c.State.Running });
    }
    return (imageId) => byImage.get(imageId);
  }
}

export function imageCreated(img: ImageRecord): string {
  return img.config.created ?? img.loadedAt;
}

/** `reference` filter: glob on the familiar name, with or without tag. */
function matchReference(pattern: string, repoTag: string): boolean {
  const glob = (p: string) => new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '.') + '$');
  const colon = repoTag.lastIndexOf(':');
  const name = repoTag.slice(0, colon);
  if (glob(pattern).test(repoTag) || glob(pattern).test(name)) return true;
  try {
    const ref = parseReference(pattern);
    return familiarName(ref) === name && (!ref.tag || repoTag.endsWith(`:${ref.tag}`));
  } catch {
    return false;
  }
}
