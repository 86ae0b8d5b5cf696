// A `docker exec` process without a terminal, run as our own child that
// hands its stdio to the command and exits with the command's status: `runc
// exec` (exec-runc.ts) or berth-exec (exec-helper.ts). The pipes carry the
// output; the child's exit is the exec's exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ExecOutput, ExecSession } from '../agent/agent-api.ts';
import { notImplemented } from '../core/errors.ts';
import { ChunkQueue } from './chunk-queue.ts';

export interface ExecChildStdio {
  stdin: boolean;
  /** Discard output (docker exec -d). */
  detach: boolean;
  /** Pipes on fd 3 (start errors, read by startError) and fd 4 (the child's plan, written by us). */
  errorAndPlanPipes?: boolean;
}

export function spawnExecChild(file: string, args: string[], o: ExecChildStdio): ChildProcess {
  const out = o.detach ? 'ignore' : 'pipe';
  const extra = o.errorAndPlanPipes ? (['pipe', 'pipe'] as const) : [];
  return spawn(file, args, { stdio: [o.stdin ? 'pipe' : 'ignore', out, out, ...extra] });
}

export interface SuperviseOptions {
  /** Written to the child's fd 4 (spawned with errorAndPlanPipes). */
  plan?: Buffer;
  /** After exit: the reason the command never ran, if it did not (with what the child wrote to fd 3). */
  startError(errorPipeText: string): Promise<string | undefined>;
}

/**
 * The session of a spawned child. It goes back at once, without waiting for
 * the fork and exec to finish ('spawn'): the caller answers its client
 * meanwhile. A child that cannot run ends with exitCode 126 and the reason.
 */
export function superviseExecChild(child: ChildProcess, file: string, o: SuperviseOptions): ExecSession {
  const output = new ChunkQueue<ExecOutput>();
  let open = (child.stdout ? 1 : 0) + (child.stderr ? 1 : 0);
  const pump = (stream: Readable | null, name: 'stdout' | 'stderr') => {
    if (!stream) return;
    stream.on('data', (data: Buffer) => output.push({ stream: name, data }));
    stream.on('error', () => undefined);
    stream.on('close', () => {
      if (--open === 0) output.end();
    });
  };
  pump(child.stdout, 'stdout');
  pump(child.stderr, 'stderr');
  if (open === 0) output.end();
  child.stdin?.on('error', () => undefined);
  const errorText = readAll((child.stdio[3] as Readable | null | undefined) ?? null);
  if (o.plan) {
    const plan = child.stdio[4] as Writable | null;
    plan?.on('error', () => undefined); // the child died early: its exit says why
    plan?.end(o.plan);
  }

  const exited = new Promise<{ exitCode: number; error?: string }>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      void errorText
        .then((text) => o.startError(text))
        .then((error) => {
          if (error) resolve({ exitCode: 126, error });
          else resolve({ exitCode: code ?? 128 + (signal ? signalNumber(signal) : 9) });
        });
    };
    child.on('error', (err) => resolve({ exitCode: 126, error: `cannot run ${file}: ${err.message}` }));
    // (A child taken ready-made may have ended already.)
    if (hasExited(child)) finish(child.exitCode, child.signalCode);
    else child.on('exit', finish);
  });
  return {
    pid: child.pid ?? 0,
    stdin: child.stdin,
    output,
    exited,
    resize: async () => {
      throw notImplemented('cannot resize an exec session without a TTY');
    },
    // Both children forward SIGTERM to the command; SIGKILL if it lingers.
    kill: () => {
      if (hasExited(child)) return;
      child.kill('SIGTERM');
      setTimeout(() => !hasExited(child) && child.kill('SIGKILL'), 2000).unref();
    },
  };
}

/** Whether Node has seen the child end (by a code or a signal). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function readAll(stream: Readable | null): Promise<string> {
  if (!stream) return Promise.resolve('');
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    stream.on('data', (b: Buffer) => parts.push(b));
    stream.on('error', () => resolve(Buffer.concat(parts).toString('utf8')));
    stream.on('close', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
}

function signalNumber(name: NodeJS.Signals): number {
  return (constants.signals as Record<string, number>)[name] ?? 9;
}
