// `docker load -i` and `docker save -o` of a ~200 MiB image (4 layers of
// random files, built offline) through the CLI, a few times per engine; the
// image is removed between rounds so that each load really stores it.
// Throughput is archive MiB per second of wall time.
// Goal: at least Docker's throughput.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomImage } from '../bench-images.ts';
import type { Row, Scenario, ScenarioContext } from '../scenario.ts';
import { perEngine, rateSummary } from '../scenario.ts';

const ROUNDS = 3;

export const imageLoadSave: Scenario = {
  name: 'image',
  title: 'docker load / docker save of a ~200 MiB image',
  async run(ctx: ScenarioContext) {
    ctx.say(`  building a ${ctx.opts.loadMiB} MiB image of random layers`);
    const img = await randomImage(`berth-bench/load:${process.pid}`, ctx.opts.loadMiB, 4);
    const mib = img.bytes / (1024 * 1024);
    try {
      const res = await perEngine(ctx, 'load/save', async (e) => {
        const load: number[] = [];
        const save: number[] = [];
        const out = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-save-'));
        try {
          for (let i = 0; i < ROUNDS; i++) {
            ctx.checkInterrupted();
            const l = await e.cli.ok(['load', '-i', img.file], 600_000);
            load.push(mib / (l.ms / 1000));
            const file = path.join(out, `save${i}.tar`);
            const s = await e.cli.ok(['save', '-o', file, img.ref], 600_000);
            const size = statSync(file).size;
            if (size < img.bytes * 0.9) throw new Error(`docker save wrote ${size} bytes, the image has ${img.bytes}`);
            save.push(size / (1024 * 1024) / (s.ms / 1000));
            rmSync(file);
            await e.cli.ok(['rmi', img.ref]);
          }
        } finally {
          rmSync(out, { recursive: true, force: true });
          await e.cli.run(['rmi', img.ref]);
        }
        return { load, save };
      });
      const rows: Row[] = [
        { metric: `docker load -i, ${mib.toFixed(0)} MiB image`, unit: 'MB/s', better: 'higher', berth: rateSummary(res.berth?.load), docker: rateSummary(res.docker?.load), goal: { ratio: 1 } },
        { metric: `docker save -o, ${mib.toFixed(0)} MiB image`, unit: 'MB/s', better: 'higher', berth: rateSummary(res.berth?.save), docker: rateSummary(res.docker?.save), goal: { ratio: 1 } },
      ];
      return { rows, details: { archiveBytes: img.bytes, rounds: ROUNDS, ...res } };
    } finally {
      img.cleanup();
    }
  },
};
