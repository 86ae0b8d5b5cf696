// `docker build` (classic builder API, DOCKER_BUILDKIT=0) of a small
// two-stage Dockerfile: RUN steps in the first stage, COPY --from into the
// second. Cold is --no-cache; warm rebuilds the same context with every step
// cached. Goal: a warm rebuild under 1 s.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Row, Scenario, ScenarioContext } from '../scenario.ts';
import { perEngine, summaryOrNull } from '../scenario.ts';

const ROUNDS = 3;

function makeContext(image: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-build-'));
  mkdirSync(path.join(dir, 'src'));
  for (let i = 0; i < 20; i++) writeFileSync(path.join(dir, 'src', `part${i}.txt`), `part ${i}\n`.repeat(100));
  writeFileSync(
    path.join(dir, 'Dockerfile'),
    [
      `FROM ${image} AS build`,
      'RUN mkdir /out && i=0; while [ $i -lt 200 ]; do echo $i > /out/f$i; i=$((i+1)); done',
      'COPY src /src',
      'RUN cat /src/* > /out/all.txt',
      `FROM ${image}`,
      'COPY --from=build /out /app',
      'CMD ["wc", "-l", "/app/all.txt"]',
      '',
    ].join('\n'),
  );
  return dir;
}

export const build: Scenario = {
  name: 'build',
  title: 'docker build of a two-stage Dockerfile, cold (--no-cache) and warm',
  async run(ctx: ScenarioContext) {
    const dir = makeContext(ctx.image);
    const tag = `berth-bench/build:${process.pid}`;
    try {
      const res = await perEngine(ctx, 'build', async (e) => {
        const cold: number[] = [];
        const warm: number[] = [];
        try {
          for (let i = 0; i < ROUNDS; i++) {
            ctx.checkInterrupted();
            cold.push((await e.cli.ok(['build', '-q', '--no-cache', '-t', tag, dir], 600_000)).ms);
            const w = await e.cli.ok(['build', '-q', '-t', tag, dir], 600_000);
            warm.push(w.ms);
          }
          const out = await e.cli.ok(['run', '--rm', '--network', 'none', tag]);
          if (!out.stdout.includes('2000 /app/all.txt')) throw new Error(`the built image printed ${JSON.stringify(out.stdout)}, want 2000 lines`);
        } finally {
          await e.cli.run(['rmi', tag]);
          await e.cli.run(['image', 'prune', '-f']);
        }
        return { cold, warm };
      });
      const rows: Row[] = [
        { metric: 'docker build, two stages, cold (--no-cache)', unit: 'ms', better: 'lower', berth: summaryOrNull(res.berth?.cold), docker: summaryOrNull(res.docker?.cold) },
        { metric: 'docker build, two stages, warm (all cached)', unit: 'ms', better: 'lower', berth: summaryOrNull(res.berth?.warm), docker: summaryOrNull(res.docker?.warm), goal: { berthBelow: 1000 } },
      ];
      return { rows, details: res };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
