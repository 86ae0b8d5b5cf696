// POST /containers/:id/attach and /resize. Output comes from the container's
// log (so nothing written between attach and start is lost); input goes to
// the process's stdin once it runs; the detach keys end the session and
// leave the container running.
import { invalid } from '../../core/errors.ts';
import type { AttachService } from '../../head/attach.ts';
import type { ContainerService } from '../../head/containers.ts';
import type { LogEntry } from '../../agent/agent-api.ts';
import type { Ctx } from '../http/context.ts';
import type { Routes } from '../http/server.ts';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from './detach-keys.ts';
import { pumpInput } from './stdin-pump.ts';
import { MULTIPLEXED_STREAM, outputChunk, RAW_STREAM } from './stdcopy.ts';

export function attachRoutes(r: Routes, containers: ContainerService, attach: AttachService): void {
  r.add('POST', '/containers/:id/attach', (ctx) => attachHandler(ctx, containers, attach));
  r.add('POST', '/containers/:id/resize', async (ctx) => {
    await attach.resize(ctx.param('id'), size(ctx, 'h'), size(ctx, 'w'));
    ctx.send(200);
  });
}

/** h and w are unsigned: Docker answers 400 to anything else. */
export function size(ctx: Ctx, name: string): number {
  const v = ctx.query.get(name) ?? '0';
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw invalid(`invalid ${name === 'h' ? 'height' : 'width'}: ${JSON.stringify(v)}: expected a number from 0 to 65535`);
  return Number(v);
}

async function attachHandler(ctx: Ctx, containers: ContainerService, attach: AttachService): Promise<void> {
  const c = await containers.resolve(ctx.param('id'));
  const wantStream = ctx.bool('stream');
  const wantLogs = ctx.bool('logs');
  const wantStdin = ctx.bool('stdin');
  const stdout = ctx.bool('stdout');
  const stderr = ctx.bool('stderr');
  const keys = parseDetachKeys(ctx.query.get('detachKeys') || DEFAULT_DETACH_KEYS);
  const tty = !!c.Config.Tty;
  const socket = ctx.hijack(tty ? RAW_STREAM : MULTIPLEXED_STREAM);
  const abort = new AbortController();
  socket.on('close', () => abort.abort());
  socket.on('error', () => abort.abort());
  attach.announce(c.Id);

  const detached = new AbortController();
  const stdin = wantStdin && wantStream ? attach.stdin(c.Id, abort.signal).catch(() => null) : Promise.resolve(null);
  pumpInput(socket, stdin, keys, () => {
    detached.abort();
    abort.abort();
  });
  abort.signal.addEventListener('abort', () => void stdin.then((s) => s?.end()), { once: true });

  if (c.HostConfig.LogConfig?.Type === 'none' || (!stdout && !stderr)) {
    if (wantStream) await containers.wait(c.Id, 'next-exit', abort.signal);
    socket.end();
    return;
  }
  const since = wantLogs ? 0 : Date.now() / 1000 - 0.001;
  const exited = new AbortController();
  if (wantStream) void containers.wait(c.Id, c.State.Running ? 'not-running' : 'next-exit', abort.signal).then(() => exited.abort());
  try {
    const opts = { follow: wantStream, followUntil: exited.signal, stdout, stderr, since, until: 0, tail: -1, signal: abort.signal };
    for await (const e of containers.logs(c, opts)) {
      if (abort.signal.aborted) break;
      socket.write(encode(e, tty));
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
  socket.end();
}

function encode(e: LogEntry, tty: boolean): Buffer {
  return outputChunk(e.stream, e.data, tty);
}
