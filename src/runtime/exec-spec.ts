// The process of a `docker exec`: the container's own process (capabilities,
// rlimits, no-new-privileges, env) with the exec's command, user, working
// directory, extra env and terminal.
import { promises as fs } from 'node:fs';
import type { ExecOptions } from '../agent/agent-api.ts';
import { invalid } from '../core/errors.ts';
import { capabilitySet } from './capabilities.ts';
import type { OciProcess, OciSpec } from './oci-types.ts';
import { resolveUser } from './user.ts';

const envKey = (entry: string) => {
  const i = entry.indexOf('=');
  return i < 0 ? entry : entry.slice(0, i);
};

/** Container env, then the exec's env over it (Docker's order). */
export function execEnv(base: string[], extra: string[], tty: boolean): string[] {
  const values = new Map<string, string>();
  for (const e of base) values.set(envKey(e), e);
  if (tty && !values.has('TERM')) values.set('TERM', 'TERM=xterm');
  for (const e of extra) {
    const key = envKey(e);
    if (!key) continue;
    if (e.includes('=')) values.set(key, e);
    else values.delete(key);
  }
  return [...values.values()];
}

export async function readSpec(configPath: string): Promise<OciSpec> {
  return JSON.parse(await fs.readFile(configPath, 'utf8')) as OciSpec;
}

export async function execProcess(spec: OciSpec, opts: ExecOptions, availableCaps: string[] | undefined): Promise<OciProcess> {
  if (opts.cmd.length === 0 || !opts.cmd[0]) throw invalid('No exec command specified');
  const base = spec.process;
  const { consoleSize: _unused, ...inherited } = base;
  const proc: OciProcess = { ...inherited, args: opts.cmd, terminal: opts.tty, env: execEnv(base.env, opts.env, opts.tty) };
  if (opts.workingDir) {
    if (!opts.workingDir.startsWith('/')) throw invalid(`the working directory '${opts.workingDir}' is invalid, it needs to be an absolute path`);
    proc.cwd = opts.workingDir;
  }
  if (opts.user) {
    const u = await resolveUser(spec.root.path, opts.user);
    proc.user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
    // HOME follows the user unless the container set it.
    if (!opts.env.some((e) => envKey(e) === 'HOME')) proc.env = execEnv(proc.env, [`HOME=${u.home || '/'}`], false);
  }
  if (opts.privileged) {
    const all = capabilitySet({ privileged: true, available: availableCaps });
    proc.capabilities = { bounding: all, effective: all, permitted: all };
  }
  if (opts.tty && opts.consoleSize) {
    proc.consoleSize = { height: opts.consoleSize[0], width: opts.consoleSize[1] };
  }
  return proc;
}
