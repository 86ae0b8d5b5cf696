// /containers/* handlers: thin over the head's container service.
import { invalid } from '../../core/errors.ts';
import type { ContainerConfig, ContainerRecord, HostConfig } from '../../core/types.ts';
import type { LogEntry } from '../../agent/agent-api.ts';
import type { Ctx } from '../http/context.ts';
import type { Routes } from '../http/server.ts';
import { matchesLabels, type ContainerService, type WaitCondition } from '../../head/containers.ts';
import type { ImageService } from '../../head/images.ts';
import type { EndpointConfig } from '../../head/networks.ts';
import { checkCreateBody } from './container-schema.ts';
import { containerInspect, containerSummary } from './container-view.ts';
import { parseFilters, type Filters } from './filters.ts';
import { MULTIPLEXED_STREAM, outputChunk, RAW_STREAM } from './stdcopy.ts';

const PS_FILTERS = ['id', 'name', 'label', 'label!', 'status', 'ancestor', 'exited', 'before', 'since', 'health', 'network', 'volume', 'publish', 'expose', 'isolation', 'is-task'];
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

export function containerRoutes(r: Routes, containers: ContainerService, images: ImageService): void {
  r.add('POST', '/containers/create', async (ctx) => {
    const body = await ctx.json<Record<string, unknown>>();
    checkCreateBody(body);
    const { HostConfig: hostConfig, NetworkingConfig: net, ...config } = body as Record<string, unknown>;
    const endpoints = (net as { EndpointsConfig?: Record<string, EndpointConfig> } | null | undefined)?.EndpointsConfig ?? undefined;
    for (const key of ['Cmd', 'Entrypoint'] as const) {
      if (typeof config[key] === 'string') config[key] = [config[key]];
    }
    const c = await containers.create(ctx.query.get('name') ?? undefined, config as ContainerConfig, (hostConfig ?? {}) as HostConfig, endpoints);
    ctx.send(201, { Id: c.Id, Warnings: [] });
  });

  r.add('GET', '/containers/json', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), PS_FILTERS);
    const all = ctx.bool('all');
    const limit = ctx.int('limit') ?? -1;
    const withSize = ctx.bool('size');
    let list = (await containers.list()).sort((a, b) => b.Created.localeCompare(a.Created));
    list = await applyPsFilters(list, filters, containers, images);
    if (!all && limit <= 0 && !filters.status && !filters.exited) list = list.filter((c) => c.State.Running || c.State.Status === 'paused' || c.State.Restarting);
    if (limit > 0) list = list.slice(0, limit);
    const out = [];
    for (const c of list) {
      const size = withSize ? await sizes(c, containers, images) : undefined;
      out.push(containerSummary(c, size));
    }
    ctx.send(200, out);
  });

  r.add('GET', '/containers/:id/json', async (ctx) => {
    const c = await containers.resolve(ctx.param('id'));
    ctx.send(200, containerInspect(c, ctx.bool('size') ? await sizes(c, containers, images) : undefined));
  });

  r.add('POST', '/containers/:id/start', async (ctx) => {
    await containers.start(ctx.param('id'));
    ctx.send(204);
  });

  r.add('POST', '/containers/:id/stop', async (ctx) => {
    await containers.stop(ctx.param('id'), { timeout: ctx.int('t') ?? ctx.int('timeout'), signal: ctx.query.get('signal') ?? undefined });
    ctx.send(204);
  });

  r.add('POST', '/containers/:id/restart', async (ctx) => {
    await containers.restart(ctx.param('id'), { timeout: ctx.int('t') ?? ctx.int('timeout'), signal: ctx.query.get('signal') ?? undefined });
    ctx.send(204);
  });

  r.add('POST', '/containers/:id/kill', async (ctx) => {
    await containers.kill(ctx.param('id'), ctx.query.get('signal') || 'SIGKILL');
    ctx.send(204);
  });

  r.add('POST', '/containers/:id/rename', async (ctx) => {
    await containers.rename(ctx.param('id'), ctx.query.get('name') ?? '');
    ctx.send(204);
  });

  r.add('DELETE', '/containers/:id', async (ctx) => {
    if (ctx.bool('link')) throw invalid('links are not supported');
    await containers.remove(ctx.param('id'), { force: ctx.bool('force'), volumes: ctx.bool('v') });
    ctx.send(204);
  });

  r.add('POST', '/containers/:id/wait', async (ctx) => {
    const condition = (ctx.query.get('condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw invalid(`invalid condition: ${JSON.stringify(condition)}`);
    const c = await containers.resolve(ctx.param('id'));
    // Headers go out at once (as Docker does since 1.30) so that clients know
    // the wait is registered before they start the container.
    const out = ctx.stream(200, 'application/json');
    const abort = new AbortController();
    ctx.onClose(() => abort.abort());
    const result = await containers.wait(c.Id, condition, abort.signal);
    if (!abort.signal.aborted) out.end(JSON.stringify(result) + '\n');
  });

  r.add('POST', '/containers/prune', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), ['label', 'label!', 'until']);
    ctx.send(200, await containers.prune(filters));
  });

  r.add('GET', '/containers/:id/logs', async (ctx) => {
    const c = await containers.resolve(ctx.param('id'));
    const stdout = ctx.bool('stdout');
    const stderr = ctx.bool('stderr');
    if (!stdout && !stderr) throw invalid('Bad parameters: you must choose at least one stream');
    const tailRaw = ctx.query.get('tail');
    const tail = !tailRaw || tailRaw === 'all' ? -1 : Number(tailRaw);
    if (!Number.isInteger(tail)) throw invalid(`invalid value for tail: ${tailRaw}`);
    const abort = new AbortController();
    const entries = containers.logs(c, {
      follow: ctx.bool('follow'),
      stdout,
      stderr,
      since: parseTime(ctx.query.get('since'), 'since'),
      until: parseTime(ctx.query.get('until'), 'until'),
      tail,
      signal: abort.signal,
    });
    const tty = !!c.Config.Tty;
    const out = ctx.stream(200, tty ? RAW_STREAM : MULTIPLEXED_STREAM);
    ctx.onClose(() => abort.abort());
    const timestamps = ctx.bool('timestamps');
    try {
      for await (const e of entries) {
        if (abort.signal.aborted) break;
        out.write(encodeEntry(e, tty, timestamps));
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    }
    out.end();
  });

  // POST /containers/:id/attach lives in attach.ts.
}

