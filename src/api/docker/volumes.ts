// /volumes/* handlers: thin over the head's volume service.
import { invalid } from '../../core/errors.ts';
import type { VolumeRecord } from '../../core/types.ts';
import type { VolumeService } from '../../head/volumes.ts';
import type { Routes } from '../http/server.ts';
import { parseFilters } from './filters.ts';

const strMap = (v: unknown, field: string): Record<string, string> | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw invalid(`invalid value for ${field}: expected an object of strings`);
  }
  return v as Record<string, string>;
};

/** The Engine API's Volume object. */
export function volumeView(v: VolumeRecord, usage?: { Size: number; RefCount: number }) {
  return {
    CreatedAt: v.CreatedAt,
    Driver: v.Driver,
    Labels: v.Labels ?? {},
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Options: v.Options,
    Scope: v.Scope,
    ...(usage ? { UsageData: usage } : {}),
  };
}

export function volumeRoutes(r: Routes, volumes: VolumeService): void {
  r.add('GET', '/volumes', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), ['dangling', 'name', 'label', 'label!', 'driver']);
    ctx.send(200, { Volumes: (await volumes.list(filters)).map((v) => volumeView(v)), Warnings: null });
  });

  r.add('POST', '/volumes/create', async (ctx) => {
    const body = (await ctx.json<Record<string, unknown>>()) ?? {};
    if (typeof body !== 'object' || Array.isArray(body)) throw invalid('volume create request must be a JSON object');
    const name = body.Name ?? '';
    if (typeof name !== 'string') throw invalid('invalid value for Name: expected a string');
    const driver = body.Driver ?? '';
    if (typeof driver !== 'string') throw invalid('invalid value for Driver: expected a string');
    const v = await volumes.create({ Name: name, Driver: driver, DriverOpts: strMap(body.DriverOpts, 'DriverOpts'), Labels: strMap(body.Labels, 'Labels') });
    ctx.send(201, volumeView(v));
  });

  r.add('GET', '/volumes/:name', async (ctx) => {
    ctx.send(200, volumeView(await volumes.inspect(ctx.param('name'))));
  });

  r.add('DELETE', '/volumes/:name', async (ctx) => {
    await volumes.remove(ctx.param('name'), { force: ctx.bool('force') });
    ctx.send(204);
  });

  r.add('POST', '/volumes/prune', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), ['label', 'label!', 'all']);
    ctx.send(200, await volumes.prune(filters));
  });
}
