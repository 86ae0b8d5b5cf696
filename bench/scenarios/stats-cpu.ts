// Engine CPU while 20 running containers stream stats (GET
// /containers/{id}/stats?stream=1, one connection each, as `docker stats`
// does): CPU seconds of the daemons and their helper processes (children
// they reaped included) over a window, as a percentage of one CPU. Each
// stream must keep delivering samples, or the figure is of an idle engine.
// Goal: at most Docker's.
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchEngine, Row, Scenario, ScenarioContext } from '../scenario.ts';
import { cpuSeconds, createAndStart, helperProcesses, one, perEngine, removeContainers } from '../scenario.ts';

const STREAMS = 20;

function engineCpu(e: BenchEngine): Map<number, number> {
  const m = new Map<number, number>();
  for (const pid of e.daemonPids()) m.set(pid, cpuSeconds(pid));
  for (const p of helperProcesses(e)) m.set(p.pid, cpuSeconds(p.pid));
  return m;
}

/** CPU used between two snapshots, by processes present in both (helpers do not come and go here). */
function cpuBetween(a: Map<number, number>, b: Map<number, number>): number {
  let s = 0;
  for (const [pid, v] of b) s += v - (a.get(pid) ?? v);
  return s;
}

export const statsCpu: Scenario = {
  name: 'stats',
  title: `engine CPU while ${STREAMS} containers stream stats`,
  async run(ctx: ScenarioContext) {
    const seconds = ctx.opts.statsSeconds;
    const res = await perEngine(ctx, 'stats streams', async (e) => {
      let ids: string[] = [];
      const stops: (() => void)[] = [];
      try {
        ids = (await createAndStart(e.api, { image: ctx.image, cmd: ['sleep', '3600'] }, STREAMS, 8)).ids;
        const idle0 = engineCpu(e);
        await sleep(seconds * 1000);
        const idle = cpuBetween(idle0, engineCpu(e));
        const lines = new Map<string, number>();
        for (const id of ids) {
          lines.set(id, 0);
          stops.push(await e.api.stream(`/containers/${id}/stats?stream=1`, (b) => {
            let n = 0;
            for (const c of b) if (c === 10) n++;
            lines.set(id, lines.get(id)! + n);
          }));
        }
        await sleep(3000); // past the first samples
        const before = new Map(lines);
        const c0 = engineCpu(e);
        const t0 = process.hrtime.bigint();
        await sleep(seconds * 1000);
        const c1 = engineCpu(e);
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const samples = ids.map((id) => lines.get(id)! - before.get(id)!);
        const starved = samples.filter((n) => n < seconds / 2).length;
        if (starved > 0) throw new Error(`${starved} of ${STREAMS} stats streams delivered under one sample per 2 s`);
        return { cpuPercent: (cpuBetween(c0, c1) / wall) * 100, idleCpuPercent: (idle / seconds) * 100, samplesPerStream: samples };
      } finally {
        for (const s of stops) s();
        for (const m of (await removeContainers(e.api, ids)).slice(0, 3)) ctx.problem(`${e.label}: ${m}`);
      }
    });
    const rows: Row[] = [
      { metric: `CPU with ${STREAMS} stats streams (${seconds} s)`, unit: '% CPU', better: 'lower', berth: one(res.berth?.cpuPercent), docker: one(res.docker?.cpuPercent), goal: { ratio: 1 } },
      { metric: `  CPU with ${STREAMS} idle containers, no streams`, unit: '% CPU', better: 'lower', berth: one(res.berth?.idleCpuPercent), docker: one(res.docker?.idleCpuPercent) },
    ];
    return { rows, details: res };
  },
};
