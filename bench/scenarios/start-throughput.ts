// Start throughput: N containers (default 200) created and started through
// the Engine API by 1, 8 and 32 clients at once (POST /containers/create then
// /start, keep-alive connections, as SDKs do), `sleep` as the command so that
// they stay up. Containers per second over the whole pass, and each
// container's create+start latency. Removal is not timed.
// Goal: at least 2x Docker's containers per second.
import type { Row, Scenario, ScenarioContext } from '../scenario.ts';
import { createAndStart, one, perEngine, removeContainers, summaryOrNull } from '../scenario.ts';

interface Pass {
  clients: number;
  perSecond: number;
  latencyMs: number[];
}

export const startThroughput: Scenario = {
  name: 'throughput',
  title: 'containers created and started per second (Engine API, N clients)',
  async run(ctx: ScenarioContext) {
    const count = ctx.opts.throughput;
    const res = await perEngine(ctx, 'start throughput', async (e) => {
      const passes: Pass[] = [];
      for (const clients of ctx.opts.clients) {
        ctx.checkInterrupted();
        ctx.say(`  ${e.label}: ${count} containers, ${clients} client(s)`);
        const t = process.hrtime.bigint();
        let ids: string[] = [];
        try {
          const r = await createAndStart(e.api, { image: ctx.image, cmd: ['sleep', '3600'], labels: { 'berth.bench': 'throughput' } }, count, clients);
          ids = r.ids;
          const s = Number(process.hrtime.bigint() - t) / 1e9;
          passes.push({ clients, perSecond: count / s, latencyMs: r.ms });
          // Every container must really be running, or the figure is of failures.
          const running = (await e.api.ok('GET', '/containers/json?filters=' + encodeURIComponent(JSON.stringify({ label: ['berth.bench=throughput'], status: ['running'] })))).json() as unknown[];
          if (running.length !== count) throw new Error(`${running.length} of ${count} containers running after the pass`);
        } finally {
          const errs = await removeContainers(e.api, ids);
          for (const m of errs.slice(0, 3)) ctx.problem(`${e.label}: ${m}`);
        }
      }
      return passes;
    });
    const rows: Row[] = [];
    for (const clients of ctx.opts.clients) {
      const b = res.berth?.find((p) => p.clients === clients);
      const d = res.docker?.find((p) => p.clients === clients);
      rows.push({ metric: `${count} containers, ${clients} client(s): containers/s`, unit: '/s', better: 'higher', berth: one(b?.perSecond), docker: one(d?.perSecond), goal: { ratio: 2 } });
      rows.push({ metric: `  create+start latency per container`, unit: 'ms', better: 'lower', berth: summaryOrNull(b?.latencyMs), docker: summaryOrNull(d?.latencyMs) });
    }
    return { rows, details: res };
  },
};
