// The RLIMIT_NOFILE a container gets when it asks for none. Docker gives
// 1048576 (what dockerd/containerd run with), but raising a hard limit above
// the one Berth itself has needs CAP_SYS_RESOURCE, which root lacks on some
// hosts (runc then fails with "operation not permitted"): never exceed ours.
import { readFileSync } from 'node:fs';
import { capabilitiesFromMask } from './capabilities.ts';

export const DOCKER_DEFAULT_NOFILE = 1048576;

export function defaultNofile(): number {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
    if (!m) return DOCKER_DEFAULT_NOFILE;
    const hard = m[2] === 'unlimited' ? Infinity : Number(m[2]);
    return Number.isFinite(hard) ? Math.min(DOCKER_DEFAULT_NOFILE, hard) : DOCKER_DEFAULT_NOFILE;
  } catch {
    return DOCKER_DEFAULT_NOFILE;
  }
}

/** The capabilities this process can hand on (its bounding set). */
export function boundingCapabilities(): string[] | undefined {
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? capabilitiesFromMask(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
