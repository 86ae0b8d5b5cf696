// Health checks: for every running container with a health check, a probe
// runs through the node's exec machinery every interval; results fold into
// State.Health (status, failing streak, last five results) as Docker's do,
// and a change of status is a `health_status: <status>` event.
//
// Early probes: while a container is `starting`, Berth also probes before
// Docker's schedule would (100 ms after the start, then at gaps that grow by
// a quarter), so that a container turns healthy as soon as its check passes
// rather than one interval after its start; Podman, too, probes at once. An
// early failure is neither counted nor logged: the probes on Docker's
// schedule alone decide `unhealthy`. A check that sets its own StartInterval
// keeps the schedule it asked for, and the daemon flag
// --no-early-health-probes turns early probes off.
import type { Agent } from '../agent/agent-api.ts';
import type { Logger } from '../core/log.ts';
import type { ContainerRecord, HealthConfig, HealthLogEntry, HealthState } from '../core/types.ts';
import type { ContainerService } from './containers.ts';
import type { EventBus } from './events.ts';

const SECOND = 1_000_000_000;
export const DEFAULT_INTERVAL = 30 * SECOND;
export const DEFAULT_TIMEOUT = 30 * SECOND;
export const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT = 4096;
export const EARLY_FIRST_MS = 100;
const EARLY_GROWTH = 1.25;
/** Early probes in flight at once, daemon-wide: many containers starting together cannot turn into a storm of execs. */
const EARLY_MAX_IN_FLIGHT = 2;

/** The container's health check, or undefined when it has none (or NONE). */
export function activeHealthcheck(c: ContainerRecord): HealthConfig | undefined {
  const hc = c.Config.Healthcheck;
  if (!hc || !hc.Test || hc.Test.length === 0 || hc.Test[0] === 'NONE') return undefined;
  return hc;
}

/** Go's time.Duration.String() for whole milliseconds and up ("300ms", "1.5s", "1m30s"). */
export function goDuration(ns: number): string {
  if (ns < SECOND) return `${Math.round(ns / 1e6)}ms`;
  const h = Math.floor(ns / (3600 * SECOND));
  const m = Math.floor((ns % (3600 * SECOND)) / (60 * SECOND));
  const s = (ns % (60 * SECOND)) / SECOND;
  const sec = `${Number(s.toFixed(9))}s`;
  return h ? `${h}h${m}m${sec}` : m ? `${m}m${sec}` : sec;
}

/** The probe's argv: CMD runs as given, CMD-SHELL through the container's shell. */
export function probeCommand(c: ContainerRecord, hc: HealthConfig): string[] {
  const test = hc.Test ?? [];
  if (test[0] === 'CMD-SHELL') return [...(c.Config.Shell?.length ? c.Config.Shell : ['/bin/sh', '-c']), test.slice(1).join(' ')];
  return test.slice(1);
}

/** Docker's rules: success resets; failures count once the start period is over (or after a first success). */
export function foldResult(h: HealthState, r: HealthLogEntry, retries: number, inStartPeriod: boolean): HealthState {
  const log = [...h.Log, r].slice(-MAX_LOG_ENTRIES);
  if (r.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log: log };
  if (h.Status === 'starting' && inStartPeriod) return { ...h, Log: log };
  const streak = h.FailingStreak + 1;
  return { Status: streak >= retries ? 'unhealthy' : h.Status, FailingStreak: streak, Log: log };
}

export interface ProbePlan {
  /** Epoch ms at which the probe runs. */
  at: number;
  early: boolean;
}

/**
 * The next probe: the one on Docker's schedule (regularAt), or an early one
 * earlyGapMs from now when early probing is on (earlyGapMs set) and the
 * regular probe is not right behind it.
 */
export function nextProbe(now: number, regularAt: number, earlyGapMs: number | undefined): ProbePlan {
  if (earlyGapMs !== undefined && now + earlyGapMs + EARLY_FIRST_MS <= regularAt) return { at: now + earlyGapMs, early: true };
  return { at: regularAt, early: false };
}

/** The gap before the early probe after this one. */
export const nextEarlyGap = (gapMs: number): number => gapMs * EARLY_GROWTH;

/** Docker's wait before the next regular probe: StartInterval while in the start period (when set), else the interval. */
function regularDelayMs(hc: HealthConfig, c: ContainerRecord, now: number): number {
  const startPeriod = hc.StartPeriod || 0;
  const inStart = c.State.Health?.Status === 'starting' && now - Date.parse(c.State.StartedAt) < startPeriod / 1e6;
  return (inStart && hc.StartInterval ? hc.StartInterval : hc.Interval || DEFAULT_INTERVAL) / 1e6;
}

