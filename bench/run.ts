// `npm run bench`: Berth side by side with Docker Engine (Debian's docker.io,
// started privately by bench/docker-engine.ts) on this machine, same images,
// one table of medians, p95 and ratios Berth/Docker against each goal, and
// the same as JSON in bench/results/.
//
//   npm run bench -- [--only a,b] [--skip a,b] [--list] [--quick]
//                    [--runs N] [--warmup W] [--containers K] [--many M]
//                    [--throughput T] [--clients 1,8,32] [--load-mib S]
//                    [--pull-mib S] [--stats-seconds S] [--profile] [--out FILE]
//
// Scenarios are modules in bench/scenarios/ listed in SCENARIOS below; each
// runs the engines one at a time (or alternating run by run where the CLI's
// wall time is measured) and returns rows for the table. Everything runs in
// temp directories and is removed at the end, also on error and on Ctrl-C.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDaemon, type Daemon } from '../test/helpers/daemon.ts';
import { testImages, testImageRefs } from '../test/helpers/images.ts';
import { apiClient } from './api-client.ts';
import { dockerCli } from './docker-cli.ts';
import { startDockerEngine, type DockerEngine } from './docker-engine.ts';
import { goalMet, ratioOf, renderTable, type Section } from './report.ts';
import { cwdOf, type BenchEngine, type BenchOptions, type Scenario, type ScenarioContext } from './scenario.ts';
import { build } from './scenarios/build.ts';
import { composeUpDown } from './scenarios/compose.ts';
import { daemonLoad } from './scenarios/daemon-load.ts';
import { execLatency } from './scenarios/exec.ts';
import { imageLoadSave } from './scenarios/image-load-save.ts';
import { memory } from './scenarios/memory.ts';
import { netFiles } from './scenarios/net-files.ts';
import { pull } from './scenarios/pull.ts';
import { runExit } from './scenarios/run-exit.ts';
import { startThroughput } from './scenarios/start-throughput.ts';
import { statsCpu } from './scenarios/stats-cpu.ts';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const IMAGE = testImageRefs.busybox;

/** The registry: every scenario, in the order they run. Add yours here. */
const SCENARIOS: Scenario[] = [runExit, execLatency, startThroughput, memory, daemonLoad, statsCpu, imageLoadSave, pull, build, netFiles, composeUpDown];

// ------------------------------------------------------------------ options

