// `docker exec C true` through the CLI against a running container, engines
// alternating run by run. Goal: at most Docker's time.
import type { Row, Scenario, ScenarioContext } from '../scenario.ts';
import { createContainer, removeContainers, startContainer, summaryOrNull } from '../scenario.ts';

export const execLatency: Scenario = {
  name: 'exec',
  title: 'docker exec C true (CLI wall time)',
  async run(ctx: ScenarioContext) {
    const targets: { key: 'berth' | 'docker'; label: string; run: (args: string[]) => Promise<{ code: number; ms: number; stderr: string }>; id: string; samples: number[] }[] = [];
    const cleanups: { label: string; fn: () => Promise<string[]> }[] = [];
    try {
      for (const e of ctx.engines) {
        const id = await createContainer(e.api, { image: ctx.image, cmd: ['sleep', '3600'] });
        cleanups.push({ label: e.label, fn: () => removeContainers(e.api, [id]) });
        try {
          await startContainer(e.api, id);
          targets.push({ key: e.key, label: e.label, run: (a) => e.cli.run(a, 60_000), id, samples: [] });
        } catch (err) {
          ctx.problem(`${e.label}: ${(err as Error).message}`);
        }
      }
      for (const t of [...targets]) {
        const r = await t.run(['exec', t.id, 'sh', '-c', 'exit 3']);
        if (r.code !== 3) {
          ctx.problem(`${t.label}: docker exec ... exit 3 gave ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
          targets.splice(targets.indexOf(t), 1);
        }
      }
      for (let i = 0; i < ctx.opts.warmup + ctx.opts.runs; i++) {
        const order = i % 2 === 0 ? targets : [...targets].reverse();
        for (const t of order) {
          ctx.checkInterrupted();
          const r = await t.run(['exec', t.id, 'true']);
          if (r.code !== 0) throw new Error(`${t.label}: docker exec true exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
          if (i >= ctx.opts.warmup) t.samples.push(r.ms);
        }
      }
    } finally {
      for (const c of cleanups) for (const m of await c.fn()) ctx.problem(`${c.label}: ${m}`);
    }
    const s = (k: string) => summaryOrNull(targets.find((t) => t.key === k)?.samples);
    const rows: Row[] = [{ metric: 'docker exec C true', unit: 'ms', better: 'lower', berth: s('berth'), docker: s('docker'), goal: { ratio: 0.5 } }];
    return { rows, details: Object.fromEntries(targets.map((t) => [t.key, t.samples])) };
  },
};
