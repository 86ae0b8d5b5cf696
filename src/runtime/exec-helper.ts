// `docker exec` without a terminal through berth-exec (native/berth-exec.c),
// which does what `runc exec` does for the process of a running container in
// a few milliseconds. It takes a plan: the container's init pid, namespaces
// and cgroups, and the process (user, capabilities, rlimits, seccomp filter,
// env, args) as NUL-terminated tokens. Anything the helper does not cover
// (a user namespace, AppArmor or SELinux labels, seccomp flags or actions
// beyond allow/errno/kill/trap/log) makes the plan undefined, and `runc exec`
// runs the process instead.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import type { ExecSession } from '../agent/agent-api.ts';
import { ALL_CAPABILITIES } from './capabilities.ts';
import { hasExited, spawnExecChild, superviseExecChild } from './exec-child.ts';
import type { OciProcess, OciSeccomp, OciSpec } from './oci-types.ts';

/** Namespaces joined with setns(2), mount last (it moves root and cwd into the container). The pid namespace is always joined. */
const NAMESPACES: [string, string][] = [
  ['ipc', 'ipc'],
  ['uts', 'uts'],
  ['network', 'net'],
  ['cgroup', 'cgroup'],
  ['mount', 'mnt'],
];

const RLIMITS = [
  'CPU', 'FSIZE', 'DATA', 'STACK', 'CORE', 'RSS', 'NPROC', 'NOFILE', 'MEMLOCK', 'AS', 'LOCKS',
  'SIGPENDING', 'MSGQUEUE', 'NICE', 'RTPRIO', 'RTTIME',
].map((r) => `RLIMIT_${r}`);

const SECCOMP_ACTIONS = new Set(['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_TRAP', 'SCMP_ACT_LOG']);
const SECCOMP_OPS = new Set(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);
const EPERM = 1;

const PROCESS_FIELDS = new Set(['terminal', 'consoleSize', 'user', 'args', 'env', 'cwd', 'capabilities', 'rlimits', 'noNewPrivileges', 'oomScoreAdj']);
/** Container settings that runc applied at create and that a process joining it inherits or does not need. */
const LINUX_FIELDS = new Set(['namespaces', 'devices', 'cgroupsPath', 'resources', 'sysctl', 'maskedPaths', 'readonlyPaths', 'seccomp', 'rootfsPropagation', 'mountLabel']);

class Unsupported extends Error {}

/** A capability set as a decimal bit mask (bit N = capability number N). */
function capMask(names: string[] | undefined): string {
  let mask = 0n;
  for (const name of names ?? []) {
    const bit = ALL_CAPABILITIES.indexOf(name);
    if (bit < 0) throw new Unsupported(`capability ${name}`);
    mask |= 1n << BigInt(bit);
  }
  return mask.toString();
}

const uint = (n: number | undefined, what: string): string => {
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new Unsupported(what);
  // -1 is "unlimited" for rlimits; the helper reads it as all bits set.
  return n < 0 ? '18446744073709551615' : String(n);
};

function seccompTokens(sc: OciSeccomp): string[] {
  if (sc.flags?.length) throw new Unsupported('seccomp flags');
  const action = (name: string, errnoRet: number | undefined): string[] => {
    if (!SECCOMP_ACTIONS.has(name)) throw new Unsupported(`seccomp action ${name}`);
    return [name, String(errnoRet ?? EPERM)];
  };
  const out = ['seccomp', ...action(sc.defaultAction, sc.defaultErrnoRet)];
  for (const arch of sc.architectures ?? []) out.push('arch', arch.toLowerCase().replace(/^scmp_arch_/, ''));
  for (const rule of sc.syscalls) {
    const args: string[] = [];
    for (const a of rule.args ?? []) {
      if (!SECCOMP_OPS.has(a.op)) throw new Unsupported(`seccomp operator ${a.op}`);
      args.push(String(a.index), a.op, uint(a.value, 'seccomp value'), uint(a.valueTwo ?? 0, 'seccomp value'));
    }
    for (const name of rule.names) out.push('rule', ...action(rule.action, rule.errnoRet), name, String(rule.args?.length ?? 0), ...args);
  }
  return out;
}

/**
 * The plan for berth-exec, or undefined when the container or the process
 * needs something only runc does.
 */
/** The container's cgroup directory in one hierarchy. */
const SECCOMP_CACHE_PREFIX = 'seccomp-';

/**
 * Drops the seccomp programs berth-exec cached in `dir` (named by profile
 * only): a daemon starting with a rebuilt helper must not load an older
 * build's program.
 */
export async function dropSeccompCache(dir: string): Promise<void> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const cached = names.filter((n) => n.startsWith(SECCOMP_CACHE_PREFIX) && n.endsWith('.bpf'));
  await Promise.all(cached.map((n) => fs.rm(path.join(dir, n), { force: true })));
}

/** The container's cgroup directory in one hierarchy. */
export interface HelperCgroup {
  dir: string;
  v2: boolean;
}

