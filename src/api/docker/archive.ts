// `docker cp` (HEAD/GET/PUT /containers/{id}/archive), `docker export` and
// `docker commit` (POST /commit): thin over the head's ContainerFilesService.
import { pipeline } from 'node:stream/promises';
import type { ContainerConfig } from '../../core/types.ts';
import type { PathStat } from '../../agent/agent-api.ts';
import type { ContainerFilesService } from '../../head/container-files.ts';
import type { Routes } from '../http/server.ts';

const TAR = 'application/x-tar';

/** X-Docker-Container-Path-Stat: base64 of the stat as JSON. */
function statHeader(stat: PathStat): Record<string, string> {
  return { 'X-Docker-Container-Path-Stat': Buffer.from(JSON.stringify(stat)).toString('base64') };
}

export function archiveRoutes(r: Routes, files: ContainerFilesService): void {
  r.add('HEAD', '/containers/:id/archive', async (ctx) => {
    const stat = await files.stat(ctx.param('id'), ctx.query.get('path') ?? '');
    ctx.send(200, undefined, statHeader(stat));
  });

  r.add('GET', '/containers/:id/archive', async (ctx) => {
    const { stat, tar } = await files.getArchive(ctx.param('id'), ctx.query.get('path') ?? '');
    const out = ctx.stream(200, TAR, statHeader(stat));
    await pipeline(tar, out).catch(() => undefined);
  });

  r.add('PUT', '/containers/:id/archive', async (ctx) => {
    await files.putArchive(ctx.param('id'), ctx.query.get('path') ?? '', ctx.req, {
      noOverwriteDirNonDir: ctx.bool('noOverwriteDirNonDir'),
      copyUIDGID: ctx.bool('copyUIDGID'),
    });
    ctx.send(200);
  });

  r.add('GET', '/containers/:id/export', async (ctx) => {
    const tar = await files.export(ctx.param('id'));
    const out = ctx.stream(200, TAR);
    await pipeline(tar, out).catch(() => undefined);
  });

  r.add('POST', '/commit', async (ctx) => {
    const config = await ctx.json<ContainerConfig | null>();
    const img = await files.commit(ctx.query.get('container') ?? '', {
      repo: ctx.query.get('repo') || undefined,
      tag: ctx.query.get('tag') || undefined,
      comment: ctx.query.get('comment') || undefined,
      author: ctx.query.get('author') || undefined,
      changes: ctx.query.getAll('changes').filter(Boolean),
      config: config ?? undefined,
      // Docker pauses unless told pause=0/false.
      pause: !/^(0|false)$/i.test(ctx.query.get('pause') ?? ''),
    });
    ctx.send(201, { Id: img.id });
  });
}
