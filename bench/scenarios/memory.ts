// Per-container memory: K idle containers (default 50, `sleep`, default
// network) started through the API, then the PSS of every process the engine
// added for them besides the containers' own and its daemons (Berth: conmon
// and anything else it keeps per container, such as socat; Docker:
// containerd-shim-runc-v2 and docker-proxy), divided by K. PSS shares a page
// among its users, so a helper's text counts once over all of them.
// Goal: at most 0.25x Docker's.
import { readMemory, sumMemory, type ProcessMemory } from '../measure.ts';
import type { BenchEngine, Row, Scenario, ScenarioContext } from '../scenario.ts';
import { createAndStart, helperProcesses, mib, one, perEngine, removeContainers } from '../scenario.ts';
import { setTimeout as sleep } from 'node:timers/promises';

function memoryOf(pids: number[]): ProcessMemory[] {
  const out: ProcessMemory[] = [];
  for (const pid of pids) {
    try {
      out.push(readMemory(pid));
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

export async function helperMemory(e: BenchEngine): Promise<{ count: number; names: Record<string, number>; pssKb: number; rssKb: number; ussKb: number }> {
  const helpers = helperProcesses(e);
  const names: Record<string, number> = {};
  for (const p of helpers) names[p.comm] = (names[p.comm] ?? 0) + 1;
  const m = sumMemory(memoryOf(helpers.map((p) => p.pid)));
  return { count: helpers.length, names, ...m };
}

export function daemonMemory(e: BenchEngine): { pssKb: number; rssKb: number; ussKb: number } {
  return sumMemory(memoryOf(e.daemonPids()));
}

export const memory: Scenario = {
  name: 'memory',
  title: 'memory each idle container adds (PSS of all helper processes)',
  async run(ctx: ScenarioContext) {
    const k = ctx.opts.containers;
    const res = await perEngine(ctx, 'per-container memory', async (e) => {
      const before = await helperMemory(e);
      let ids: string[] = [];
      try {
        const r = await createAndStart(e.api, { image: ctx.image, cmd: ['sleep', '3600'] }, k, 8);
        ids = r.ids;
        // Let start-up allocations settle (Go runtimes, lazily touched pages).
        await sleep(2000);
        const after = await helperMemory(e);
        return {
          before,
          after,
          perContainer: { pssKb: (after.pssKb - before.pssKb) / k, rssKb: (after.rssKb - before.rssKb) / k, ussKb: (after.ussKb - before.ussKb) / k },
          processesPerContainer: (after.count - before.count) / k,
        };
      } finally {
        for (const m of (await removeContainers(e.api, ids)).slice(0, 3)) ctx.problem(`${e.label}: ${m}`);
      }
    });
    const names = (x: typeof res.berth) => (x ? Object.entries(x.after.names).map(([n, c]) => `${n} x${c}`).join(', ') : '-');
    const rows: Row[] = [
      { metric: `PSS per container, ${k} idle containers`, unit: 'MiB', better: 'lower', berth: one(res.berth && mib(res.berth.perContainer.pssKb)), docker: one(res.docker && mib(res.docker.perContainer.pssKb)), goal: { ratio: 0.25 } },
      { metric: `  USS per container (private pages only)`, unit: 'MiB', better: 'lower', berth: one(res.berth && mib(res.berth.perContainer.ussKb)), docker: one(res.docker && mib(res.docker.perContainer.ussKb)) },
    ];
    ctx.say(`  helper processes: Berth ${names(res.berth)}; Docker ${names(res.docker)}`);
    return { rows, details: { containers: k, ...res } };
  },
};