export function helperPlan(spec: OciSpec, proc: OciProcess, pid: number, cgroups: HelperCgroup[], bpfCacheDir?: string): Buffer | undefined {
  // (berth-exec checks that the pid is still in the container's cgroup)
  if (proc.terminal) return undefined;
  // Only what berth-exec applies: anything else in the process (an AppArmor
  // profile, an SELinux label, I/O priority, scheduler...) or the container
  // (a personality, time offsets...) is left to runc.
  if (Object.keys(proc).some((k) => !PROCESS_FIELDS.has(k))) return undefined;
  if (Object.keys(spec.linux).some((k) => !LINUX_FIELDS.has(k))) return undefined;
  const namespaces = new Set(spec.linux.namespaces.map((n) => n.type));
  if (namespaces.has('user')) return undefined;
  if (!proc.capabilities) return undefined;
  try {
    const t: string[] = ['pid', String(pid)];
    for (const [type, file] of NAMESPACES) if (namespaces.has(type as never)) t.push('ns', file);
    for (const cg of cgroups) t.push(cg.v2 ? 'cgroup-v2' : 'cgroup-v1', cg.dir);
    t.push('init-cgroup', spec.linux.cgroupsPath);
    t.push('cwd', proc.cwd || '/', 'uid', uint(proc.user.uid, 'uid'), 'gid', uint(proc.user.gid, 'gid'));
    for (const g of proc.user.additionalGids ?? []) t.push('group', uint(g, 'gid'));
    t.push('nnp', proc.noNewPrivileges ? '1' : '0');
    if (typeof proc.oomScoreAdj === 'number') t.push('oom', String(proc.oomScoreAdj));
    for (const r of proc.rlimits ?? []) {
      const resource = RLIMITS.indexOf(r.type);
      if (resource < 0) throw new Unsupported(`rlimit ${r.type}`);
      t.push('rlimit', String(resource), uint(r.soft, 'rlimit'), uint(r.hard, 'rlimit'));
    }
    const caps = proc.capabilities as OciProcess['capabilities'] & { inheritable?: string[]; ambient?: string[] };
    t.push('caps', capMask(caps.bounding), capMask(caps.effective), capMask(caps.permitted), capMask(caps.inheritable), capMask(caps.ambient));
    if (spec.linux.seccomp) {
      const seccomp = seccompTokens(spec.linux.seccomp);
      // The compiled filter is cached under the hash of what it was compiled from.
      if (bpfCacheDir) t.push('bpf-cache', path.join(bpfCacheDir, `${SECCOMP_CACHE_PREFIX}${createHash('sha256').update(seccomp.join('\0')).digest('hex')}.bpf`));
      t.push(...seccomp);
    }
    for (const e of proc.env) t.push('env', e);
    for (const a of proc.args) t.push('arg', a);
    t.push('end');
    if (t.some((token) => token.includes('\0'))) return undefined; // runc reports it
    return Buffer.from(t.join('\0') + '\0');
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

/**
 * Starts berth-exec processes. One is kept started ahead, blocked reading its
 * plan, so that an exec does not wait for the daemon to fork and exec (~5 ms
 * of a big process's fork); the next one starts after that exec. It has
 * every pipe: stdin is closed at once when the exec has none. Detached execs
 * start their own, with no output pipes.
 */
/** After an exec ends, when its client has read the exit code (GET /exec/ID/json follows at once). */
const SPARE_DELAY_MS = 5;

export class HelperLauncher {
  private readonly helper: string;
  private spare: ChildProcess | undefined;

  constructor(helper: string) {
    this.helper = helper;
  }

  exec(plan: Buffer, opts: { stdin: boolean; detach: boolean }): ExecSession {
    let child = opts.detach ? undefined : this.takeSpare();
    if (child) {
      if (!opts.stdin) child.stdin?.end();
    } else {
      child = spawnExecChild(this.helper, [], { stdin: opts.stdin, detach: opts.detach, errorAndPlanPipes: true });
    }
    const session = superviseExecChild(child, this.helper, { plan, startError: async (text) => text.trim() || undefined });
    // The next spare once this exec's client has had its answer: the fork
    // blocks the daemon's loop for a few ms, which would delay exactly that.
    if (!opts.detach) void session.exited.then(() => setTimeout(() => this.startSpare(), SPARE_DELAY_MS).unref());
    return session;
  }

  /** Ends the spare (daemon stop). */
  close(): void {
    this.spare?.kill('SIGKILL');
    this.spare = undefined;
  }

  private takeSpare(): ChildProcess | undefined {
    const child = this.spare;
    this.spare = undefined;
    if (!child || hasExited(child)) return undefined;
    // Taken: it may keep the daemon's loop alive again.
    child.ref();
    for (const s of child.stdio) (s as Socket | null)?.ref();
    return child;
  }

  private startSpare(): void {
    if (this.spare) return;
    const child = spawnExecChild(this.helper, [], { stdin: true, detach: false, errorAndPlanPipes: true });
    child.on('error', () => undefined); // then taken as ended, or never taken
    child.unref();
    for (const s of child.stdio) (s as Socket | null)?.unref();
    this.spare = child;
  }
}
