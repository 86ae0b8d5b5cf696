// Capability sets the Docker way: a default set, CapAdd/CapDrop with or
// without the CAP_ prefix, "ALL" on either side, everything when privileged.
import { invalid } from '../core/errors.ts';

export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

function normalize(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(full)) throw invalid(`unknown capability: "${name}"`);
  return full;
}

/** Capabilities in a bounding set mask ("CapBnd:" of /proc/<pid>/status, hex); index = capability number. */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim() || '0'}`);
  return ALL_CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

/**
 * The capability set a container's process gets. `available` is what this
 * host can grant (root may lack some, e.g. CAP_SYS_RESOURCE in a container):
 * "ALL" and privileged mean all of those; naming a missing one is an error.
 */
export function capabilitySet(opts: {
  privileged?: boolean;
  capAdd?: string[] | null;
  capDrop?: string[] | null;
  available?: string[];
}): string[] {
  const all = opts.available ? ALL_CAPABILITIES.filter((c) => opts.available!.includes(c)) : [...ALL_CAPABILITIES];
  if (opts.privileged) return all;
  const add = (opts.capAdd ?? []).map(normalize);
  const drop = (opts.capDrop ?? []).map(normalize);
  for (const c of add) {
    if (c !== 'ALL' && !all.includes(c)) throw invalid(`capability ${c} is not available on this host`);
  }
  let caps: string[];
  if (add.includes('ALL')) caps = [...all];
  else caps = DEFAULT_CAPABILITIES.filter((c) => all.includes(c));
  if (drop.includes('ALL')) {
    // Docker: dropping ALL keeps only what is added explicitly.
    caps = add.filter((c) => c !== 'ALL');
  } else {
    caps = caps.filter((c) => !drop.includes(c));
    for (const c of add) if (c !== 'ALL' && !caps.includes(c) && !drop.includes(c)) caps.push(c);
  }
  return caps;
}