function encodeEntry(e: LogEntry, tty: boolean, timestamps: boolean): Buffer {
  const payload = timestamps ? Buffer.concat([Buffer.from(e.time + ' '), e.data]) : e.data;
  return outputChunk(e.stream, payload, tty);
}

/** since/until: unix seconds with optional fraction, or RFC 3339. */
function parseTime(v: string | null, field: string): number {
  if (!v) return 0;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid value for ${field}: ${v}`);
  return t / 1000;
}

async function sizes(c: ContainerRecord, containers: ContainerService, images: ImageService) {
  const rw = await containers.sizeRw(c.Id);
  const img = await images.inspect(c.ImageId).catch(() => undefined);
  return { rw, rootFs: rw + (img?.size ?? 0) };
}

async function applyPsFilters(list: ContainerRecord[], f: Filters, containers: ContainerService, images: ImageService) {
  for (const s of f.status ?? []) if (!STATUSES.includes(s)) throw invalid(`invalid filter 'status=${s}'`);
  for (const h of f.health ?? []) if (!['starting', 'healthy', 'unhealthy', 'none'].includes(h)) throw invalid(`Unrecognised filter value for health: ${h}`);
  const order = (ref: string) => containers.resolve(ref).then((c) => c.Created);
  const before = f.before?.[0] ? await order(f.before[0]) : undefined;
  const since = f.since?.[0] ? await order(f.since[0]) : undefined;
  const ancestors = new Set<string>();
  for (const a of f.ancestor ?? []) {
    const img = await images.inspect(a).catch(() => undefined);
    if (img) ancestors.add(img.id);
  }
  return list.filter((c) => {
    if (f.id && !f.id.some((p) => c.Id.startsWith(p))) return false;
    if (f.name && !f.name.some((n) => new RegExp(n.replace(/^\//, '')).test(c.Name))) return false;
    if (!matchesLabels(c.Config.Labels ?? {}, f)) return false;
    if (f.status && !f.status.includes(c.State.Status)) return false;
    if (f.exited && !(c.State.Status === 'exited' && f.exited.includes(String(c.State.ExitCode)))) return false;
    if (f.ancestor && !ancestors.has(c.ImageId)) return false;
    if (f.health && !f.health.includes(c.State.Health?.Status ?? 'none')) return false;
    if (before !== undefined && c.Created >= before) return false;
    if (since !== undefined && c.Created <= since) return false;
    return true;
  });
}
