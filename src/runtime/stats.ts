// One sample of a container's counters from its cgroup: v1 controllers (also
// on hybrid hosts, where v2's "unified" mount has no controllers) or pure v2,
// plus its network counters from /proc/<pid>/net/dev (its own namespace).
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StatsSample } from '../agent/agent-api.ts';
import { nowRfc3339 } from './time.ts';

const ROOT = '/sys/fs/cgroup';
const UNLIMITED = 2n ** 63n - 1n;
const USER_HZ = 100; // cpuacct.stat ticks; Linux's USER_HZ is 100 on every architecture Berth runs on

const read = (file: string) => fs.readFile(file, 'utf8').then((s) => s.trim(), () => '');
const num = (s: string) => (s && /^\d+$/.test(s) ? Number(s) : 0);

function keyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** Host CPU time in ns from /proc/stat's first line (what Docker's percentage divides by). */
async function systemCpuNs(): Promise<number> {
  const line = (await read('/proc/stat')).split('\n')[0] ?? '';
  const ticks = line.split(/\s+/).slice(1, 8).reduce((a, b) => a + num(b), 0);
  return (ticks * 1e9) / USER_HZ;
}

export const isCgroup2 = () => existsSync(path.join(ROOT, 'cgroup.controllers'));

export async function cgroupStats(cgroupPath: string, pid: number): Promise<StatsSample> {
  const base = isCgroup2() ? await v2(cgroupPath) : await v1(cgroupPath);
  return { ...base, read: nowRfc3339(), systemCpuNs: await systemCpuNs(), onlineCpus: os.availableParallelism(), networks: pid > 0 ? await netDev(pid) : {} };
}

type Counters = Omit<StatsSample, 'read' | 'systemCpuNs' | 'onlineCpus' | 'networks'>;

async function v1(cg: string): Promise<Counters> {
  const at = (ctl: string, file: string) => read(path.join(ROOT, ctl, cg, file));
  const acct = keyValues(await at('cpuacct', 'cpuacct.stat'));
  const memStat = keyValues(await at('memory', 'memory.stat'));
  const limitRaw = await at('memory', 'memory.limit_in_bytes');
  const limit = limitRaw && BigInt(limitRaw) < UNLIMITED - 4096n ? Number(limitRaw) : os.totalmem();
  const pidsMax = await at('pids', 'pids.max');
  const blkio = [];
  for (const line of (await at('blkio', 'blkio.throttle.io_service_bytes')).split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) blkio.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3].toLowerCase(), value: Number(m[4]) });
  }
  return {
    cpuTotalNs: num(await at('cpuacct', 'cpuacct.usage')),
    cpuUserNs: ((acct.user ?? 0) * 1e9) / USER_HZ,
    cpuKernelNs: ((acct.system ?? 0) * 1e9) / USER_HZ,
    memoryUsage: num(await at('memory', 'memory.usage_in_bytes')),
    memoryLimit: limit,
    memoryStats: memStat,
    pids: num(await at('pids', 'pids.current')),
    pidsLimit: pidsMax === 'max' || !pidsMax ? 0 : num(pidsMax),
    blkio,
  };
}

async function v2(cg: string): Promise<Counters> {
  const at = (file: string) => read(path.join(ROOT, cg, file));
  const cpu = keyValues(await at('cpu.stat'));
  const max = await at('memory.max');
  const pidsMax = await at('pids.max');
  const blkio = [];
  for (const line of (await at('io.stat')).split('\n')) {
    const m = /^(\d+):(\d+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const kv = Object.fromEntries(m[3].split(' ').map((p) => p.split('=')));
    blkio.push({ major: Number(m[1]), minor: Number(m[2]), op: 'read', value: num(kv.rbytes) });
    blkio.push({ major: Number(m[1]), minor: Number(m[2]), op: 'write', value: num(kv.wbytes) });
  }
  return {
    cpuTotalNs: (cpu.usage_usec ?? 0) * 1000,
    cpuUserNs: (cpu.user_usec ?? 0) * 1000,
    cpuKernelNs: (cpu.system_usec ?? 0) * 1000,
    memoryUsage: num(await at('memory.current')),
    memoryLimit: max && max !== 'max' ? num(max) : os.totalmem(),
    memoryStats: keyValues(await at('memory.stat')),
    pids: num(await at('pids.current')),
    pidsLimit: pidsMax === 'max' || !pidsMax ? 0 : num(pidsMax),
    blkio,
  };
}

/** Interfaces of the process's network namespace, loopback left out as Docker does. */
async function netDev(pid: number): Promise<StatsSample['networks']> {
  const out: StatsSample['networks'] = {};
  for (const line of (await read(`/proc/${pid}/net/dev`)).split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = m[2].trim().split(/\s+/).map(num);
    out[m[1]] = { rx_bytes: f[0], rx_packets: f[1], rx_errors: f[2], rx_dropped: f[3], tx_bytes: f[8], tx_packets: f[9], tx_errors: f[10], tx_dropped: f[11] };
  }
  return out;
}

/** Pids in the container's cgroup (for top). */
export async function cgroupPids(cgroupPath: string): Promise<number[]> {
  const file = isCgroup2() ? path.join(ROOT, cgroupPath, 'cgroup.procs') : path.join(ROOT, 'pids', cgroupPath, 'cgroup.procs');
  const text = await read(file);
  return text.split('\n').filter(Boolean).map(Number);
}
