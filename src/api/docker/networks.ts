// /networks/* handlers: thin over the head's network service.
import { invalid } from '../../core/errors.ts';
import type { Routes } from '../http/server.ts';
import { matchesLabels } from '../../head/containers.ts';
import type { EndpointConfig, NetworkCreateRequest, NetworkRecord, NetworkService } from '../../head/networks.ts';
import { parseFilters } from './filters.ts';
import { checkNetworkConnect, checkNetworkCreate, checkNetworkDisconnect } from './network-schema.ts';

const LS_FILTERS = ['driver', 'id', 'label', 'label!', 'name', 'scope', 'type', 'dangling'];
const PREDEFINED = ['bridge', 'host', 'none'];

export function networkRoutes(r: Routes, networks: NetworkService): void {
  r.add('GET', '/networks', async (ctx) => {
    const f = parseFilters(ctx.query.get('filters'), LS_FILTERS);
    const out = [];
    for (const n of await networks.list()) {
      if (f.name && !f.name.some((v) => n.Name.includes(v))) continue;
      if (f.id && !f.id.some((v) => n.Id.startsWith(v))) continue;
      if (f.driver && !f.driver.includes(n.Driver)) continue;
      if (f.scope && !f.scope.includes(n.Scope)) continue;
      if (f.type && !f.type.includes(PREDEFINED.includes(n.Name) ? 'builtin' : 'custom')) continue;
      if (!matchesLabels(n.Labels, f)) continue;
      if (f.dangling) {
        const dangling = !PREDEFINED.includes(n.Name) && (await networks.attached(n)).length === 0;
        if (f.dangling.includes('true') !== dangling) continue;
      }
      out.push(await networks.view(n));
    }
    out.sort((a, b) => a.Name.localeCompare(b.Name));
    ctx.send(200, out);
  });

  r.add('GET', '/networks/:id', async (ctx) => {
    ctx.send(200, await networks.view(await networks.resolve(ctx.param('id'))));
  });

  r.add('POST', '/networks/create', async (ctx) => {
    const body = (await ctx.json<NetworkCreateRequest>()) ?? ({} as NetworkCreateRequest);
    if (typeof body !== 'object' || body === null || typeof body.Name !== 'string') throw invalid('Name: a network name is required');
    checkNetworkCreate(body);
    ctx.send(201, await networks.create(body));
  });

  r.add('DELETE', '/networks/:id', async (ctx) => {
    await networks.remove(ctx.param('id'));
    ctx.send(204);
  });

  r.add('POST', '/networks/prune', async (ctx) => {
    const f = parseFilters(ctx.query.get('filters'), ['label', 'label!', 'until']);
    const removed = await networks.prune(f);
    ctx.send(200, { NetworksDeleted: removed });
  });

  r.add('POST', '/networks/:id/connect', async (ctx) => {
    const body = (await ctx.json<{ Container?: string; EndpointConfig?: EndpointConfig }>()) ?? {};
    if (!body.Container) throw invalid('Container: a container is required');
    checkNetworkConnect(body);
    await networks.connect(ctx.param('id'), body.Container, body.EndpointConfig ?? undefined);
    ctx.send(200);
  });

  r.add('POST', '/networks/:id/disconnect', async (ctx) => {
    const body = (await ctx.json<{ Container?: string; Force?: boolean }>()) ?? {};
    if (!body.Container) throw invalid('Container: a container is required');
    checkNetworkDisconnect(body);
    await networks.disconnect(ctx.param('id'), body.Container, !!body.Force);
    ctx.send(200);
  });
}

export type { NetworkRecord };
