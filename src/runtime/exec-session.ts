// Starts a `docker exec` process in a running container. Without a TTY it
// runs through berth-exec when the daemon has it and the container needs
// nothing only runc does (exec-helper.ts), else through `runc exec`
// (exec-runc.ts); with a TTY under conmon (exec-conmon.ts). A runc or conmon
// session gets a directory under <runRoot>/exec for its files; it goes when
// the process ends. <runRoot>/exec also holds berth-exec's seccomp cache.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ExecOptions, ExecSession } from '../agent/agent-api.ts';
import { conmonExec } from './exec-conmon.ts';
import { helperPlan, type HelperCgroup, type HelperLauncher } from './exec-helper.ts';
import { execProcess } from './exec-spec.ts';
import type { OciSpec } from './oci-types.ts';
import { runcExec } from './exec-runc.ts';

export interface ExecDeps {
  runc: string;
  /** Absolute path of runc (conmon wants one). */
  runtimePath: string;
  runcRoot: string;
  conmon: string;
  /** Starts berth-exec, when it is built. */
  helper: HelperLauncher | undefined;
  execRoot: string;
  socketDir: string;
  /** The container's config.json. */
  spec: OciSpec;
  availableCaps: string[] | undefined;
  /** The container's init process and its cgroup in every hierarchy (for berth-exec). */
  pid: number;
  cgroups(): Promise<HelperCgroup[]>;
}

export async function startExec(d: ExecDeps, id: string, opts: ExecOptions): Promise<ExecSession> {
  const spec = d.spec;
  const proc = await execProcess(spec, opts, d.availableCaps);
  await ensureDir(d.execRoot);
  const plan = d.helper && !opts.tty && d.pid > 0 ? helperPlan(spec, proc, d.pid, await d.cgroups(), d.execRoot) : undefined;
  // The helper takes its plan through a pipe: no session directory.
  if (plan && d.helper) return d.helper.exec(plan, { stdin: opts.stdin, detach: opts.detach });
  const execId = randomBytes(16).toString('hex');
  const dir = path.join(d.execRoot, execId);
  await fs.mkdir(dir, { mode: 0o700 });
  const processFile = path.join(dir, 'process.json');
  let session: ExecSession;
  try {
    await fs.writeFile(processFile, JSON.stringify(proc), { mode: 0o600 });
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

const made = new Set<string>();

/** <runRoot>/exec, made once per daemon. */
async function ensureDir(dir: string): Promise<void> {
  if (made.has(dir)) return;
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  made.add(dir);
}
