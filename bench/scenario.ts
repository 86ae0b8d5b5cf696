// What a benchmark scenario is, what it gets (both engines, options) and what
// it gives back (rows for the one table, details for the JSON). Scenarios
// live in bench/scenarios/<name>.ts and are listed in bench/run.ts.
import { readFileSync, readlinkSync } from 'node:fs';
import type { ApiClient } from './api-client.ts';
import { withClients } from './api-client.ts';
import type { Cli } from './docker-cli.ts';
import { listProcesses, percentile, summarize, type ProcessInfo, type Summary } from './measure.ts';

export type EngineKey = 'berth' | 'docker';

export interface BenchEngine {
  key: EngineKey;
  label: string;
  cli: Cli;
  api: ApiClient;
  /** The engine's own daemons: Berth's node process; dockerd + containerd. */
  daemonPids(): number[];
  /** A process the engine started besides its daemons (conmon, socat, shims, proxies), not a container's own. */
  isHelper(p: ProcessInfo): boolean;
  /** Temp directory of the engine (data, run root). */
  dir: string;
}

export interface BenchOptions {
  runs: number;
  warmup: number;
  /** Idle containers for per-container memory. */
  containers: number;
  /** Containers for daemon memory and API latency under load. */
  many: number;
  /** Containers per start-throughput pass, and the client counts. */
  throughput: number;
  clients: number[];
  /** MiB of the load/save image and of the pulled image. */
  loadMiB: number;
  pullMiB: number;
  /** Seconds of the stats-stream CPU window. */
  statsSeconds: number;
}

export interface ScenarioContext {
  /** Docker first, then Berth when it is up. */
  engines: BenchEngine[];
  opts: BenchOptions;
  /** berth-test/busybox, loaded into both engines. */
  image: string;
  say(msg: string): void;
  /** Throws once the user interrupted the bench. */
  checkInterrupted(): void;
  /** Records a problem (printed under the table, kept in the JSON). */
  problem(msg: string): void;
}

/**
 * One line of the table. Values are summaries (n = 1 for a single figure);
 * the ratio is Berth/Docker of the medians. A goal is either a bound on that
 * ratio or an absolute bound on Berth's median.
 */
export interface Row {
  metric: string;
  unit: 'ms' | '/s' | 'MB/s' | 'MiB' | '% CPU';
  better: 'lower' | 'higher';
  berth: Summary | null;
  docker: Summary | null;
  goal?: { ratio: number } | { berthBelow: number };
}

export interface ScenarioResult {
  rows: Row[];
  details?: unknown;
}

export interface Scenario {
  name: string;
  /** One line for --list and the table's section heading. */
  title: string;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

export function one(n: number | undefined | null): Summary | null {
  return n === undefined || n === null || !Number.isFinite(n) ? null : summarize([n]);
}

export function summaryOrNull(values: number[] | undefined | null): Summary | null {
  return values && values.length > 0 ? summarize(values) : null;
}

/** For rates (higher is better) the bad tail is the low one: p95 holds the 5th percentile. */
export function rateSummary(values: number[] | undefined | null): Summary | null {
  if (!values || values.length === 0) return null;
  return { ...summarize(values), p95: percentile([...values].sort((a, b) => a - b), 5) };
}

/**
 * Runs fn for each engine in turn (one at a time, so that they never share
 * the machine's CPU while measured); a failing engine gives null and a problem.
 */
export async function perEngine<T>(ctx: ScenarioContext, what: string, fn: (e: BenchEngine) => Promise<T>): Promise<Record<EngineKey, T | null>> {
  const out: Record<EngineKey, T | null> = { berth: null, docker: null };
  for (const e of ctx.engines) {
    ctx.checkInterrupted();
    try {
      out[e.key] = await fn(e);
    } catch (err) {
      ctx.checkInterrupted();
      ctx.problem(`${e.label}, ${what}: ${(err as Error).message}`);
    }
  }
  return out;
}

// ------------------------------------------------------------------ containers through the API

export interface CreateSpec {
  image: string;
  cmd: string[];
  labels?: Record<string, string>;
  networkMode?: string;
}

let seq = 0;
/** A container name unique in this bench run. */
export function benchName(prefix: string): string {
  seq += 1;
  return `bench-${prefix}-${process.pid.toString(36)}-${seq.toString(36)}`;
}

/** POST /containers/create; returns the ID. */
export async function createContainer(api: ApiClient, spec: CreateSpec, name = benchName('c')): Promise<string> {
  const body: Record<string, unknown> = { Image: spec.image, Cmd: spec.cmd, Labels: spec.labels ?? {} };
  if (spec.networkMode) body.HostConfig = { NetworkMode: spec.networkMode };
  const r = await api.ok('POST', `/containers/create?name=${encodeURIComponent(name)}`, body);
  return (r.json() as { Id: string }).Id;
}

export async function startContainer(api: ApiClient, id: string): Promise<void> {
  await api.ok('POST', `/containers/${id}/start`, undefined, undefined, [304]);
}

/** Creates and starts `count` containers with `clients` in flight; returns IDs and per-container create+start times. */
export async function createAndStart(api: ApiClient, spec: CreateSpec, count: number, clients: number): Promise<{ ids: string[]; ms: number[] }> {
  const ids: string[] = [];
  const ms = await withClients(
    Array.from({ length: count }, (_, i) => i),
    clients,
    async () => {
      const t = process.hrtime.bigint();
      const id = await createContainer(api, spec);
      ids.push(id);
      await startContainer(api, id);
      return Number(process.hrtime.bigint() - t) / 1e6;
    },
  );
  return { ids, ms };
}

/** DELETE ?force=1 of each, 8 at a time; problems are returned, not thrown (clean-up must go on). */
export async function removeContainers(api: ApiClient, ids: string[], clients = 8): Promise<string[]> {
  const errors: string[] = [];
  await withClients(ids, clients, async (id) => {
    try {
      const r = await api.request('DELETE', `/containers/${id}?force=1&v=1`, undefined, 120_000);
      if (r.status >= 300 && r.status !== 404) errors.push(`DELETE ${id.slice(0, 12)}: ${r.status} ${r.body.toString().slice(0, 200)}`);
    } catch (err) {
      errors.push(`DELETE ${id.slice(0, 12)}: ${(err as Error).message}`);
    }
  });
  return errors;
}

// ------------------------------------------------------------------ processes

const ownPidNs = readlinkSync('/proc/self/ns/pid');

/** True for a process in another PID namespace: a container's own process, not the engine's. */
export function inContainer(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`) !== ownPidNs;
  } catch {
    return false;
  }
}

/** Helper processes of an engine (not zombies, not containers', not its daemons), their descendants included. */
export function helperProcesses(e: BenchEngine, all: ProcessInfo[] = listProcesses()): ProcessInfo[] {
  const daemons = new Set(e.daemonPids());
  const live = all.filter((p) => p.state !== 'Z' && !daemons.has(p.pid) && !inContainer(p.pid));
  const mine = new Set(live.filter((p) => e.isHelper(p)).map((p) => p.pid));
  // Children of helpers count too, whatever their command line says.
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of live) {
      if (!mine.has(p.pid) && mine.has(p.ppid)) {
        mine.add(p.pid);
        grew = true;
      }
    }
  }
  return live.filter((p) => mine.has(p.pid));
}

/** The cwd of a process, or '' when it cannot be read. */
export function cwdOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return '';
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds used by a process, its reaped children included (utime, stime, cutime, cstime). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): utime is field 14.
    return (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

export function mib(kb: number): number {
  return kb / 1024;
}
