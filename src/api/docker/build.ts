// POST /build: the classic builder's endpoint (the docker CLI uses it when no
// buildx plugin is installed). The body is the context tar (or a bare
// Dockerfile); progress goes back as JSON lines: {"stream": ...} text,
// {"aux": {"ID": ...}} for the image, {"errorDetail": ..., "error": ...} last
// on failure. The X-Registry-Config header (credentials by registry) serves
// this build's base image pulls only and is never stored or logged.
import type { Readable } from 'node:stream';
import { BerthError, invalid, notImplemented } from '../../core/errors.ts';
import { parseReference } from '../../core/reference.ts';
import type { Logger } from '../../core/log.ts';
import type { Routes } from '../http/server.ts';
import type { Ctx } from '../http/context.ts';
import type { BuildEvent, BuildRequest } from '../../image/build/builder.ts';
import type { RegistryAuth } from '../../agent/agent-api.ts';
import { registryAuth } from './registry-auth.ts';

export interface BuildBackend {
  build(body: Readable, req: BuildRequest, emit: (e: BuildEvent) => void): Promise<string>;
}

function jsonMap(ctx: Ctx, name: string): Record<string, string | null> {
  const raw = ctx.query.get(name);
  if (!raw) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw invalid(`invalid JSON in ${name}`);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`${name} must be a JSON object`);
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x !== null && typeof x !== 'string') throw invalid(`${name}: value of ${k} must be a string`);
  }
  return v as Record<string, string | null>;
}

/** X-Registry-Config: base64(url) JSON of {server: AuthConfig}, the CLI's every stored login. */
function registryConfig(ctx: Ctx): Record<string, RegistryAuth> {
  const raw = ctx.req.headers['x-registry-config'];
  if (typeof raw !== 'string' || raw.trim() === '') return {};
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(raw.trim(), 'base64').toString('utf8'));
  } catch {
    throw invalid('invalid X-Registry-Config header: not base64-encoded JSON');
  }
  const out: Record<string, RegistryAuth> = {};
  if (doc && typeof doc === 'object') {
    for (const [server, entry] of Object.entries(doc)) {
      const auth = registryAuth(entry);
      if (auth) out[server] = auth;
    }
  }
  return out;
}

export function buildRoutes(r: Routes, builder: BuildBackend, log: Logger): void {
  r.add('POST', '/build', async (ctx) => {
    if (ctx.query.get('version') === '2') throw notImplemented('BuildKit is not supported by this daemon; use the classic builder (DOCKER_BUILDKIT=0)');
    if (ctx.query.get('remote')) throw notImplemented('building from a remote context (git or URL) is not supported');
    const tags = ctx.query.getAll('t').filter(Boolean);
    for (const t of tags) {
      let ref;
      try {
        ref = parseReference(t);
      } catch {
        throw invalid(`invalid reference format: ${t}`);
      }
      if (ref.digest) throw invalid(`invalid reference format: ${t}: a tag cannot contain a digest`);
    }
    const platform = ctx.query.get('platform') ?? '';
    if (platform && !/^linux(\/(amd64|x86_64))?$/.test(platform) && !platform.startsWith(`linux/${process.arch === 'x64' ? 'amd64' : process.arch}`)) {
      throw invalid(`platform ${platform} is not supported by this daemon`);
    }
    const labels = jsonMap(ctx, 'labels');
    const req: BuildRequest = {
      dockerfile: ctx.query.get('dockerfile') || 'Dockerfile',
      tags: tags.map((t) => (parseReference(t).tag ? t : `${t}:latest`)),
      buildArgs: jsonMap(ctx, 'buildargs'),
      labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, v ?? ''])),
      target: ctx.query.get('target') ?? '',
      noCache: ctx.bool('nocache'),
      quiet: ctx.bool('q'),
      networkMode: ctx.query.get('networkmode') || 'default',
      rm: ctx.bool('rm', true) || ctx.bool('forcerm'),
      pull: ctx.bool('pull'),
      auths: registryConfig(ctx),
    };
    const out = ctx.stream(200, 'application/json');
    const write = (obj: unknown) => {
      if (!out.destroyed) out.write(JSON.stringify(obj) + '\n');
    };
    try {
      await builder.build(ctx.req, req, write);
    } catch (err) {
      const stepFailed = err instanceof Error && err.name === 'BuildStepError';
      const ours = err instanceof BerthError && err.kind !== 'internal';
      if (!stepFailed && !ours) log.error('build failed', { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      const message = stepFailed || ours ? (err as Error).message : 'internal error during the build';
      const code = stepFailed ? (err as unknown as { code: number }).code : 1;
      write({ errorDetail: { code, message }, error: message });
    }
    out.end();
  });
}
