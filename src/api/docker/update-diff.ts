// POST /containers/:id/update and GET /containers/:id/changes (docker update, docker diff).
import type { Agent } from '../../agent/agent-api.ts';
import type { ContainerService } from '../../head/containers.ts';
import { updateContainer, type UpdateRequest } from '../../head/container-update.ts';
import type { EventBus } from '../../head/events.ts';
import type { Routes } from '../http/server.ts';

export function updateDiffRoutes(r: Routes, deps: { agent: Agent; containers: ContainerService; events: EventBus }): void {
  r.add('POST', '/containers/:id/update', async (ctx) => {
    const body = (await ctx.json<UpdateRequest>()) ?? {};
    const { cpus } = await deps.agent.info();
    await updateContainer({ ...deps, cpus }, ctx.param('id'), body);
    ctx.send(200, { Warnings: [] });
  });

  r.add('GET', '/containers/:id/changes', async (ctx) => {
    const c = await deps.containers.resolve(ctx.param('id'));
    const changes = await deps.agent.images.changes(c.Id);
    ctx.send(200, changes.length ? changes : null);
  });
}
