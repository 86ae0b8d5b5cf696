// The daemon under many containers (default 500, `sleep`, --network none so
// that Docker's /24 bridge does not cap the count): the daemon's PSS at rest
// and with them (Berth's node process; dockerd + containerd), then the
// latency of GET /containers/json?all=1, GET /containers/{id}/json and a
// list filtered by a label one container in ten carries, one request at a
// time over a kept-alive connection.
// Goals: daemon memory below Docker's; API latency at most Docker's.
import { setTimeout as sleep } from 'node:timers/promises';
import { withClients } from '../api-client.ts';
import type { Row, Scenario, ScenarioContext } from '../scenario.ts';
import { benchName, createContainer, mib, one, perEngine, removeContainers, startContainer, summaryOrNull } from '../scenario.ts';
import { daemonMemory } from './memory.ts';

export const daemonLoad: Scenario = {
  name: 'daemon',
  title: 'daemon memory and API latency with many containers',
  async run(ctx: ScenarioContext) {
    const n = ctx.opts.many;
    const runs = ctx.opts.runs;
    const picked = Math.max(1, Math.floor(n / 10));
    const res = await perEngine(ctx, `${n} containers`, async (e) => {
      await sleep(1000);
      const rest = daemonMemory(e);
      const ids: string[] = [];
      let started = 0;
      try {
        const t = process.hrtime.bigint();
        await withClients(Array.from({ length: n }, (_, i) => i), 8, async (i) => {
          const labels: Record<string, string> = { 'berth.bench': 'daemon', ...(i % 10 === 0 ? { 'berth.bench.pick': 'yes' } : {}) };
          const id = await createContainer(e.api, { image: ctx.image, cmd: ['sleep', '3600'], labels, networkMode: 'none' }, benchName('d'));
          ids.push(id);
          await startContainer(e.api, id);
          if (++started % 100 === 0) ctx.say(`  ${e.label}: ${started}/${n} started`);
        });
        const startS = Number(process.hrtime.bigint() - t) / 1e9;
        await sleep(2000);
        const loaded = daemonMemory(e);
        const filter = encodeURIComponent(JSON.stringify({ label: ['berth.bench.pick=yes'] }));
        const calls: Record<'list' | 'inspect' | 'filter', () => Promise<number>> = {
          list: async () => {
            const r = await e.api.ok('GET', '/containers/json?all=1');
            const len = (r.json() as unknown[]).length;
            if (len < n) throw new Error(`GET /containers/json?all=1 listed ${len}, want at least ${n}`);
            return r.ms;
          },
          inspect: async () => (await e.api.ok('GET', `/containers/${ids[Math.floor(Math.random() * ids.length)]}/json`)).ms,
          filter: async () => {
            const r = await e.api.ok('GET', `/containers/json?all=1&filters=${filter}`);
            const len = (r.json() as unknown[]).length;
            if (len !== picked) throw new Error(`label filter listed ${len}, want ${picked}`);
            return r.ms;
          },
        };
        const latency: Record<string, number[]> = { list: [], inspect: [], filter: [] };
        for (let i = 0; i < ctx.opts.warmup + runs; i++) {
          for (const [k, call] of Object.entries(calls)) {
            ctx.checkInterrupted();
            const ms = await call();
            if (i >= ctx.opts.warmup) latency[k]!.push(ms);
          }
        }
        return { rest, loaded, startPerSecond: n / startS, latency };
      } finally {
        for (const m of (await removeContainers(e.api, ids)).slice(0, 3)) ctx.problem(`${e.label}: ${m}`);
      }
    });
    const rows: Row[] = [
      { metric: 'daemon PSS at rest', unit: 'MiB', better: 'lower', berth: one(res.berth && mib(res.berth.rest.pssKb)), docker: one(res.docker && mib(res.docker.rest.pssKb)), goal: { ratio: 1 } },
      { metric: `daemon PSS with ${n} containers`, unit: 'MiB', better: 'lower', berth: one(res.berth && mib(res.berth.loaded.pssKb)), docker: one(res.docker && mib(res.docker.loaded.pssKb)), goal: { ratio: 1 } },
      { metric: `GET /containers/json?all=1, ${n} containers`, unit: 'ms', better: 'lower', berth: summaryOrNull(res.berth?.latency.list), docker: summaryOrNull(res.docker?.latency.list), goal: { ratio: 1 } },
      { metric: `GET /containers/{id}/json, ${n} containers`, unit: 'ms', better: 'lower', berth: summaryOrNull(res.berth?.latency.inspect), docker: summaryOrNull(res.docker?.latency.inspect), goal: { ratio: 1 } },
      { metric: `list with a label filter (${picked} of ${n})`, unit: 'ms', better: 'lower', berth: summaryOrNull(res.berth?.latency.filter), docker: summaryOrNull(res.docker?.latency.filter), goal: { ratio: 1 } },
    ];
    return { rows, details: { containers: n, ...res } };
  },
};
