// Starts a `docker exec` process in a running container: writes the process
// spec into a session directory under <runRoot>/exec, then runs it with runc
// directly (no TTY) or under conmon (TTY); the directory goes when it ends.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ExecOptions, ExecSession } from '../agent/agent-api.ts';
import { conmonExec } from './exec-conmon.ts';
import { execProcess } from './exec-spec.ts';
import { runcExec } from './exec-runc.ts';

export interface ExecDeps {
  runc: string;
  /** Absolute path of runc (conmon wants one). */
  runtimePath: string;
  runcRoot: string;
  conmon: string;
  execRoot: string;
  socketDir: string;
  configPath: string;
  availableCaps: string[] | undefined;
}

export async function startExec(d: ExecDeps, id: string, opts: ExecOptions): Promise<ExecSession> {
  const proc = await execProcess(d.configPath, opts, d.availableCaps);
  await fs.mkdir(d.execRoot, { recursive: true, mode: 0o700 });
  const execId = randomBytes(16).toString('hex');
  const dir = path.join(d.execRoot, execId);
  await fs.mkdir(dir, { mode: 0o700 });
  const processFile = path.join(dir, 'process.json');
  await fs.writeFile(processFile, JSON.stringify(proc), { mode: 0o600 });
  let session: ExecSession;
  try {
    session = opts.tty
      ? await conmonExec({
          conmon: d.conmon,
          runtime: d.runtimePath,
          runtimeArgs: [`--root=${d.runcRoot}`],
          containerId: id,
          execId,
          dir,
          processFile,
          socketDir: d.socketDir,
          stdin: opts.stdin,
        })
      : await runcExec({ runc: d.runc, runcRoot: d.runcRoot, id, processFile, logFile: path.join(dir, 'runc.log'), stdin: opts.stdin, detach: opts.detach });
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
  // The output is read to its end before the directory goes.
  void session.exited.then(() => setTimeout(() => void fs.rm(dir, { recursive: true, force: true }), 5000).unref());
  return session;
}
