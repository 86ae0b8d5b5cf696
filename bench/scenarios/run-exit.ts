// `docker run --rm IMAGE true` through the docker CLI, on the default bridge
// and with --network none, engines alternating run by run (order rotated) so
// that both share the machine's noise. Goal: at most 0.5x Docker's time.
import type { Cli } from '../docker-cli.ts';
import type { EngineKey, Row, Scenario, ScenarioContext } from '../scenario.ts';
import { summaryOrNull } from '../scenario.ts';

interface Variant {
  engine: EngineKey;
  network: 'bridge' | 'none';
  label: string;
  cli: Cli;
  args: string[];
  samples: number[];
  failures: string[];
}

export const runExit: Scenario = {
  name: 'run',
  title: 'docker run --rm IMAGE true (CLI wall time)',
  async run(ctx: ScenarioContext) {
    const variants: Variant[] = [];
    for (const e of ctx.engines) {
      for (const network of ['bridge', 'none'] as const) {
        const args = network === 'none' ? ['run', '--rm', '--network', 'none', ctx.image, 'true'] : ['run', '--rm', ctx.image, 'true'];
        variants.push({ engine: e.key, network, label: `${e.label} (${network})`, cli: e.cli, args, samples: [], failures: [] });
      }
    }
    // Sanity: the container really runs (output and exit code come back), so the timings are not of a no-op.
    for (const v of [...variants]) {
      const args = [...v.args.slice(0, -1), 'sh', '-c', 'echo berth-bench-ok; exit 7'];
      const r = await v.cli.run(args, 60_000);
      if (r.code !== 7 || !r.stdout.includes('berth-bench-ok')) {
        ctx.problem(`${v.label}: docker ${args.join(' ')} gave exit ${r.code} (want 7), stdout ${JSON.stringify(r.stdout.slice(0, 200))}: ${r.stderr.trim().slice(0, 500)}`);
        variants.splice(variants.indexOf(v), 1);
      }
    }
    for (let i = 0; i < ctx.opts.warmup; i++) for (const v of variants) await v.cli.run(v.args, 60_000);
    for (let i = 0; i < ctx.opts.runs; i++) {
      const order = variants.map((_, j) => variants[(i + j) % variants.length]!);
      for (const v of order) {
        ctx.checkInterrupted();
        const r = await v.cli.run(v.args, 60_000);
        if (r.code === 0) v.samples.push(r.ms);
        else v.failures.push(`exit ${r.code}: ${(r.stderr + r.stdout).trim().split('\n')[0]}`);
      }
    }
    for (const v of variants) if (v.failures.length) ctx.problem(`${v.label}: ${v.failures.length} of ${ctx.opts.runs} runs failed; first: ${v.failures[0]}`);
    const pick = (engine: EngineKey, network: string) => summaryOrNull(variants.find((v) => v.engine === engine && v.network === network)?.samples);
    const rows: Row[] = (['bridge', 'none'] as const).map((network) => ({
      metric: `run --rm true, ${network === 'none' ? '--network none' : 'default bridge'}`,
      unit: 'ms',
      better: 'lower',
      berth: pick('berth', network),
      docker: pick('docker', network),
      goal: { ratio: 0.5 },
    }));
    const b = pick('berth', 'bridge'), bn = pick('berth', 'none'), d = pick('docker', 'bridge'), dn = pick('docker', 'none');
    rows.push({
      metric: 'wiring cost: bridge - none (medians)',
      unit: 'ms',
      better: 'lower',
      berth: b && bn ? { ...b, median: b.median - bn.median, p95: NaN } : null,
      docker: d && dn ? { ...d, median: d.median - dn.median, p95: NaN } : null,
      goal: { ratio: 0.5 },
    });
    return { rows, details: Object.fromEntries(variants.map((v) => [`${v.engine}-${v.network}`, { command: `docker ${v.args.join(' ')}`, samplesMs: v.samples, failures: v.failures }])) };
  },
};
