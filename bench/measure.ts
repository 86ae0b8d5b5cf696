// Statistics over timings, and memory of processes read from /proc.
import { readdirSync, readFileSync } from 'node:fs';

export interface Summary {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
  mean: number;
}

/** Percentile p (0..100) of sorted values, interpolating linearly between closest ranks. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  if (sorted.length === 1) return sorted[0]!;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    min: s[0] ?? NaN,
    median: percentile(s, 50),
    p95: percentile(s, 95),
    max: s[s.length - 1] ?? NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN,
  };
}

/** Memory of one process in KiB, from /proc/PID/smaps_rollup. */
export interface ProcessMemory {
  pid: number;
  /** Resident set size. */
  rssKb: number;
  /** Proportional set size: private pages plus each shared page divided by its sharers. */
  pssKb: number;
  /** Unique set size: Private_Clean + Private_Dirty. */
  ussKb: number;
}

export function readMemory(pid: number): ProcessMemory {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`/proc/${pid}/smaps_rollup has no ${name} line`);
    return Number(m[1]);
  };
  return {
    pid,
    rssKb: field('Rss'),
    pssKb: field('Pss'),
    ussKb: field('Private_Clean') + field('Private_Dirty'),
  };
}

export function sumMemory(list: ProcessMemory[]): { rssKb: number; pssKb: number; ussKb: number } {
  return list.reduce((a, m) => ({ rssKb: a.rssKb + m.rssKb, pssKb: a.pssKb + m.pssKb, ussKb: a.ussKb + m.ussKb }), {
    rssKb: 0,
    pssKb: 0,
    ussKb: 0,
  });
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Short name from /proc/PID/comm. */
  comm: string;
  /** Command line, split at NULs. */
  args: string[];
  /** State letter from /proc/PID/stat (Z for zombies). */
  state: string;
}

/** Every process visible in /proc (those that exit while reading are skipped). */
export function listProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const close = stat.lastIndexOf(')');
      const rest = stat.slice(close + 2).split(' ');
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (args[args.length - 1] === '') args.pop();
      out.push({
        pid: Number(name),
        ppid: Number(rest[1]),
        comm: stat.slice(stat.indexOf('(') + 1, close),
        args,
        state: rest[0] ?? '?',
      });
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

export function kb(n: number): string {
  return n >= 10240 ? `${(n / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(2)} MiB`;
}
