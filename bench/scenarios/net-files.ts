// The networking and file scenarios of bench/net-files.ts (HTTP through a
// published port with wrk, docker cp of a 100 MiB tree in and out, docker
// commit of 10,000 changed files), one engine at a time.
// Goals: HTTP and cp throughput at least Docker's; commit time at most Docker's.
import { makeCpTree, measureNetFiles } from '../net-files.ts';
import type { Row, Scenario, ScenarioContext } from '../scenario.ts';
import { one, perEngine } from '../scenario.ts';

const REPEATS = 3;
const HTTP_SECONDS = 5;

export const netFiles: Scenario = {
  name: 'netfiles',
  title: 'published-port HTTP, docker cp, docker commit',
  async run(ctx: ScenarioContext) {
    const tree = makeCpTree();
    try {
      const res = await perEngine(ctx, 'networking and files', (e) => measureNetFiles(e.cli, tree, { image: ctx.image, repeats: REPEATS, httpSeconds: HTTP_SECONDS, say: ctx.say }));
      const mib = (tree.bytes / 1048576).toFixed(0);
      const rows: Row[] = [
        { metric: 'HTTP requests/s, published port on 127.0.0.1 (wrk)', unit: '/s', better: 'higher', berth: one(res.berth?.http?.requestsPerSecond), docker: one(res.docker?.http?.requestsPerSecond), goal: { ratio: 1 } },
        { metric: `docker cp ${mib} MiB tree in`, unit: 'MB/s', better: 'higher', berth: one(res.berth?.cpInMBps), docker: one(res.docker?.cpInMBps), goal: { ratio: 1 } },
        { metric: `docker cp ${mib} MiB tree out`, unit: 'MB/s', better: 'higher', berth: one(res.berth?.cpOutMBps), docker: one(res.docker?.cpOutMBps), goal: { ratio: 1 } },
        { metric: 'docker commit, 10,000 changed files', unit: 'ms', better: 'lower', berth: res.berth?.commit ?? null, docker: res.docker?.commit ?? null, goal: { ratio: 1 } },
      ];
      return { rows, details: res };
    } finally {
      tree.cleanup();
    }
  },
};
