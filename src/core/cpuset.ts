// Docker's cpuset lists ("0-2,4"): parsed and checked at the edge, so a typo
// is a 400 with Docker's wording instead of a cgroup write failing in runc.
import { invalid } from './errors.ts';

/** The numbers a cpuset list names, or undefined when it is not a list. */
export function parseCpuset(s: string): number[] | undefined {
  if (s === '') return [];
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return undefined;
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}

/** Throws Docker's errors for an invalid CpusetCpus (CPUs 0..cpus-1 exist) or CpusetMems (syntax only). */
export function checkCpusets(hc: { CpusetCpus?: unknown; CpusetMems?: unknown }, cpus: number): void {
  if (typeof hc.CpusetCpus === 'string' && hc.CpusetCpus !== '') {
    const list = parseCpuset(hc.CpusetCpus);
    if (!list) throw invalid(`Invalid value ${hc.CpusetCpus} for cpuset cpus`);
    if (list.some((n) => n >= cpus)) throw invalid(`Requested CPUs are not available - requested ${hc.CpusetCpus}, available: ${cpus > 1 ? `0-${cpus - 1}` : '0'}`);
  }
  if (typeof hc.CpusetMems === 'string' && hc.CpusetMems !== '' && !parseCpuset(hc.CpusetMems)) {
    throw invalid(`Invalid value ${hc.CpusetMems} for cpuset mems`);
  }
}
