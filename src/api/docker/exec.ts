// /containers/:id/exec and /exec/:id/*: create, start (hijacked streams or
// detached), resize, inspect.
import { invalid } from '../../core/errors.ts';
import type { ExecConfig, ExecService } from '../../head/exec.ts';
import type { Ctx } from '../http/context.ts';
import type { Routes } from '../http/server.ts';
import { checkExecCreate } from './exec-schema.ts';
import { readExact } from './read-exact.ts';
import { size } from './attach.ts';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from './detach-keys.ts';
import { pumpInput } from './stdin-pump.ts';
import { MULTIPLEXED_STREAM, outputChunk, RAW_STREAM } from './stdcopy.ts';

export function execRoutes(r: Routes, execs: ExecService): void {
  r.add('POST', '/containers/:id/exec', async (ctx) => {
    const body = (await ctx.json<ExecConfig>()) ?? {};
    if (typeof body !== 'object' || Array.isArray(body)) throw invalid('invalid exec configuration: expected a JSON object');
    checkExecCreate(body);
    if (body.DetachKeys) parseDetachKeys(body.DetachKeys);
    const rec = await execs.create(ctx.param('id'), body);
    ctx.send(201, { Id: rec.ID });
  });

  r.add('POST', '/exec/:id/start', async (ctx) => {
    const body = (await startBody(ctx)) ?? {};
    const id = ctx.param('id');
    const rec = execs.get(id);
    if (body.Detach) {
      await execs.start(id, { detach: true, tty: body.Tty, consoleSize: body.ConsoleSize });
      ctx.send(200);
      return;
    }
    const session = await execs.start(id, { detach: false, tty: body.Tty, consoleSize: body.ConsoleSize });
    const tty = body.Tty ?? !!rec.Config.Tty;
    const socket = ctx.hijack(tty ? RAW_STREAM : MULTIPLEXED_STREAM);
    const gone = new AbortController();
    socket.on('close', () => gone.abort());
    socket.on('error', () => gone.abort());
    const keys = parseDetachKeys(rec.Config.DetachKeys || DEFAULT_DETACH_KEYS);
    pumpInput(socket, Promise.resolve(rec.Config.AttachStdin ? session.stdin : null), keys, () => socket.destroy());
    const wantOut = rec.Config.AttachStdout !== false;
    const wantErr = rec.Config.AttachStderr !== false;
    for await (const o of session.output) {
      if (gone.signal.aborted) continue; // keep draining so that the process never blocks on a full pipe
      if (o.stream === 'stdout' ? !wantOut : !wantErr) continue;
      socket.write(outputChunk(o.stream, o.data, tty));
    }
    const { error } = await session.exited;
    if (error && !gone.signal.aborted) {
      const text = Buffer.from(`OCI runtime exec failed: ${error}\r\n`);
      socket.write(outputChunk('stdout', text, tty));
    }
    socket.end();
  });

  r.add('POST', '/exec/:id/resize', async (ctx) => {
    await execs.resize(ctx.param('id'), size(ctx, 'h'), size(ctx, 'w'));
    ctx.send(200);
  });

  r.add('GET', '/exec/:id/json', (ctx) => {
    const e = execs.get(ctx.param('id'));
    const cmd = e.Config.Cmd ?? [];
    ctx.send(200, {
      ID: e.ID,
      Running: e.Running,
      ExitCode: e.ExitCode,
      ProcessConfig: { tty: !!e.Config.Tty, entrypoint: cmd[0] ?? '', arguments: cmd.slice(1), privileged: !!e.Config.Privileged, user: e.Config.User ?? '' },
      OpenStdin: !!e.Config.AttachStdin,
      OpenStderr: !!e.Config.AttachStderr,
      OpenStdout: !!e.Config.AttachStdout,
      CanRemove: false,
      ContainerID: e.ContainerID,
      DetachKeys: e.Config.DetachKeys ?? '',
      Pid: e.Pid,
    });
  });
}

type StartBody = { Detach?: boolean; Tty?: boolean; ConsoleSize?: [number, number] | null };

/** On an upgrade request node:http leaves the body in the socket, ahead of the client's input. */
async function startBody(ctx: Ctx): Promise<StartBody | undefined> {
  if (!ctx.req.headers.upgrade) return ctx.json<StartBody>();
  const length = Number(ctx.req.headers['content-length'] ?? 0);
  if (!(length > 0)) return undefined;
  if (length > 64 * 1024) throw invalid('exec start body too large');
  const raw = await readExact(ctx.req.socket, length);
  try {
    return JSON.parse(raw.toString('utf8')) as StartBody;
  } catch (err) {
    throw invalid(`invalid JSON in request body: ${(err as Error).message}`);
  }
}
