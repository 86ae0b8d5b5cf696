// `docker exec -t`: runc allocates the pty only through a console socket
// (the master fd arrives by SCM_RIGHTS, which Node cannot receive), so the
// session runs under its own conmon in exec mode, as Podman does: conmon
// holds the pty, writes the output to a k8s-file log in the session's
// directory, takes input on the session's attach socket, resizes through the
// "ctl" fifo, and reports the pid and then the exit status on the sync pipe.
import { spawn } from 'node:child_process';
import { promises as fs, watch } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { ExecOutput, ExecSession } from '../agent/agent-api.ts';
import { internal } from '../core/errors.ts';
import { openAttachStdin } from './attach-stdin.ts';
import { ChunkQueue } from './chunk-queue.ts';
import { K8sLogReader } from './k8s-log.ts';

export interface ConmonExecOptions {
  conmon: string;
  /** Absolute path of the OCI runtime. */
  runtime: string;
  runtimeArgs: string[];
  containerId: string;
  execId: string;
  /** The session's directory: process.json, log, ctl fifo, exit file. */
  dir: string;
  processFile: string;
  socketDir: string;
  stdin: boolean;
}

export async function conmonExec(o: ConmonExecOptions): Promise<ExecSession> {
  const log = path.join(o.dir, 'exec.log');
  const args = [
    '--api-version', '1',
    '-c', o.containerId,
    '-u', o.execId,
    '-n', o.execId,
    '-r', o.runtime,
    '-b', o.dir,
    '-p', path.join(o.dir, 'pid'),
    '--exit-dir', o.dir,
    '--socket-dir-path', o.socketDir,
    '-l', `k8s-file:${log}`,
    '-e', '--exec-process-spec', o.processFile,
    '-t',
    ...(o.stdin ? ['-i'] : []),
    ...o.runtimeArgs.map((a) => `--runtime-arg=${a}`),
  ];
  const child = spawn(o.conmon, args, {
    cwd: o.dir,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3' },
  });
  child.unref();
  const messages = syncMessages(child.stdio[3] as Readable);
  let errText = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => (errText = (errText + c).slice(-8192)));
  child.on('error', () => undefined);

  const first = await messages.next();
  if (first === undefined) throw internal(`conmon exec failed: ${errText.trim() || 'no report'}`);
  if (first.data <= 0) {
    return failed(first.message ?? 'the runtime could not start the exec process');
  }
  const done = new AbortController();
  const exited = messages.next().then((m) => {
    done.abort();
    if (!m) return { exitCode: 255 };
    if (m.data < 0 || m.message) return { exitCode: /not found|no such file/i.test(m.message ?? '') ? 127 : 126, error: m.message };
    return { exitCode: m.data };
  });
  let stdin: Writable | null = null;
  // The socket sits in the session's directory (conmon's bundle).
  if (o.stdin) stdin = await openAttachStdin(path.join(o.dir, 'attach'), done.signal);
  return {
    pid: first.data,
    stdin,
    output: followLog(log, o.dir, done.signal),
    exited,
    resize: (h, w) => writeCtl(path.join(o.dir, 'ctl'), h, w),
  };
}

function failed(message: string): ExecSession {
  const output = new ChunkQueue<ExecOutput>();
  output.end();
  return {
    pid: 0,
    stdin: null,
    output,
    exited: Promise.resolve({ exitCode: /not found|no such file/i.test(message) ? 127 : 126, error: message }),
    resize: async () => undefined,
  };
}

/** The JSON lines conmon writes on the sync pipe, one per next(); undefined once it is closed. */
function syncMessages(pipe: Readable): { next(): Promise<{ data: number; message?: string } | undefined> } {
  const queue = new ChunkQueue<{ data: number; message?: string }>();
  let text = '';
  pipe.setEncoding('utf8');
  pipe.on('data', (chunk: string) => {
    text += chunk;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      try {
        queue.push(JSON.parse(line) as { data: number; message?: string });
      } catch {
        // not a message of ours
      }
    }
  });
  pipe.on('error', () => undefined);
  pipe.on('close', () => queue.end());
  const it = queue[Symbol.asyncIterator]();
  return { next: async () => ((await it.next()).value as { data: number; message?: string } | undefined) ?? undefined };
}

/** Raw output bytes from the session's log as it grows, until the process ended and the log is drained. */
async function* followLog(file: string, dir: string, done: AbortSignal): AsyncGenerator<ExecOutput> {
  const reader = new K8sLogReader(file);
  let wake: (() => void) | undefined;
  const watcher = watch(dir, { persistent: false }, () => wake?.());
  watcher.on('error', () => undefined);
  done.addEventListener('abort', () => wake?.(), { once: true });
  try {
    for (;;) {
      const finished = done.aborted; // before reading: all output is in the file by then
      for (const r of await reader.read()) yield { stream: 'stdout', data: r.data };
      if (finished) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => resolve(), 100);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    watcher.close();
    await reader.close();
  }
}

/** conmon's control fifo: "1 <height> <width>" resizes the pty. */
export async function writeCtl(fifo: string, height: number, width: number): Promise<void> {
  // O_NONBLOCK: never hang on a fifo whose reader (conmon) is gone.
  const fh = await fs.open(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return;
  try {
    await fh.write(`1 ${height} ${width}\n`);
  } finally {
    await fh.close();
  }
}
