// The networking and file scenarios of bench/net-files.ts: HTTP through a
// published port with wrk (both engines at once, alternating rounds), then
// docker cp of a 100 MiB tree in and out and docker commit of 10,000 changed
// files, the engines taking turns run by run.
// Goals: HTTP and cp throughput at least Docker's; commit time at most Docker's.
import { filesRounds, httpRounds, makeCpTree } from '../net-files.ts';
import type { BenchEngine, Row, Scenario, ScenarioContext } from '../scenario.ts';
import { cpuSeconds, helperProcesses, one, rateSummary, summaryOrNull } from '../scenario.ts';

const REPEATS = 3;
const HTTP_ROUNDS = 5;
const HTTP_SECONDS = 5;

/** CPU seconds so far of the engine's daemons and helpers (docker-proxy is one of dockerd's). */
function engineCpuSeconds(e: BenchEngine): number {
  let s = 0;
  for (const pid of e.daemonPids()) s += cpuSeconds(pid);
  for (const p of helperProcesses(e)) s += cpuSeconds(p.pid);
  return s;
}

export const netFiles: Scenario = {
  name: 'netfiles',
  title: 'published-port HTTP, docker cp, docker commit',
  async run(ctx: ScenarioContext) {
    const tree = makeCpTree();
    try {
      ctx.checkInterrupted();
      const http = await httpRounds(ctx.engines.map((e) => ({ key: e.key, cli: e.cli, engineCpu: () => engineCpuSeconds(e) })), { image: ctx.image, rounds: HTTP_ROUNDS, seconds: HTTP_SECONDS, problem: ctx.problem });
      // Timeouts (a SYN or request stuck for wrk's 2 s) lower the rate; they are kept in the details, not failures.
      for (const [engine, h] of Object.entries(http)) for (const e of h?.errors ?? []) ctx.say(`wrk against ${engine}: ${e}`);
      ctx.checkInterrupted();
      const res = await filesRounds(ctx.engines.map((e) => ({ key: e.key, cli: e.cli })), tree, { image: ctx.image, repeats: REPEATS, problem: ctx.problem });
      const mib = (tree.bytes / 1048576).toFixed(0);
      const rows: Row[] = [
        { metric: `HTTP requests/s, published port on 127.0.0.1 (wrk, ${HTTP_ROUNDS} x ${HTTP_SECONDS} s alternating)`, unit: '/s', better: 'higher', berth: rateSummary(http.berth?.requestsPerSecond), docker: rateSummary(http.docker?.requestsPerSecond), goal: { ratio: 1 } },
        { metric: '  CPU per 1000 requests (wrk + container + engine processes)', unit: 'ms', better: 'lower', berth: summaryOrNull(http.berth?.cpuMsPerKiloRequest), docker: summaryOrNull(http.docker?.cpuMsPerKiloRequest) },
        { metric: `docker cp ${mib} MiB tree in`, unit: 'MB/s', better: 'higher', berth: one(res.berth?.cpInMBps), docker: one(res.docker?.cpInMBps), goal: { ratio: 1 } },
        { metric: `docker cp ${mib} MiB tree out`, unit: 'MB/s', better: 'higher', berth: one(res.berth?.cpOutMBps), docker: one(res.docker?.cpOutMBps), goal: { ratio: 1 } },
        { metric: 'docker commit, 10,000 changed files', unit: 'ms', better: 'lower', berth: res.berth?.commit ?? null, docker: res.docker?.commit ?? null, goal: { ratio: 1 } },
      ];
      return { rows, details: { http, ...res } };
    } finally {
      tree.cleanup();
    }
  },
};
