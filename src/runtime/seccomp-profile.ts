// Seccomp profiles in Docker's JSON format (what `--security-opt seccomp=FILE`
// sends: the CLI reads the file and passes its content), turned into the OCI
// filter for one container: rules are kept or dropped by the container's
// capabilities, this machine's architecture and its kernel version, the way
// Docker Engine filters them.
import { release } from 'node:os';
import { invalid } from '../core/errors.ts';
import type { OciSeccomp, OciSeccompRule } from './oci-types.ts';

export interface ProfileFilter {
  caps?: string[];
  /** libseccomp's architecture names ("amd64", "arm64", "x86", ...). */
  arches?: string[];
  /** "major.minor" */
  minKernel?: string;
}

export interface ProfileRule {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
  includes?: ProfileFilter;
  excludes?: ProfileFilter;
  comment?: string;
}

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] | null }[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: ProfileRule[];
}

/** Where a profile is applied: the container's bounding capabilities and the host. */
export interface ProfileTarget {
  capabilities: string[];
  /** libseccomp's name of this machine's architecture (default: from process.arch). */
  arch?: string;
  /** [major, minor] of the running kernel (default: from os.release()). */
  kernel?: [number, number];
}

const NODE_TO_NATIVE: Record<string, string> = {
  x64: 'amd64', arm64: 'arm64', ia32: 'x86', arm: 'arm', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64',
  loong64: 'loongarch64', mips64el: 'mipsel64',
};
const NATIVE_TO_SCMP: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', x86: 'SCMP_ARCH_X86', arm: 'SCMP_ARCH_ARM', s390x: 'SCMP_ARCH_S390X',
  s390: 'SCMP_ARCH_S390', ppc64le: 'SCMP_ARCH_PPC64LE', riscv64: 'SCMP_ARCH_RISCV64', loongarch64: 'SCMP_ARCH_LOONGARCH64',
  mipsel64: 'SCMP_ARCH_MIPSEL64',
};

export const nativeArch = (): string => NODE_TO_NATIVE[process.arch] ?? process.arch;
export const scmpArch = (native: string): string | undefined => NATIVE_TO_SCMP[native];

export function kernelVersion(text = release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function atLeast(kernel: [number, number], want: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(want);
  if (!m) throw invalid(`invalid kernel version in seccomp profile: "${want}"`);
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return kernel[0] > maj || (kernel[0] === maj && kernel[1] >= min);
}

/** Whether a rule applies to the target (Docker: any excluded cap/arch drops it, every included one must hold). */
function applies(rule: ProfileRule, caps: string[], arch: string, kernel: [number, number]): boolean {
  const ex = rule.excludes;
  if (ex) {
    if (ex.arches?.includes(arch)) return false;
    if (ex.caps?.some((c) => caps.includes(c))) return false;
    if (ex.minKernel && atLeast(kernel, ex.minKernel)) return false;
  }
  const inc = rule.includes;
  if (inc) {
    if (inc.arches?.length && !inc.arches.includes(arch)) return false;
    if (inc.caps?.some((c) => !caps.includes(c))) return false;
    if (inc.minKernel && !atLeast(kernel, inc.minKernel)) return false;
  }
  return true;
}

/** The OCI filter for one container, or undefined when the profile disables seccomp (no action and no rules). */
export function resolveProfile(profile: SeccompProfile, target: ProfileTarget): OciSeccomp | undefined {
  if (!profile.defaultAction && !profile.syscalls?.length) return undefined;
  if (profile.architectures?.length && profile.archMap?.length) {
    throw invalid("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  const arch = target.arch ?? nativeArch();
  const kernel = target.kernel ?? kernelVersion();
  const architectures = [...(profile.architectures ?? [])];
  const own = scmpArch(arch);
  const entry = profile.archMap?.find((a) => a.architecture === own);
  if (entry) architectures.push(entry.architecture, ...(entry.subArchitectures ?? []));

  const syscalls: OciSeccompRule[] = [];
  for (const rule of profile.syscalls ?? []) {
    if (rule.name && rule.names?.length) {
      throw invalid("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'");
    }
    if (!applies(rule, target.capabilities, arch, kernel)) continue;
    const out: OciSeccompRule = { names: rule.name ? [rule.name] : [...(rule.names ?? [])], action: rule.action };
    if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
    if (rule.args?.length) out.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(out);
  }
  const out: OciSeccomp = { defaultAction: profile.defaultAction, architectures, syscalls };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  if (profile.flags?.length) out.flags = [...profile.flags];
  return out;
}

/** A profile as a client sends it (the JSON text of seccomp=FILE), checked for the fields Berth reads. */
export function parseProfile(text: string): SeccompProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
  const fail = (why: string) => invalid(`Decoding seccomp profile failed: ${why}`);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw fail('the profile must be a JSON object');
  const p = raw as Record<string, unknown>;
  if (p.defaultAction !== undefined && typeof p.defaultAction !== 'string') throw fail('defaultAction must be a string');
  if (p.syscalls !== undefined && p.syscalls !== null && !Array.isArray(p.syscalls)) throw fail('syscalls must be a list');
  for (const s of (p.syscalls as unknown[] | null | undefined) ?? []) {
    const r = s as Record<string, unknown>;
    if (!r || typeof r !== 'object') throw fail('each syscalls entry must be an object');
    if (typeof r.action !== 'string') throw fail('each syscalls entry needs an action');
    if (r.names !== undefined && r.names !== null && (!Array.isArray(r.names) || r.names.some((n) => typeof n !== 'string'))) {
      throw fail('names must be a list of strings');
    }
  }
  return { ...(p as unknown as SeccompProfile), syscalls: (p.syscalls as ProfileRule[] | null | undefined) ?? [] };
}