const { values: flags } = parseArgs({
  options: {
    only: { type: 'string' },
    skip: { type: 'string' },
    list: { type: 'boolean' },
    quick: { type: 'boolean' },
    runs: { type: 'string' },
    warmup: { type: 'string' },
    containers: { type: 'string' },
    many: { type: 'string' },
    throughput: { type: 'string' },
    clients: { type: 'string' },
    'load-mib': { type: 'string' },
    'pull-mib': { type: 'string' },
    'stats-seconds': { type: 'string' },
    profile: { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const USAGE = `usage: npm run bench -- [options]
  --only a,b          run only these scenarios (--list shows them)
  --skip a,b          run all but these
  --quick             small sizes for a smoke run (each flag below still wins)
  --runs N            timed runs per engine for latencies (30; quick 5)
  --warmup W          untimed runs first (3; quick 1)
  --containers K      idle containers for per-container memory (50; quick 10)
  --many M            containers for daemon memory and API latency (500; quick 50)
  --throughput T      containers per start-throughput pass (200; quick 20)
  --clients 1,8,32    concurrent API clients of the throughput passes
  --load-mib S        size of the load/save image (200; quick 20)
  --pull-mib S        size of the pulled image (100; quick 10)
  --stats-seconds S   CPU window of the stats scenario (10; quick 3)
  --profile           run Berth with node --cpu-prof; profiles go to bench/results/profiles/
  --out FILE          JSON results file (default bench/results/<time>-<pid>.json)`;

if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
if (flags.list) {
  for (const s of SCENARIOS) console.log(`${s.name.padEnd(12)} ${s.title}`);
  process.exit(0);
}

function intFlag(name: string, v: string | undefined, dflt: number, quick: number, min = 1): number {
  if (v === undefined) return flags.quick ? quick : dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench: --${name} must be an integer >= ${min} (got ${v})\n${USAGE}`);
    process.exit(2);
  }
  return n;
}
function namesFlag(name: string, v: string | undefined): Set<string> | undefined {
  if (v === undefined) return undefined;
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) {
    console.error(`bench: --${name}: no scenario ${unknown.join(', ')} (there are: ${SCENARIOS.map((s) => s.name).join(', ')})`);
    process.exit(2);
  }
  return new Set(names);
}

const opts: BenchOptions = {
  runs: intFlag('runs', flags.runs, 30, 5),
  warmup: intFlag('warmup', flags.warmup, 3, 1, 0),
  containers: intFlag('containers', flags.containers, 50, 10),
  many: intFlag('many', flags.many, 500, 50),
  throughput: intFlag('throughput', flags.throughput, 200, 20),
  clients: (flags.clients ?? '1,8,32').split(',').map((c) => intFlag('clients', c, 1, 1)),
  loadMiB: intFlag('load-mib', flags['load-mib'], 200, 20),
  pullMiB: intFlag('pull-mib', flags['pull-mib'], 100, 10),
  statsSeconds: intFlag('stats-seconds', flags['stats-seconds'], 10, 3),
};
const only = namesFlag('only', flags.only);
const skip = namesFlag('skip', flags.skip);
const selected = SCENARIOS.filter((s) => (!only || only.has(s.name)) && !skip?.has(s.name));

function say(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

// ------------------------------------------------------------------ cleanup and interruption

const cleanups: { name: string; fn: () => Promise<void> }[] = [];
let cleaning: Promise<boolean> | undefined;

/** Runs every registered cleanup once, newest first; resolves false if one failed. */
function cleanupAll(): Promise<boolean> {
  cleaning ??= (async () => {
    let ok = true;
    for (const c of cleanups.reverse()) {
      try {
        await c.fn();
      } catch (err) {
        ok = false;
        say(`cleanup of ${c.name} failed: ${(err as Error).message}`);
      }
    }
    return ok;
  })();
  return cleaning;
}

let interrupted = false;
let starting: Promise<unknown> | undefined;

class Interrupted extends Error {}

function checkInterrupted(): void {
  if (interrupted) throw new Interrupted('interrupted');
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) {
      say(`${sig} again: still cleaning up, please wait`);
      return;
    }
    interrupted = true;
    say(`${sig}: stopping and cleaning up`);
    // An engine that is starting right now registers its clean-up when it is up: wait for that first.
    void Promise.resolve(starting)
      .catch(() => {})
      .then(cleanupAll)
      .finally(() => process.exit(130));
  });
}

function tryCmd(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0]!;
  } catch {
    return 'unknown';
  }
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir + '/');

// ------------------------------------------------------------------ engines

function dockerEngine(d: DockerEngine): BenchEngine {
  const daemonPids = () => [d.dockerdPid, d.containerdPid()].filter((p): p is number => p !== undefined);
  return {
    key: 'docker',
    label: 'Docker',
    cli: d.cli,
    api: apiClient(d.socket),
    dir: d.dir,
    daemonPids,
    // Shims name our containerd socket; docker-proxy and other children of dockerd/containerd count too.
    isHelper: (p) => p.args.some((a) => a.includes(d.dir)) || daemonPids().includes(p.ppid),
  };
}

function berthEngine(b: Daemon): BenchEngine {
  return {
    key: 'berth',
    label: 'Berth',
    cli: dockerCli(b.host, path.join(b.dir, 'docker-config')),
    api: apiClient(b.socket),
    dir: b.dir,
    daemonPids: () => (b.pid ? [b.pid] : []),
    // conmon, socat and friends run with paths under the daemon's directory (or in it); children of the daemon count too.
    isHelper: (p) => p.args.some((a) => a.includes(b.dir)) || under(cwdOf(p.pid), b.dir) || p.ppid === b.pid,
  };
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  const started = new Date();
  const loadBefore = os.loadavg();
  const problems: string[] = [];
  if (selected.length === 0) throw new Error('no scenario selected');
  say(`scenarios: ${selected.map((s) => s.name).join(', ')}`);

  say('building the test images (cached under .test-data/images)');
  const images = await testImages();

  say('starting Docker Engine (private socket, data root, exec root, containerd, bridge)');
  const extraArgs = (process.env.BERTH_BENCH_DOCKERD_ARGS ?? '').split(/\s+/).filter(Boolean);
  const dockerStart = startDockerEngine({ extraArgs });
  starting = dockerStart;
  const docker = await dockerStart;
  cleanups.push({ name: 'Docker Engine', fn: () => docker.cleanup() });
  checkInterrupted();
  const dockerVersion = await docker.version();
  say(`Docker Engine ${dockerVersion} on ${docker.socket} (bridge ${docker.bridge} ${docker.subnet})`);

  const profileDir = flags.profile ? path.join(benchDir, 'results', 'profiles', started.toISOString().replace(/[:.]/g, '-')) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  say('starting Berth (test/helpers/daemon.ts startDaemon)');
  const engines: BenchEngine[] = [dockerEngine(docker)];
  try {
    const berthStart = startDaemon({
      logLevel: process.env.BERTH_BENCH_LOG_LEVEL ?? 'warn',
      // Another tree's daemon (say a clean `git archive` of a commit while the working tree has work in progress).
      ...(process.env.BERTH_BENCH_ENTRY ? { entry: path.resolve(process.env.BERTH_BENCH_ENTRY) } : {}),
      ...(profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}),
    });
    starting = berthStart;
    const b = await berthStart;
    cleanups.push({ name: 'Berth', fn: () => b.cleanup() });
    say(`Berth on ${b.socket} (pid ${b.pid})`);
    engines.push(berthEngine(b));
  } catch (err) {
    problems.push(`Berth did not start: ${(err as Error).message}`);
    say(problems[problems.length - 1]!);
  }
  cleanups.push({ name: 'API clients', fn: async () => engines.forEach((e) => e.api.close()) });
  checkInterrupted();

  // Berth loads the test image; Docker Engine then loads what Berth's
  // `docker save` wrote, so every bench run also proves that archive
  // loadable by Docker (it falls back to the original archive otherwise).
  say(`loading ${images.busybox} into Berth, then Berth's docker save of it into Docker Engine`);
  let forDocker = images.busybox;
  const savedDir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-save-'));
  cleanups.push({ name: 'saved archive', fn: async () => rmSync(savedDir, { recursive: true, force: true }) });
  for (const e of [...engines].sort((a) => (a.key === 'berth' ? -1 : 1))) {
    const r = await e.cli.run(['load', '-i', e.key === 'docker' ? forDocker : images.busybox], 300_000);
    if (r.code !== 0) {
      if (e.key === 'docker') throw new Error(`docker load of ${forDocker} into Docker Engine failed: ${r.stderr}`);
      problems.push(`docker load into Berth failed (${r.code}): ${(r.stderr + r.stdout).trim()}`);
      engines.splice(engines.indexOf(e), 1);
      continue;
    }
    if (e.key === 'berth') {
      const saved = path.join(savedDir, 'busybox.tar');
      const s = await e.cli.run(['save', '-o', saved, IMAGE], 300_000);
      if (s.code === 0) forDocker = saved;
      else problems.push(`docker save from Berth failed (${s.code}): ${(s.stderr + s.stdout).trim()}`);
    }
  }
  const savedByBerth = forDocker !== images.busybox;

  const ctx: ScenarioContext = {
    engines,
    opts,
    image: IMAGE,
    say,
    checkInterrupted,
    problem: (msg) => {
      problems.push(msg);
      say(`problem: ${msg}`);
    },
  };
  const sections: (Section & { seconds: number; details?: unknown })[] = [];
  for (const s of selected) {
    checkInterrupted();
    say(`${s.name}: ${s.title}`);
    const t = Date.now();
    try {
      const r = await s.run(ctx);
      sections.push({ name: s.name, title: s.title, rows: r.rows, details: r.details, seconds: (Date.now() - t) / 1000 });
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      const msg = (err as Error).message;
      problems.push(`${s.name}: ${msg}`);
      say(`${s.name} failed: ${msg}`);
      sections.push({ name: s.name, title: s.title, rows: [], error: msg, seconds: (Date.now() - t) / 1000 });
    }
    say(`${s.name}: ${((Date.now() - t) / 1000).toFixed(0)} s`);
  }

  const loadAfter = os.loadavg();
  const notes: string[] = [
    'Ratios are Berth/Docker of the medians. p95 is the bad tail: the 95th percentile of times, the 5th of rates. A single figure (a whole pass) has no p95.',
    'Docker Engine runs with --iptables=false --ip-forward=false --ip-masq=false on a private /24 bridge: its bridge figures leave out iptables set-up that Berth does.',
    'Helper memory is the PSS of every process an engine adds besides its daemons and the containers\' own (Berth: conmon, socat...; Docker: containerd-shim-runc-v2, docker-proxy); Docker\'s daemon memory is dockerd + containerd.',
  ];
  if (savedByBerth) notes.push("Docker Engine ran the test image from the archive Berth's docker save wrote.");
  if (Math.max(loadBefore[0]!, loadAfter[0]!) > 0.5) {
    notes.push(`The machine was not idle (1-minute load ${loadBefore[0]!.toFixed(2)} before, ${loadAfter[0]!.toFixed(2)} after, ${os.cpus().length} CPUs): absolute figures are noisy; engines alternate or run back to back so the ratios stay fair.`);
  }

  const versions = {
    dockerEngine: dockerVersion,
    dockerCli: tryCmd('docker', ['--version']),
    containerd: tryCmd('containerd', ['--version']),
    runc: tryCmd('runc', ['--version']),
    conmon: tryCmd('conmon', ['--version']),
    node: process.version,
    berthCommit: tryCmd('git', ['-C', repoRoot, 'rev-parse', 'HEAD']),
    berthDirty: tryCmd('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src']) !== '',
  };
  const result = {
    date: started.toISOString(),
    options: { ...opts, image: IMAGE, scenarios: selected.map((s) => s.name) },
    host: { kernel: os.release(), cpus: os.cpus().length, memoryBytes: os.totalmem(), loadavgBefore: loadBefore, loadavgAfter: loadAfter },
    versions,
    dockerEngineFlags: { bridge: docker.bridge, subnet: docker.subnet, iptables: false, ipForward: false, ipMasq: false, extraArgs },
    scenarios: Object.fromEntries(
      sections.map((s) => [
        s.name,
        {
          title: s.title,
          seconds: s.seconds,
          error: s.error ?? null,
          rows: s.rows.map((r) => ({ ...r, ratio: ratioOf(r) ?? null, goalMet: goalMet(r) ?? null })),
          details: s.details ?? null,
        },
      ]),
    ),
    notes,
    problems,
  };
  const file = flags.out ?? path.join(benchDir, 'results', `${started.toISOString().replace(/[:.]/g, '-')}-${process.pid}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');

  const out: string[] = ['', `Berth vs Docker Engine ${dockerVersion} (${os.cpus().length} CPUs, kernel ${os.release()}), ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s`, ''];
  out.push(renderTable(sections));
  out.push('');
  for (const n of notes) out.push(`Note: ${n}`);
  // The whole message is in the JSON; the terminal gets its first line.
  for (const p of problems) out.push(`PROBLEM: ${p.split('\n')[0]!.slice(0, 400)}`);
  if (profileDir) out.push(`Berth CPU profiles (written when the daemon stops): ${path.relative(process.cwd(), profileDir)}`);
  out.push('', `Results: ${path.relative(process.cwd(), file) || file}`);
  console.log(out.join('\n'));
  return problems.length > 0 ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  if (!interrupted) say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  code = 1;
} finally {
  say('cleaning up');
  const ok = await cleanupAll();
  if (!ok && code === 0) code = 1;
}
process.exit(interrupted ? 130 : code);
