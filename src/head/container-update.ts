// `docker update`: new resource limits and restart policy for a container,
// stored first, then applied by the node (its cgroup too while it runs).
import { checkCpusets } from '../core/cpuset.ts';
import { invalid } from '../core/errors.ts';
import type { HostConfig, RestartPolicy } from '../core/types.ts';
import type { Agent } from '../agent/agent-api.ts';
import type { ContainerService } from './containers.ts';
import type { EventBus } from './events.ts';

/** The HostConfig fields `docker update` may change (others in the body are ignored, as Docker does). */
const RESOURCE_FIELDS = ['Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpuPeriod', 'CpuQuota', 'CpusetCpus', 'CpusetMems', 'PidsLimit', 'BlkioWeight'] as const;
const MIN_MEMORY = 6 * 1024 * 1024;

export type UpdateRequest = Partial<Pick<HostConfig, (typeof RESOURCE_FIELDS)[number]>> & { RestartPolicy?: RestartPolicy };

export async function updateContainer(deps: { agent: Agent; containers: ContainerService; events: EventBus; cpus: number }, ref: string, req: UpdateRequest): Promise<void> {
  if (!req || typeof req !== 'object' || Array.isArray(req)) throw invalid('update config must be a JSON object');
  for (const key of RESOURCE_FIELDS) {
    const v = req[key];
    if (v === undefined || v === null) continue;
    if (key === 'CpusetCpus' || key === 'CpusetMems') {
      if (typeof v !== 'string') throw invalid(`invalid value for ${key}: expected a string`);
    } else if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(`invalid value for ${key}: expected an integer`);
  }
  checkCpusets(req, deps.cpus);
  const c = await deps.containers.mutate(ref, async (c) => {
    const hc: HostConfig = { ...c.HostConfig };
    if (req.RestartPolicy && (req.RestartPolicy.Name as string) !== '') {
      const rp = req.RestartPolicy;
      if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(rp.Name)) {
        throw invalid(`invalid restart policy: unknown policy '${rp.Name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
      }
      if (rp.Name !== 'on-failure' && (rp.MaximumRetryCount ?? 0) !== 0) throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
      if ((rp.MaximumRetryCount ?? 0) < 0) throw invalid('invalid restart policy: maximum retry count cannot be negative');
      if (hc.AutoRemove && rp.Name !== 'no') throw invalid('Restart policy cannot be updated because AutoRemove is enabled for the container');
      hc.RestartPolicy = { Name: rp.Name, MaximumRetryCount: rp.MaximumRetryCount ?? 0 };
    }
    // Zero means "unchanged" in Docker's update, except PidsLimit where <= 0 means unlimited.
    if (req.Memory) {
      if (req.Memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
      if (!req.MemorySwap && hc.MemorySwap && hc.MemorySwap > 0 && req.Memory > hc.MemorySwap) {
        throw invalid('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
      }
      // Without a swap limit of its own, the default (twice the memory) follows the new limit.
      hc.Memory = req.Memory;
    }
    if (req.MemorySwap) hc.MemorySwap = req.MemorySwap;
    if (hc.MemorySwap && hc.MemorySwap > 0 && (!hc.Memory || hc.MemorySwap < hc.Memory)) {
      throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
    }
    if (req.MemoryReservation) hc.MemoryReservation = req.MemoryReservation;
    if (req.NanoCpus) {
      if (req.NanoCpus < 1e7 || req.NanoCpus > deps.cpus * 1e9) {
        throw invalid(`Range of CPUs is from 0.01 to ${deps.cpus.toFixed(2)}, as there are only ${deps.cpus} CPUs available`);
      }
      if (hc.CpuQuota || hc.CpuPeriod || req.CpuQuota || req.CpuPeriod) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
      hc.NanoCpus = req.NanoCpus;
    }
    if (req.CpuQuota || req.CpuPeriod) {
      if (hc.NanoCpus) throw invalid('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
      if (req.CpuQuota) hc.CpuQuota = req.CpuQuota;
      if (req.CpuPeriod) hc.CpuPeriod = req.CpuPeriod;
    }
    if (req.CpuShares) hc.CpuShares = req.CpuShares;
    if (req.CpusetCpus) hc.CpusetCpus = req.CpusetCpus;
    if (req.CpusetMems) hc.CpusetMems = req.CpusetMems;
    if (req.BlkioWeight) hc.BlkioWeight = req.BlkioWeight;
    if (req.PidsLimit !== undefined && req.PidsLimit !== null) hc.PidsLimit = req.PidsLimit > 0 ? req.PidsLimit : null;
    const before = c.HostConfig;
    c.HostConfig = hc;
    const limitsChanged = RESOURCE_FIELDS.some((k) => before[k] !== hc[k]);
    // Applied before the record is saved: a limit the kernel refuses leaves the old one in place.
    if (limitsChanged) await deps.agent.runtime.update(c);
  });
  deps.events.emit('container', 'update', c);
}
