// `npm run bench`: Berth side by side with Docker Engine (Debian's docker.io)
// on this machine, both driven by the real docker CLI.
//
//   node scripts/run.mjs bench/run.ts [--runs N] [--warmup W] [--containers K] [--out FILE]
//
// 1. Run time: N runs of `docker run --rm berth-test/busybox true` per
//    engine after W warm-up runs, alternating engines (and rotating their
//    order) so that both share the machine's noise. Both engines are
//    measured on their default bridge and with --network none, and compared
//    like with like.
// 2. Memory: K idle containers (`docker run -d ... sleep 3600`) per engine,
//    one engine at a time; the PSS of the per-container helper process
//    (Berth: conmon; Docker: containerd-shim-runc-v2), plus the daemons' own
//    memory for context.
//
// Goal: Berth's run time at most half of Docker's, per-container memory at
// most a quarter.
//
// Everything runs in temp directories and is removed at the end, also on
// error and on Ctrl-C. Results go to stdout and bench/results/<time>.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon, type Daemon } from '../test/helpers/daemon.ts';
import { testImages, testImageRefs } from '../test/helpers/images.ts';
import { dockerCli, type Cli } from './docker-cli.ts';
import { startDockerEngine, type DockerEngine } from './docker-engine.ts';
import { kb, listProcesses, readMemory, summarize, sumMemory, type ProcessMemory, type Summary } from './measure.ts';
import { makeCpTree, measureNetFiles, type NetFilesResult } from './net-files.ts';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const IMAGE = testImageRefs.busybox;
const GOAL_TIME_RATIO = 0.5;
const GOAL_MEMORY_RATIO = 0.25;

