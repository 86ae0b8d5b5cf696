// Spawning conmon, the per-container monitor. conmon forks itself into the
// background at once, runs `<runtime> create`, and reports on the sync pipe
// (the fd named by _OCI_SYNCPIPE) either {"data": <pid>} or
// {"data": -1, "message": "<runtime stderr>"}. It must outlive Berth: it runs
// detached in its own session and holds no pipe of ours except the sync pipe.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface ConmonOptions {
  conmon: string;
  runtime: string;
  runtimeArgs: string[];
  id: string;
  name: string;
  bundle: string;
  pidFile: string;
  conmonPidFile: string;
  exitDir: string;
  persistDir: string;
  socketDir: string;
  /** "k8s-file:<path>" or "none". */
  logPath: string;
  logSizeMax?: number;
  terminal: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  timeoutMs?: number;
}

export type ConmonResult = { ok: true; pid: number } | { ok: false; message: string };

export function conmonArgs(o: ConmonOptions): string[] {
  const args = [
    '--api-version', '1',
    '-c', o.id,
    '-u', o.id,
    '-n', o.name,
    '-r', o.runtime,
    '-b', o.bundle,
    '-p', o.pidFile,
    '-P', o.conmonPidFile,
    '--exit-dir', o.exitDir,
    '--persist-dir', o.persistDir,
    '--socket-dir-path', o.socketDir,
    '-l', o.logPath,
  ];
  if (o.logSizeMax && o.logSizeMax > 0) args.push('--log-size-max', String(o.logSizeMax));
  if (o.terminal) args.push('-t');
  if (o.stdin) {
    args.push('-i');
    // conmon closes stdin whenever an attached client goes; Docker does so only
    // for StdinOnce without a TTY (detaching from a shell must not end it).
    if (!o.stdinOnce || o.terminal) args.push('--leave-stdin-open');
  }
  // "--runtime-arg=X" so that glib never mistakes X ("--root=...") for an option of conmon's.
  for (const a of o.runtimeArgs) args.push(`--runtime-arg=${a}`);
  return args;
}

/** Starts conmon and waits for the runtime's verdict on the sync pipe. */
export function runConmon(o: ConmonOptions): Promise<ConmonResult> {
  return new Promise((resolve) => {
    const child = spawn(o.conmon, conmonArgs(o), {
      cwd: o.persistDir, // conmon also drops its "oom" file into its working directory
      detached: true, // own session: a signal to Berth's process group never reaches it
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        _OCI_SYNCPIPE: '3',
      },
    });
    const sync = child.stdio[3] as Readable;
    const stderr = child.stderr as Readable;
    let syncText = '';
    let errText = '';
    let settled = false;
    let firstExit: number | null | undefined;
    const timer = setTimeout(() => finish({ ok: false, message: 'conmon did not report the container pid in time' }), o.timeoutMs ?? 60_000);

    function finish(r: ConmonResult) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sync.destroy();
      stderr.destroy();
      child.unref();
      resolve(r);
    }

    function parseSync() {
      const nl = syncText.indexOf('\n');
      if (nl < 0) return;
      const line = syncText.slice(0, nl);
      try {
        const msg = JSON.parse(line) as { data?: number; pid?: number; message?: string };
        const pid = msg.data ?? msg.pid ?? -1;
        if (pid > 0) finish({ ok: true, pid });
        else finish({ ok: false, message: (msg.message ?? 'the runtime failed to create the container').trim() });
      } catch {
        finish({ ok: false, message: `conmon: unexpected sync message: ${line}` });
      }
    }

    sync.setEncoding('utf8');
    sync.on('data', (chunk: string) => {
      syncText += chunk;
      parseSync();
    });
    sync.on('error', () => undefined);
    sync.on('end', () => {
      // conmon closed the pipe without a word: it failed before running the runtime.
      parseSync();
      const why = errText.trim() || (firstExit ? `conmon exited with status ${firstExit}` : 'conmon exited without reporting');
      finish({ ok: false, message: why });
    });
    stderr.setEncoding('utf8');
    stderr.on('data', (chunk: string) => {
      if (errText.length < 64 * 1024) errText += chunk;
    });
    stderr.on('error', () => undefined);
    child.on('error', (err) => finish({ ok: false, message: `cannot run ${o.conmon}: ${err.message}` }));
    child.on('exit', (code) => {
      firstExit = code;
    });
  });
}
