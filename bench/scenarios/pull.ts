// `docker pull` of a ~100 MiB image of 5 layers (random, so gzip cannot
// shrink it) from a private docker-registry on loopback (Debian's
// reference registry, test/helpers/registry.ts). Docker Engine pushes it
// once; each round removes the image and pulls it again through the CLI.
// Goal: at most Docker's time.
import { randomImage } from '../bench-images.ts';
import type { Row, Scenario, ScenarioContext } from '../scenario.ts';
import { perEngine, summaryOrNull } from '../scenario.ts';
import { startRegistry } from '../../test/helpers/registry.ts';

const ROUNDS = 3;

export const pull: Scenario = {
  name: 'pull',
  title: 'docker pull of a ~100 MiB, 5-layer image from a loopback registry',
  async run(ctx: ScenarioContext) {
    const docker = ctx.engines.find((e) => e.key === 'docker');
    if (!docker) throw new Error('Docker Engine is needed to push the image');
    const reg = await startRegistry();
    const img = await randomImage(`berth-bench/pull:${process.pid}`, ctx.opts.pullMiB, 5);
    const remote = `${reg.host}/berth-bench/pull:1`;
    try {
      ctx.say(`  pushing ${(img.bytes / 1048576).toFixed(0)} MiB to ${reg.host} from Docker Engine`);
      await docker.cli.ok(['load', '-i', img.file], 600_000);
      await docker.cli.ok(['tag', img.ref, remote]);
      await docker.cli.ok(['push', remote], 600_000);
      await docker.cli.ok(['rmi', img.ref, remote]);
      const res = await perEngine(ctx, 'pull', async (e) => {
        const times: number[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          ctx.checkInterrupted();
          const r = await e.cli.ok(['pull', '-q', remote], 600_000);
          times.push(r.ms);
          await e.cli.ok(['rmi', remote]);
        }
        return times;
      });
      const rows: Row[] = [
        { metric: `docker pull, ${(img.bytes / 1048576).toFixed(0)} MiB in 5 layers`, unit: 'ms', better: 'lower', berth: summaryOrNull(res.berth), docker: summaryOrNull(res.docker), goal: { ratio: 1 } },
      ];
      return { rows, details: { bytes: img.bytes, rounds: ROUNDS, timesMs: res } };
    } finally {
      for (const e of ctx.engines) await e.cli.run(['rmi', remote, img.ref]);
      img.cleanup();
      await reg.stop();
    }
  },
};