/** A container's probe schedule. */
interface Schedule {
  hc: HealthConfig;
  /** Epoch ms of the next probe on Docker's schedule. */
  regularAt: number;
  /** Gap before the next early probe; undefined once early probing is over for this run. */
  earlyGapMs: number | undefined;
  timer?: NodeJS.Timeout;
}

const nowRfc3339 = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');

export class HealthMonitor {
  private readonly agent: Agent;
  private readonly containers: ContainerService;
  private readonly events: EventBus;
  private readonly log: Logger;
  private readonly earlyProbes: boolean;
  /** Container id -> its probe schedule (one per running container with a check). */
  private readonly schedules = new Map<string, Schedule>();
  /** Bumped on every (re)start so that a probe of an earlier run is ignored. */
  private readonly generation = new Map<string, number>();
  private earlyInFlight = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(opts: { agent: Agent; containers: ContainerService; events: EventBus; log: Logger; earlyProbes?: boolean }) {
    this.agent = opts.agent;
    this.containers = opts.containers;
    this.events = opts.events;
    this.log = opts.log;
    this.earlyProbes = opts.earlyProbes ?? true;
  }

  /** Follows starts and exits; resumes the checks of containers that run now (after a daemon restart). */
  async init(): Promise<void> {
    this.unsubscribe = this.events.subscribe((e) => {
      if (e.Type !== 'container') return;
      if (e.Action === 'start') void this.begin(e.Actor.ID, true);
      else if (e.Action === 'die' || e.Action === 'destroy') this.end(e.Actor.ID);
    });
    for (const c of await this.containers.list()) {
      if (c.State.Running && activeHealthcheck(c)) void this.begin(c.Id, !c.State.Health);
    }
  }

  close(): void {
    this.unsubscribe?.();
    for (const s of this.schedules.values()) clearTimeout(s.timer);
    this.schedules.clear();
  }

  private async begin(id: string, reset: boolean): Promise<void> {
    this.end(id);
    const gen = (this.generation.get(id) ?? 0) + 1;
    this.generation.set(id, gen);
    let hc: HealthConfig | undefined;
    try {
      const c = await this.containers.mutate(id, async (c) => {
        hc = activeHealthcheck(c);
        if (hc && reset) c.State = { ...c.State, Health: { Status: 'starting', FailingStreak: 0, Log: [] } };
        else if (!hc && c.State.Health) c.State = { ...c.State, Health: undefined };
      });
      if (!hc || !c.State.Running || this.generation.get(id) !== gen) return;
      const now = Date.now();
      const early = this.earlyProbes && c.State.Health?.Status === 'starting' && !hc.StartInterval;
      this.schedules.set(id, { hc, regularAt: now + regularDelayMs(hc, c, now), earlyGapMs: early ? EARLY_FIRST_MS : undefined });
      this.arm(id, gen);
    } catch (err) {
      this.log.debug('health monitor not started', { id, error: String(err) });
    }
  }

  private end(id: string): void {
    clearTimeout(this.schedules.get(id)?.timer);
    this.schedules.delete(id);
    this.generation.set(id, (this.generation.get(id) ?? 0) + 1);
  }

  private arm(id: string, gen: number): void {
    const s = this.schedules.get(id);
    if (!s || this.generation.get(id) !== gen) return;
    const now = Date.now();
    const plan = nextProbe(now, s.regularAt, s.earlyGapMs);
    s.timer = setTimeout(() => void this.probe(id, gen, plan.early), Math.max(1, Math.round(plan.at - now)));
    s.timer.unref();
  }

  private async probe(id: string, gen: number, early: boolean): Promise<void> {
    const s = this.schedules.get(id);
    if (!s || this.generation.get(id) !== gen) return;
    s.timer = undefined;
    let c: ContainerRecord;
    try {
      c = await this.containers.resolve(id);
    } catch {
      return; // removed
    }
    if (!c.State.Running || this.generation.get(id) !== gen) return;
    if (early) return this.earlyProbe(id, gen, s, c);
    // A frozen container cannot run a probe: the check waits for the thaw.
    const result = c.State.Paused ? undefined : await this.runProbe(c, s.hc, s.hc.Timeout || DEFAULT_TIMEOUT);
    if (this.generation.get(id) !== gen) return;
    const latest = result ? await this.record(id, gen, s.hc, result) : c;
    if (!latest) return;
    s.regularAt = Date.now() + regularDelayMs(s.hc, latest, Date.now());
    this.arm(id, gen);
  }

