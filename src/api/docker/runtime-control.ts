// pause, unpause, top and stats: thin over the container service and the agent.
import { conflict } from '../../core/errors.ts';
import type { Agent, StatsSample } from '../../agent/agent-api.ts';
import type { ContainerService } from '../../head/containers.ts';
import type { Routes } from '../http/server.ts';
import { statsJson } from './stats-view.ts';

export function runtimeControlRoutes(r: Routes, containers: ContainerService, agent: Agent): void {
  r.add('POST', '/containers/:id/pause', async (ctx) => {
    await containers.pause(ctx.param('id'), true);
    ctx.send(204);
  });
  r.add('POST', '/containers/:id/unpause', async (ctx) => {
    await containers.pause(ctx.param('id'), false);
    ctx.send(204);
  });
  r.add('GET', '/containers/:id/top', async (ctx) => {
    const c = await containers.resolve(ctx.param('id'));
    if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
    ctx.send(200, await agent.runtime.top(c.Id, ctx.query.get('ps_args') ?? ''));
  });
  r.add('GET', '/containers/:id/stats', async (ctx) => {
    const c = await containers.resolve(ctx.param('id'));
    const stream = ctx.bool('stream', true) && !ctx.bool('one-shot');
    const name = `/${c.Name}`;
    const sample = async () => (c.State.Running ? agent.runtime.stats(c.Id) : undefined);
    let prev: StatsSample | undefined;
    // Docker's first answer already carries a "precpu" from a moment before.
    if (!ctx.bool('one-shot')) {
      prev = await sample();
      if (!stream) await new Promise((r) => setTimeout(r, 100));
    }
    if (!stream) {
      ctx.send(200, statsJson(c.Id, name, await sample(), prev));
      return;
    }
    const out = ctx.stream(200, 'application/json');
    let closed = false;
    ctx.onClose(() => (closed = true));
    while (!closed) {
      const now = await sample().catch(() => undefined);
      out.write(JSON.stringify(statsJson(c.Id, name, now, prev)) + '\n');
      prev = now;
      if (!now) break; // stopped: Docker ends the stream
      await new Promise((r) => setTimeout(r, 1000));
      const latest = await containers.resolve(c.Id).catch(() => undefined);
      if (!latest?.State.Running) break;
    }
    out.end();
  });
}
