// `docker exec` without a terminal: `runc exec` as our child with pipes. runc
// hands its stdio to the process and exits with the process's status, so
// the pipes carry the output and the child's exit is the exec's exit. (With
// a terminal, runc wants a console socket to pass the pty's fd over, which
// Node cannot receive: see exec-conmon.ts.)
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import type { ExecOutput, ExecSession } from '../agent/agent-api.ts';
import { notImplemented } from '../core/errors.ts';
import { ChunkQueue } from './chunk-queue.ts';
import { runtimeMessage } from './runc.ts';

export interface RuncExecOptions {
  runc: string;
  runcRoot: string;
  id: string;
  /** process.json written for this session. */
  processFile: string;
  /** runc's own log (JSON lines): tells a failed start from the command's exit. */
  logFile: string;
  stdin: boolean;
  /** Discard output (docker exec -d). */
  detach: boolean;
}

export function runcExec(o: RuncExecOptions): Promise<ExecSession> {
  const child = spawn(
    o.runc,
    ['--root', o.runcRoot, '--log', o.logFile, '--log-format', 'json', 'exec', '--process', o.processFile, o.id],
    { stdio: [o.stdin ? 'pipe' : 'ignore', o.detach ? 'ignore' : 'pipe', o.detach ? 'ignore' : 'pipe'] },
  );
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

  const exited = new Promise<{ exitCode: number; error?: string }>((resolve) => {
    child.on('error', (err) => resolve({ exitCode: 126, error: `cannot run ${o.runc}: ${err.message}` }));
    child.on('exit', (code, signal) => {
      void startError(o.logFile).then((error) => {
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
        // runc forwards SIGTERM to the process; SIGKILL (runc itself) if it lingers.
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

/** The error runc logged when it could not start the process, if it did. */
async function startError(logFile: string): Promise<string | undefined> {
  const text = await fs.readFile(logFile, 'utf8').catch(() => '');
  const errors = text.split('\n').filter((l) => l.includes('"level":"error"'));
  return errors.length ? runtimeMessage(errors.join('\n')) : undefined;
}

function signalNumber(name: NodeJS.Signals): number {
  return (constants.signals as Record<string, number>)[name] ?? 9;
}
