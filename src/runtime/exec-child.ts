// A `docker exec` process without a terminal, run as our own child that
// hands its stdio to the command and exits with the command's status: `runc
// exec` (exec-runc.ts) or berth-exec (exec-helper.ts). The pipes carry the
// output; the child's exit is the exec's exit.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import type { ExecOutput, ExecSession } from '../agent/agent-api.ts';
import { notImplemented } from '../core/errors.ts';
import { ChunkQueue } from './chunk-queue.ts';

export interface ExecChildOptions {
  stdin: boolean;
  /** Discard output (docker exec -d). */
  detach: boolean;
  /** Give the child a pipe on fd 3 and pass what it wrote there to startError. */
  errorPipe?: boolean;
  /** After exit: the reason the command never ran, if it did not. */
  startError(errorPipeText: string): Promise<string | undefined>;
}

export function superviseExecChild(file: string, args: string[], o: ExecChildOptions): Promise<ExecSession> {
  const out = o.detach ? 'ignore' : 'pipe';
  const child = spawn(file, args, { stdio: [o.stdin ? 'pipe' : 'ignore', out, out, ...(o.errorPipe ? ['pipe' as const] : [])] });
  const output = new ChunkQueue<ExecOutput>();
  let open = o.detach ? 0 : 2;
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
  if (o.detach) output.end();
  child.stdin?.on('error', () => undefined);
  const errorText = readAll(o.errorPipe ? (child.stdio[3] as Readable | null) : null);

  const exited = new Promise<{ exitCode: number; error?: string }>((resolve) => {
    child.on('error', (err) => resolve({ exitCode: 126, error: `cannot run ${file}: ${err.message}` }));
    child.on('exit', (code, signal) => {
      void errorText
        .then((text) => o.startError(text))
        .then((error) => {
          if (error) resolve({ exitCode: 126, error });
          else resolve({ exitCode: code ?? 128 + (signal ? signalNumber(signal) : 9) });
        });
    });
  });
  return new Promise((resolve, reject) => {
    child.once('spawn', () =>
      resolve({
        pid: child.pid ?? 0,
        stdin: child.stdin,
        output,
        exited,
        resize: async () => {
          throw notImplemented('cannot resize an exec session without a TTY');
        },
        // Both children forward SIGTERM to the command; SIGKILL if it lingers.
        kill: () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), 2000).unref();
        },
      }),
    );
    child.once('error', reject);
  });
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