// ------------------------------------------------------------------ options

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    containers: { type: 'string', default: '10' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  console.log('usage: npm run bench -- [--runs N (30)] [--warmup W (3)] [--containers K (10)] [--out FILE]');
  process.exit(0);
}
function positiveInt(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench: --${name} must be an integer >= ${min} (got ${v})`);
    process.exit(2);
  }
  return n;
}
const RUNS = positiveInt('runs', flags.runs!, 1);
const WARMUP = positiveInt('warmup', flags.warmup!, 0);
const CONTAINERS = positiveInt('containers', flags.containers!, 1);
const NET_FILES_REPEATS = 3;
const HTTP_SECONDS = 5;

function say(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

// ------------------------------------------------------------------ cleanup

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

/** Stops the main flow between steps once a signal came: clean-up owns the engines then. */
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

// ------------------------------------------------------------------ helpers

function tryCmd(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return 'unknown';
  }
}

const isBerth = (v: { key: string }) => v.key === 'berth' || v.key === 'berthNone';

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

interface Variant {
  key: 'berth' | 'berthNone' | 'dockerBridge' | 'dockerNone';
  label: string;
  cli: Cli;
  args: string[];
  samples: number[];
  failures: string[];
}

interface MemoryResult {
  containers: number;
  helperName: string;
  /** Helper processes found per container (should be 1 each). */
  helpersFound: number;
  helpers: (ProcessMemory & { container: string })[];
  total: { rssKb: number; pssKb: number; ussKb: number };
  perContainer: { rssKb: number; pssKb: number; ussKb: number };
  daemon: {
    processes: string;
    idle: { rssKb: number; pssKb: number; ussKb: number };
    loaded: { rssKb: number; pssKb: number; ussKb: number };
  };
  startMs: Summary;
}

function daemonMemory(pids: number[]): { rssKb: number; pssKb: number; ussKb: number } {
  return sumMemory(pids.map((p) => readMemory(p)));
}

/**
 * Starts `count` idle containers, measures their helpers' and the daemon's
 * memory, removes the containers.
 */
async function measureMemory(
  cli: Cli,
  count: number,
  helperName: string,
  daemonPids: () => number[],
  daemonLabel: string,
  findHelpers: (id: string) => number[],
): Promise<MemoryResult> {
  const idle = daemonMemory(daemonPids());
  const ids: string[] = [];
  const startTimes: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      checkInterrupted();
      const r = await cli.ok(['run', '-d', IMAGE, 'sleep', '3600'], 60_000);
      const id = r.stdout.trim().split('\n').pop()!.trim();
      if (!/^[0-9a-f]{12,64}$/.test(id)) throw new Error(`docker run -d printed no container id: ${JSON.stringify(r.stdout)}`);
      ids.push(id);
      startTimes.push(r.ms);
    }
    // Let start-up allocations settle (Go runtimes, lazily touched pages).
    await sleep(2000);
    checkInterrupted();
    const helpers: (ProcessMemory & { container: string })[] = [];
    let found = 0;
    for (const id of ids) {
      const pids = findHelpers(id);
      found += pids.length > 0 ? 1 : 0;
      if (pids.length !== 1) say(`${helperName} processes for container ${id.slice(0, 12)}: ${pids.length} (expected 1)`);
      for (const pid of pids) helpers.push({ ...readMemory(pid), container: id });
    }
    const total = sumMemory(helpers);
    const loaded = daemonMemory(daemonPids());
    return {
      containers: count,
      helperName,
      helpersFound: found,
      helpers,
      total,
      perContainer: { rssKb: total.rssKb / count, pssKb: total.pssKb / count, ussKb: total.ussKb / count },
      daemon: { processes: daemonLabel, idle, loaded },
      startMs: summarize(startTimes),
    };
  } finally {
    if (ids.length > 0 && !interrupted) {
      const r = await cli.run(['rm', '-f', ...ids], 120_000);
      if (r.code !== 0) say(`docker rm -f (${cli.host}) failed: ${r.stderr.trim()}`);
    }
  }
}

// ------------------------------------------------------------------ output

function fmtMs(n: number | undefined): string {
  return n === undefined || Number.isNaN(n) ? '-' : `${n.toFixed(0)} ms`;
}
function fmtRatio(r: number | undefined, goal: number): string {
  if (r === undefined || !Number.isFinite(r)) return '-';
  return `${r.toFixed(2)} ${r <= goal ? '(goal met)' : '(goal missed)'}`;
}
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows.slice(1)) out.push(line(r));
  return out.join('\n');
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  const started = new Date();
  const loadBefore = os.loadavg();
  const notes: string[] = [
    'Both engines are measured on their default bridge and with --network none; the ratios compare like with like (bridge with bridge, none with none).',
    'Docker Engine runs with --iptables=false --ip-forward=false --ip-masq=false on a private bridge, so the bridge figure leaves out per-network iptables set-up (not a per-container cost when no ports are published).',
    `Per-container memory is the PSS of the helper process each container keeps (Berth: conmon; Docker: containerd-shim-runc-v2) with ${CONTAINERS} idle containers on one engine at a time; shared pages are divided among the helpers, so PSS per container falls as K grows (Docker's shim most: its Go text is shared); USS (private pages only) does not depend on K.`,
  ];
  const errors: string[] = [];

  say('building the test images (cached under .test-data/images)');
  const images = await testImages();

  say('starting Docker Engine (private socket, data root, exec root, containerd, bridge)');
  const extraArgs = (process.env.BERTH_BENCH_DOCKERD_ARGS ?? '').split(/\s+/).filter(Boolean);
  const dockerStart = startDockerEngine({ extraArgs });
  starting = dockerStart;
  const docker: DockerEngine = await dockerStart;
  cleanups.push({ name: 'Docker Engine', fn: () => docker.cleanup() });
  checkInterrupted();
  say(`Docker Engine ${await docker.version()} on ${docker.socket} (bridge ${docker.bridge} ${docker.subnet})`);

  say('starting Berth (test/helpers/daemon.ts startDaemon)');
  let berth: Daemon | undefined;
  let berthCli: Cli | undefined;
  let berthError: string | undefined;
  try {
    const berthStart = startDaemon({ logLevel: process.env.BERTH_BENCH_LOG_LEVEL ?? 'warn' });
    starting = berthStart;
    berth = await berthStart;
    const b = berth;
    cleanups.push({ name: 'Berth', fn: () => b.cleanup() });
    berthCli = dockerCli(b.host, path.join(b.dir, 'docker-config'));
    say(`Berth on ${b.socket} (pid ${b.pid})`);
  } catch (err) {
    berthError = `Berth did not start: ${(err as Error).message}`;
    say(berthError);
  }
  checkInterrupted();

  say(`loading ${images.busybox} into both engines (docker load -i)`);
  checkInterrupted();
  await docker.cli.ok(['load', '-i', images.busybox], 300_000);
  if (berthCli && !berthError) {
    const r = await berthCli.run(['load', '-i', images.busybox], 300_000);
    if (r.code !== 0) berthError = `docker load into Berth failed (${r.code}): ${(r.stderr + r.stdout).trim()}`;
  }

  const variants: Variant[] = [
    { key: 'dockerBridge', label: 'Docker (bridge)', cli: docker.cli, args: ['run', '--rm', IMAGE, 'true'], samples: [], failures: [] },
    { key: 'dockerNone', label: 'Docker (--network none)', cli: docker.cli, args: ['run', '--rm', '--network', 'none', IMAGE, 'true'], samples: [], failures: [] },
  ];
  if (berthCli && !berthError) {
    variants.unshift(
      { key: 'berth', label: 'Berth (bridge)', cli: berthCli, args: ['run', '--rm', IMAGE, 'true'], samples: [], failures: [] },
      { key: 'berthNone', label: 'Berth (--network none)', cli: berthCli, args: ['run', '--rm', '--network', 'none', IMAGE, 'true'], samples: [], failures: [] },
    );
  }

  // Sanity: the container really runs (its output and exit code come back), so the timings are not of a no-op.
  for (const v of [...variants]) {
    checkInterrupted();
    const args = [...v.args.slice(0, -1), 'sh', '-c', 'echo berth-bench-ok; exit 7'];
    const r = await v.cli.run(args, 60_000);
    if (r.code !== 7 || !r.stdout.includes('berth-bench-ok')) {
      const msg = `${v.label}: docker ${args.join(' ')} gave exit ${r.code} (want 7) and stdout ${JSON.stringify(r.stdout.slice(0, 200))}: ${r.stderr.trim().slice(0, 1500)}`;
      if (!isBerth(v)) throw new Error(msg);
      berthError = `sanity check failed: ${msg}`;
      say(berthError);
      variants.splice(variants.indexOf(v), 1);
    }
  }

  // Warm-up: also the check that each engine can run a container at all.
  say(`warm-up: ${WARMUP} run(s) per engine`);
  for (let i = 0; i < WARMUP; i++) {
    for (const v of [...variants]) {
      checkInterrupted();
      const r = await v.cli.run(v.args, 60_000);
      if (r.code !== 0) {
        const msg = `${v.label}: docker ${v.args.join(' ')} exited with ${r.code}: ${(r.stderr + r.stdout).trim().slice(0, 1500)}`;
        if (isBerth(v)) {
          berthError = `warm-up failed: ${msg}`;
          say(berthError);
          variants.splice(variants.indexOf(v), 1);
        } else {
          throw new Error(msg);
        }
      }
    }
  }

  say(`timing: ${RUNS} run(s) per engine, alternating`);
  for (let i = 0; i < RUNS; i++) {
    // Rotate the order so that no engine always runs right after another.
    const order = variants.map((_, j) => variants[(i + j) % variants.length]!);
    for (const v of order) {
      checkInterrupted();
      const r = await v.cli.run(v.args, 60_000);
      if (r.code === 0) v.samples.push(r.ms);
      else v.failures.push(`run ${i + 1}: exit ${r.code}: ${firstLine((r.stderr + r.stdout).trim())}`);
    }
    if ((i + 1) % 10 === 0 || i + 1 === RUNS) say(`  ${i + 1}/${RUNS}`);
  }
  const stats: Partial<Record<Variant['key'], Summary>> = {};
  for (const v of variants) {
    if (v.samples.length > 0) stats[v.key] = summarize(v.samples);
    if (v.failures.length > 0) errors.push(`${v.label}: ${v.failures.length} of ${RUNS} timed runs failed; first: ${v.failures[0]}`);
  }

  // Memory, one engine at a time (so that the two never share pages).
  checkInterrupted();
  say(`memory: ${CONTAINERS} idle containers on Docker Engine`);
  const dockerPids = () => [docker.dockerdPid, docker.containerdPid()].filter((p): p is number => p !== undefined);
  const dockerMem = await measureMemory(docker.cli, CONTAINERS, 'containerd-shim-runc-v2', dockerPids, 'dockerd + containerd', (id) =>
    listProcesses()
      .filter(
        (p) =>
          p.state !== 'Z' &&
          p.comm.startsWith('containerd-shim') &&
          p.args.includes(docker.containerdSocket) &&
          p.args.some((a, i) => a === id && p.args[i - 1] === '-id'),
      )
      .map((p) => p.pid),
  );
  let berthMem: MemoryResult | undefined;
  if (berth && berthCli && !berthError) {
    const b = berth;
    say(`memory: ${CONTAINERS} idle containers on Berth`);
    try {
      berthMem = await measureMemory(berthCli, CONTAINERS, 'conmon', () => (b.pid ? [b.pid] : []), 'berth (node)', (id) =>
        listProcesses()
          .filter((p) => p.state !== 'Z' && p.comm === 'conmon' && p.args.some((a) => a === id || a.includes(id)))
          .map((p) => p.pid),
      );
      if (berthMem.helpersFound < CONTAINERS) errors.push(`Berth: found a conmon for ${berthMem.helpersFound} of ${CONTAINERS} containers`);
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      errors.push(`Berth memory: ${(err as Error).message}`);
    }
  }
  if (dockerMem.helpersFound < CONTAINERS) errors.push(`Docker: found a shim for ${dockerMem.helpersFound} of ${CONTAINERS} containers`);

  // Networking and files (bench/net-files.ts), one engine at a time.
  checkInterrupted();
  const tree = makeCpTree();
  cleanups.push({ name: 'docker cp tree', fn: async () => tree.cleanup() });
  const nfOpts = { image: IMAGE, repeats: NET_FILES_REPEATS, httpSeconds: HTTP_SECONDS, say };
  const netFiles: { berth: NetFilesResult | null; docker: NetFilesResult | null } = { berth: null, docker: null };
  for (const [key, label, cli] of [['docker', 'Docker Engine', docker.cli], ['berth', 'Berth', berthError ? undefined : berthCli]] as const) {
    if (!cli) continue;
    checkInterrupted();
    say(`${label}: HTTP through a published port (wrk ${HTTP_SECONDS} s), docker cp of ${(tree.bytes / 1048576).toFixed(0)} MiB in and out, docker commit of 10,000 changed files (${NET_FILES_REPEATS} runs each)`);
    try {
      netFiles[key] = await measureNetFiles(cli, tree, nfOpts);
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      errors.push(`${label} networking/files: ${(err as Error).message}`);
    }
  }
  if (berthError) errors.unshift(`Berth: ${berthError}`);
  const loadAfter = os.loadavg();
  const busy = Math.max(loadBefore[0]!, loadAfter[0]!);
  if (busy > 0.5) {
    notes.push(
      `The machine was not idle (1-minute load average ${loadBefore[0]!.toFixed(2)} before, ${loadAfter[0]!.toFixed(2)} after, on ${os.cpus().length} CPUs): absolute times are noisy; alternating the engines keeps the ratios fair.`,
    );
  }

  // ---------------------------------------------------------------- report
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  const ratios = {
    runMedianVsBridge: ratio(stats.berth?.median, stats.dockerBridge?.median),
    runMedianVsNone: ratio(stats.berthNone?.median, stats.dockerNone?.median),
    runP95VsBridge: ratio(stats.berth?.p95, stats.dockerBridge?.p95),
    runP95VsNone: ratio(stats.berthNone?.p95, stats.dockerNone?.p95),
    memoryPssPerContainer: ratio(berthMem?.perContainer.pssKb, dockerMem.perContainer.pssKb),
    memoryRssPerContainer: ratio(berthMem?.perContainer.rssKb, dockerMem.perContainer.rssKb),
    memoryUssPerContainer: ratio(berthMem?.perContainer.ussKb, dockerMem.perContainer.ussKb),
    daemonPssLoaded: ratio(berthMem?.daemon.loaded.pssKb, dockerMem.daemon.loaded.pssKb),
  };

  const versions = {
    dockerEngine: await docker.version(),
    dockerCli: tryCmd('docker', ['--version']),
    containerd: firstLine(tryCmd('containerd', ['--version'])),
    runc: firstLine(tryCmd('runc', ['--version'])),
    conmon: firstLine(tryCmd('conmon', ['--version'])),
    node: process.version,
    berthCommit: tryCmd('git', ['-C', repoRoot, 'rev-parse', 'HEAD']),
    berthDirty: tryCmd('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src']) !== '',
  };

  const out: string[] = [];
  out.push('');
  out.push(`Berth vs Docker Engine ${versions.dockerEngine}: docker run --rm ${IMAGE} true`);
  out.push(`${RUNS} timed runs per engine after ${WARMUP} warm-up, alternating; wall time of the docker CLI (${os.cpus().length} CPUs, kernel ${os.release()})`);
  out.push(`Goal: Berth's run time at most ${GOAL_TIME_RATIO}x Docker's; per-container memory at most ${GOAL_MEMORY_RATIO}x.`);
  out.push('');
  const runRows: string[][] = [['', 'Berth (bridge)', 'Berth (none)', 'Docker (bridge)', 'Docker (none)', 'Berth/Docker bridge', 'Berth/Docker none']];
  runRows.push([
    'median',
    fmtMs(stats.berth?.median),
    fmtMs(stats.berthNone?.median),
    fmtMs(stats.dockerBridge?.median),
    fmtMs(stats.dockerNone?.median),
    fmtRatio(ratios.runMedianVsBridge, GOAL_TIME_RATIO),
    fmtRatio(ratios.runMedianVsNone, GOAL_TIME_RATIO),
  ]);
  runRows.push([
    'p95',
    fmtMs(stats.berth?.p95),
    fmtMs(stats.berthNone?.p95),
    fmtMs(stats.dockerBridge?.p95),
    fmtMs(stats.dockerNone?.p95),
    fmtRatio(ratios.runP95VsBridge, GOAL_TIME_RATIO),
    fmtRatio(ratios.runP95VsNone, GOAL_TIME_RATIO),
  ]);
  runRows.push(['min', fmtMs(stats.berth?.min), fmtMs(stats.berthNone?.min), fmtMs(stats.dockerBridge?.min), fmtMs(stats.dockerNone?.min), '', '']);
  runRows.push(['max', fmtMs(stats.berth?.max), fmtMs(stats.berthNone?.max), fmtMs(stats.dockerBridge?.max), fmtMs(stats.dockerNone?.max), '', '']);
  out.push(table(runRows));
  out.push('');
  out.push(`Memory with ${CONTAINERS} idle containers (docker run -d ${IMAGE} sleep 3600), one engine at a time`);
  out.push('');
  const m = (x: MemoryResult | undefined, f: (r: MemoryResult) => number) => (x ? kb(f(x)) : '-');
  const memRows: string[][] = [['', 'Berth (conmon)', 'Docker (containerd-shim-runc-v2)', 'Berth/Docker']];
  memRows.push([
    'PSS per container',
    m(berthMem, (r) => r.perContainer.pssKb),
    m(dockerMem, (r) => r.perContainer.pssKb),
    fmtRatio(ratios.memoryPssPerContainer, GOAL_MEMORY_RATIO),
  ]);
  memRows.push([
    'RSS per container',
    m(berthMem, (r) => r.perContainer.rssKb),
    m(dockerMem, (r) => r.perContainer.rssKb),
    ratios.memoryRssPerContainer?.toFixed(2) ?? '-',
  ]);
  memRows.push([
    'USS per container',
    m(berthMem, (r) => r.perContainer.ussKb),
    m(dockerMem, (r) => r.perContainer.ussKb),
    ratios.memoryUssPerContainer?.toFixed(2) ?? '-',
  ]);
  memRows.push(['helpers found', berthMem ? `${berthMem.helpersFound}/${CONTAINERS}` : '-', `${dockerMem.helpersFound}/${CONTAINERS}`, '']);
  memRows.push(['docker run -d, median', fmtMs(berthMem?.startMs.median), fmtMs(dockerMem.startMs.median), '']);
  out.push(table(memRows));
  out.push('');
  const dRows: string[][] = [['daemon (context)', 'Berth (node)', 'Docker (dockerd + containerd)', 'Berth/Docker']];
  dRows.push(['PSS idle', m(berthMem, (r) => r.daemon.idle.pssKb), m(dockerMem, (r) => r.daemon.idle.pssKb), '']);
  dRows.push([
    `PSS with ${CONTAINERS} containers`,
    m(berthMem, (r) => r.daemon.loaded.pssKb),
    m(dockerMem, (r) => r.daemon.loaded.pssKb),
    ratios.daemonPssLoaded?.toFixed(2) ?? '-',
  ]);
  dRows.push(['RSS idle', m(berthMem, (r) => r.daemon.idle.rssKb), m(dockerMem, (r) => r.daemon.idle.rssKb), '']);
  dRows.push([`RSS with ${CONTAINERS} containers`, m(berthMem, (r) => r.daemon.loaded.rssKb), m(dockerMem, (r) => r.daemon.loaded.rssKb), '']);
  out.push(table(dRows));
  out.push('');
  const nf = (x: NetFilesResult | null, f: (r: NetFilesResult) => number, unit: (n: number) => string) => (x ? unit(f(x)) : '-');
  const per = (n: number) => `${n.toFixed(0)}/s`;
  const mbps = (n: number) => `${n.toFixed(1)} MB/s`;
  const nfRatio = (f: (r: NetFilesResult) => number) => (netFiles.berth && netFiles.docker ? (f(netFiles.berth) / f(netFiles.docker)).toFixed(2) : '-');
  const nfRows: string[][] = [['networking and files (higher is better / time: lower)', 'Berth', 'Docker', 'Berth/Docker']];
  nfRows.push(['HTTP requests/s, published port on 127.0.0.1', nf(netFiles.berth, (r) => r.http?.requestsPerSecond ?? NaN, per), nf(netFiles.docker, (r) => r.http?.requestsPerSecond ?? NaN, per), nfRatio((r) => r.http?.requestsPerSecond ?? NaN)]);
  nfRows.push(['docker cp 100 MiB tree in (median)', nf(netFiles.berth, (r) => r.cpInMBps, mbps), nf(netFiles.docker, (r) => r.cpInMBps, mbps), nfRatio((r) => r.cpInMBps)]);
  nfRows.push(['docker cp 100 MiB tree out (median)', nf(netFiles.berth, (r) => r.cpOutMBps, mbps), nf(netFiles.docker, (r) => r.cpOutMBps, mbps), nfRatio((r) => r.cpOutMBps)]);
  nfRows.push(['docker commit, 10,000 changed files (median)', nf(netFiles.berth, (r) => r.commit.median, fmtMs), nf(netFiles.docker, (r) => r.commit.median, fmtMs), nfRatio((r) => r.commit.median)]);
  nfRows.push(['wiring cost: run --rm bridge - none (median)', fmtMs(stats.berth && stats.berthNone ? stats.berth.median - stats.berthNone.median : undefined), fmtMs(stats.dockerBridge && stats.dockerNone ? stats.dockerBridge.median - stats.dockerNone.median : undefined), stats.berth && stats.berthNone && stats.dockerBridge && stats.dockerNone ? ((stats.berth.median - stats.berthNone.median) / (stats.dockerBridge.median - stats.dockerNone.median)).toFixed(2) : '-']);
  out.push(table(nfRows));
  out.push('Goals: wiring at most 0.5x Docker\'s; HTTP requests/s and cp throughput at least Docker\'s; commit time at most Docker\'s.');
  out.push('');
  for (const n of notes) out.push(`Note: ${n}`);
  for (const e of errors) out.push(`PROBLEM: ${e}`);

  const result = {
    date: started.toISOString(),
    goal: { runTimeRatioAtMost: GOAL_TIME_RATIO, memoryPerContainerRatioAtMost: GOAL_MEMORY_RATIO },
    options: { runs: RUNS, warmup: WARMUP, containers: CONTAINERS, image: IMAGE },
    host: { kernel: os.release(), cpus: os.cpus().length, memoryBytes: os.totalmem(), hostname: os.hostname(), loadavgBefore: loadBefore, loadavgAfter: loadAfter },
    versions,
    dockerEngineFlags: { bridge: docker.bridge, subnet: docker.subnet, iptables: false, ipForward: false, ipMasq: false, extraArgs },
    run: Object.fromEntries(variants.map((v) => [v.key, { label: v.label, command: `docker ${v.args.join(' ')}`, summaryMs: stats[v.key] ?? null, samplesMs: v.samples, failures: v.failures }])),
    memory: { berth: berthMem ?? null, docker: dockerMem },
    netFiles,
    ratios,
    goalMet: {
      runTimeVsDockerNone: ratios.runMedianVsNone !== undefined ? ratios.runMedianVsNone <= GOAL_TIME_RATIO : null,
      runTimeVsDockerBridge: ratios.runMedianVsBridge !== undefined ? ratios.runMedianVsBridge <= GOAL_TIME_RATIO : null,
      memoryPerContainer: ratios.memoryPssPerContainer !== undefined ? ratios.memoryPssPerContainer <= GOAL_MEMORY_RATIO : null,
    },
    notes,
    errors,
  };
  const file = flags.out ?? path.join(benchDir, 'results', `${started.toISOString().replace(/[:.]/g, '-')}-${process.pid}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  out.push('');
  out.push(`Results: ${path.relative(process.cwd(), file) || file}`);
  console.log(out.join('\n'));
  return errors.length > 0 ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  if (!interrupted) say(`failed: ${err instanceof Error ? err.message : String(err)}`);
  code = 1;
} finally {
  say('cleaning up');
  const ok = await cleanupAll();
  if (!ok && code === 0) code = 1;
}
process.exit(interrupted ? 130 : code);
