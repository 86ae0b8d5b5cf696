// /images/* handlers. Image names contain slashes ("localhost:5000/app"), so
// routes under /images/ are matched by suffix rather than by path segments.
import type { Writable } from 'node:stream';
import { BerthError, invalid, notFound } from '../../core/errors.ts';
import type { Ctx } from '../http/context.ts';
import type { Routes } from '../http/server.ts';
import type { ImageService } from '../../head/images.ts';
import { parseFilters } from './filters.ts';
import { imageInspect, imageSummary } from './image-view.ts';
import { pullHandler, pushHandler } from './registry-images.ts';
import { isComposeV1 } from './client-quirks.ts';

const LIST_FILTERS = ['dangling', 'label', 'label!', 'before', 'since', 'reference', 'until'];

export function imageRoutes(r: Routes, images: ImageService): void {
  r.add('GET', '/images/json', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), LIST_FILTERS);
    const list = await images.list({ all: ctx.bool('all'), filters });
    ctx.send(200, list.map((img) => imageSummary(img, ctx.apiVersion)));
  });

  r.add('POST', '/images/load', async (ctx) => {
    // "quiet" only suppresses progress bars: the "Loaded image" lines are
    // printed either way, as Docker does.
    ctx.bool('quiet');
    const out = ctx.stream(200, 'application/json');
    try {
      await images.load(ctx.req, (message) => {
        out.write(JSON.stringify({ stream: message.endsWith('\n') ? message : message + '\n' }) + '\n');
      });
    } catch (err) {
      // The status line is gone: report the failure the way docker load reads it.
      out.write(JSON.stringify({ errorDetail: { message: errMessage(err) }, error: errMessage(err) }) + '\n');
    }
    out.end();
  });

  r.add('GET', '/images/get', async (ctx) => {
    const names = ctx.query.getAll('names').flatMap((n) => n.split(',')).filter(Boolean);
    if (names.length === 0) throw invalid('no image names given');
    await saveTo(ctx, images, names);
  });

  r.add('POST', '/images/create', async (ctx) => {
    const fromSrc = ctx.query.get('fromSrc');
    if (ctx.query.get('fromImage')) return pullHandler(ctx, images);
    if (fromSrc !== '-') throw invalid('fromSrc must be "-" (the request body); importing from a URL is not supported');
    const img = await images.import(ctx.req, {
      repo: ctx.query.get('repo') || undefined,
      tag: ctx.query.get('tag') || undefined,
      changes: ctx.query.getAll('changes'),
      message: ctx.query.get('message') || undefined,
    });
    ctx.send(200, { status: img.id });
  });

  r.add('POST', '/images/prune', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), ['dangling', 'label', 'label!', 'until']);
    const all = filters.dangling?.[0] === 'false' || filters.dangling?.[0] === '0';
    delete filters.dangling;
    ctx.send(200, await images.prune({ all, filters }));
  });

  const byName = async (ctx: Ctx) => {
    const rest = decodeURIComponent(ctx.param('*'));
    const method = ctx.req.method;
    const suffix = (s: string) => (rest.endsWith(s) ? rest.slice(0, -s.length) : undefined);
    let name: string | undefined;
    if (method === 'GET' && (name = suffix('/json')) !== undefined) {
      return ctx.send(200, imageInspect(await images.inspect(name), isComposeV1(ctx) ? Math.min(ctx.apiVersion, 1.44) : ctx.apiVersion));
    }
    if (method === 'GET' && (name = suffix('/history')) !== undefined) {
      return ctx.send(200, await images.history(name));
    }
    if (method === 'GET' && (name = suffix('/get')) !== undefined) {
      return saveTo(ctx, images, [name]);
    }
    if (method === 'POST' && (name = suffix('/tag')) !== undefined) {
      const repo = ctx.query.get('repo');
      if (!repo) throw invalid('repository name (repo) must be given');
      const tag = ctx.query.get('tag') || 'latest';
      // Checked on its own: a "tag" holding "/" or ":" would otherwise re-split the reference.
      if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw invalid(`invalid tag format: ${JSON.stringify(tag)}`);
      await images.tag(name, `${repo}:${tag}`);
      return ctx.send(201);
    }
    if (method === 'POST' && (name = suffix('/push')) !== undefined) {
      return pushHandler(ctx, images, name);
    }
    if (method === 'DELETE') {
      return ctx.send(200, await images.remove(rest, { force: ctx.bool('force'), noPrune: ctx.bool('noprune') }));
    }
    throw notFound('page not found');
  };
  r.add(['GET', 'POST', 'DELETE'], '/images/*', byName);
}

async function saveTo(ctx: Ctx, images: ImageService, names: string[]): Promise<void> {
  // Resolve every name before the status line goes out, so a typo is a 404.
  for (const n of names) await images.inspect(n);
  const out = ctx.stream(200, 'application/x-tar');
  await images.save(names, out as unknown as Writable);
  out.end();
}

/** Messages of Berth's own errors are meant for users; anything else is not shown. */
function errMessage(err: unknown): string {
  return err instanceof BerthError && err.kind !== 'internal' ? err.message : 'internal error while loading the image';
}