  /** An early probe: a pass counts as any result does, a failure is dropped. */
  private async earlyProbe(id: string, gen: number, s: Schedule, c: ContainerRecord): Promise<void> {
    if (c.State.Health?.Status !== 'starting' || s.earlyGapMs === undefined) {
      s.earlyGapMs = undefined;
      return this.arm(id, gen);
    }
    s.earlyGapMs = nextEarlyGap(s.earlyGapMs);
    // Skipped, not queued, when the daemon-wide budget is spent or the container is frozen.
    if (c.State.Paused || this.earlyInFlight >= EARLY_MAX_IN_FLIGHT) return this.arm(id, gen);
    // It must not hold up the regular probe: past that time it is ended and dropped.
    const timeoutNs = Math.min(s.hc.Timeout || DEFAULT_TIMEOUT, Math.max(s.regularAt - Date.now(), EARLY_FIRST_MS) * 1e6);
    this.earlyInFlight++;
    let result: HealthLogEntry;
    try {
      result = await this.runProbe(c, s.hc, timeoutNs);
    } finally {
      this.earlyInFlight--;
    }
    if (this.generation.get(id) !== gen) return;
    if (result.ExitCode === 0) {
      const latest = await this.record(id, gen, s.hc, result);
      if (!latest) return;
      s.earlyGapMs = undefined;
      s.regularAt = Date.now() + regularDelayMs(s.hc, latest, Date.now());
    }
    this.arm(id, gen);
  }

  /** Folds a result into State.Health; the updated record, or undefined when the container stopped or restarted meanwhile. */
  private async record(id: string, gen: number, hc: HealthConfig, result: HealthLogEntry): Promise<ContainerRecord | undefined> {
    let before: string | undefined;
    let after: string | undefined;
    const latest = await this.containers
      .mutate(id, async (rec) => {
        // A result of an earlier run (a restart came between probe and record) is dropped.
        if (!rec.State.Running || this.generation.get(id) !== gen || Date.parse(result.Start) < Date.parse(rec.State.StartedAt)) return;
        const h = rec.State.Health ?? { Status: 'starting', FailingStreak: 0, Log: [] };
        const inStart = Date.parse(result.Start) - Date.parse(rec.State.StartedAt) < (hc.StartPeriod || 0) / 1e6;
        const next = foldResult(h, result, hc.Retries || DEFAULT_RETRIES, inStart);
        before = h.Status;
        after = next.Status;
        rec.State = { ...rec.State, Health: next };
      })
      .catch(() => undefined);
    if (!latest || !latest.State.Running || this.generation.get(id) !== gen) return undefined;
    if (after && before !== after) this.events.emit('container', `health_status: ${after}`, latest);
    return latest;
  }

  private async runProbe(c: ContainerRecord, hc: HealthConfig, timeoutNs: number): Promise<HealthLogEntry> {
    const start = nowRfc3339();
    let output = '';
    const append = (b: Buffer | string) => {
      if (output.length < MAX_OUTPUT) output = (output + b.toString()).slice(0, MAX_OUTPUT);
    };
    // The deadline covers starting the probe too: an exec that hangs on its way in counts as timed out.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(1, Math.round(timeoutNs / 1e6)))));
    const timeoutResult = (): HealthLogEntry => ({ Start: start, End: nowRfc3339(), ExitCode: -1, Output: `Health check exceeded timeout (${goDuration(timeoutNs)})` });
    try {
      const starting = this.agent.runtime.exec(c.Id, {
        cmd: probeCommand(c, hc),
        env: [],
        user: '',
        workingDir: '',
        tty: false,
        privileged: false,
        stdin: false,
        detach: false,
      });
      const session = await Promise.race([starting, timedOut]);
      if (session === 'timeout') {
        // Ended whenever it does start; its output is read away so that nothing waits on it.
        void starting.then(
          async (s) => {
            s.kill?.();
            for await (const _ of s.output);
          },
          () => undefined,
        ).catch(() => undefined);
        return timeoutResult();
      }
      const drained = (async () => {
        for await (const chunk of session.output) append(chunk.data);
      })();
      const outcome = await Promise.race([session.exited, timedOut]);
      if (outcome === 'timeout') {
        session.kill?.();
        void drained.catch(() => undefined);
        return timeoutResult();
      }
      await drained.catch(() => undefined);
      if (outcome.error) return { Start: start, End: nowRfc3339(), ExitCode: -1, Output: outcome.error };
      return { Start: start, End: nowRfc3339(), ExitCode: outcome.exitCode, Output: output };
    } catch (err) {
      return { Start: start, End: nowRfc3339(), ExitCode: -1, Output: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}
