// Docker's stats JSON (the v1 shape the CLI reads on every host; memory_stats
// keys as the cgroup names them) from the agent's raw samples.
import type { StatsSample } from '../../agent/agent-api.ts';

const ZERO_TIME = '0001-01-01T00:00:00Z';

function cpu(s: StatsSample | undefined) {
  return {
    cpu_usage: { total_usage: s?.cpuTotalNs ?? 0, usage_in_kernelmode: s?.cpuKernelNs ?? 0, usage_in_usermode: s?.cpuUserNs ?? 0 },
    system_cpu_usage: s?.systemCpuNs ?? 0,
    online_cpus: s?.onlineCpus ?? 0,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
}

export function statsJson(id: string, name: string, now: StatsSample | undefined, prev: StatsSample | undefined) {
  return {
    id,
    name,
    read: now?.read ?? ZERO_TIME,
    preread: prev?.read ?? ZERO_TIME,
    pids_stats: now ? { current: now.pids, ...(now.pidsLimit ? { limit: now.pidsLimit } : {}) } : {},
    blkio_stats: {
      io_service_bytes_recursive: now ? now.blkio.map((b) => ({ major: b.major, minor: b.minor, op: b.op, value: b.value })) : null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu(now),
    precpu_stats: cpu(prev),
    memory_stats: now ? { usage: now.memoryUsage, limit: now.memoryLimit, stats: now.memoryStats } : {},
    ...(now && Object.keys(now.networks).length ? { networks: now.networks } : {}),
  };
}
