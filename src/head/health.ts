// Health checks: for every running container with a health check, a probe
// runs through the node's exec machinery every interval; results fold into
// State.Health (status, failing streak, last five results) as Docker's do,
// and a change of status is a `health_status: <status>` event.
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

const nowRfc3339 = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');

export class HealthMonitor {
  private readonly agent: Agent;
  private readonly containers: ContainerService;
  private readonly events: EventBus;
  private readonly log: Logger;
  /** Container id -> its probe timer (one monitor per running container). */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Bumped on every (re)start so that a probe of an earlier run is ignored. */
  private readonly generation = new Map<string, number>();
  private unsubscribe: (() => void) | undefined;

  constructor(opts: { agent: Agent; containers: ContainerService; events: EventBus; log: Logger }) {
    this.agent = opts.agent;
    this.containers = opts.containers;
    this.events = opts.events;
    this.log = opts.log;
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
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
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
      this.schedule(id, gen, hc, c);
    } catch (err) {
      this.log.debug('health monitor not started', { id, error: String(err) });
    }
  }

  private end(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
    this.generation.set(id, (this.generation.get(id) ?? 0) + 1);
  }

  private schedule(id: string, gen: number, hc: HealthConfig, c: ContainerRecord): void {
    const interval = hc.Interval || DEFAULT_INTERVAL;
    const startPeriod = hc.StartPeriod || 0;
    const starting = c.State.Health?.Status === 'starting' && Date.now() - Date.parse(c.State.StartedAt) < startPeriod / 1e6;
    const delayNs = starting && hc.StartInterval ? hc.StartInterval : interval;
    const timer = setTimeout(() => void this.probe(id, gen, hc), Math.max(1, Math.round(delayNs / 1e6)));
    timer.unref();
    this.timers.set(id, timer);
  }

  private async probe(id: string, gen: number, hc: HealthConfig): Promise<void> {
    this.timers.delete(id);
    let c: ContainerRecord;
    try {
      c = await this.containers.resolve(id);
    } catch {
      return; // removed
    }
    if (!c.State.Running || this.generation.get(id) !== gen) return;
    // A frozen container cannot run a probe: the check waits for the thaw.
    const result = c.State.Paused ? undefined : await this.runProbe(c, hc);
    if (this.generation.get(id) !== gen) return;
    let latest: ContainerRecord | undefined;
    if (result) {
      let before: string | undefined;
      let after: string | undefined;
      latest = await this.containers
        .mutate(id, async (rec) => {
          if (!rec.State.Running) return;
          const h = rec.State.Health ?? { Status: 'starting', FailingStreak: 0, Log: [] };
          const inStart = Date.parse(result.Start) - Date.parse(rec.State.StartedAt) < (hc.StartPeriod || 0) / 1e6;
          const next = foldResult(h, result, hc.Retries || DEFAULT_RETRIES, inStart);
          before = h.Status;
          after = next.Status;
          rec.State = { ...rec.State, Health: next };
        })
        .catch(() => undefined);
      if (!latest || !latest.State.Running || this.generation.get(id) !== gen) return;
      if (after && before !== after) this.events.emit('container', `health_status: ${after}`, latest);
    }
    this.schedule(id, gen, hc, latest ?? c);
  }

  private async runProbe(c: ContainerRecord, hc: HealthConfig): Promise<HealthLogEntry> {
    const start = nowRfc3339();
    const timeoutNs = hc.Timeout || DEFAULT_TIMEOUT;
    let output = '';
    const append = (b: Buffer | string) => {
      if (output.length < MAX_OUTPUT) output = (output + b.toString()).slice(0, MAX_OUTPUT);
    };
    try {
      const session = await this.agent.runtime.exec(c.Id, {
        cmd: probeCommand(c, hc),
        env: [],
        user: '',
        workingDir: '',
        tty: false,
        privileged: false,
        stdin: false,
        detach: false,
      });
      const drained = (async () => {
        for await (const chunk of session.output) append(chunk.data);
      })();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(1, Math.round(timeoutNs / 1e6)))));
      const outcome = await Promise.race([session.exited, timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        session.kill?.();
        void drained.catch(() => undefined);
        return { Start: start, End: nowRfc3339(), ExitCode: -1, Output: `Health check exceeded timeout (${goDuration(timeoutNs)})` };
      }
      await drained.catch(() => undefined);
      if (outcome.error) return { Start: start, End: nowRfc3339(), ExitCode: -1, Output: outcome.error };
      return { Start: start, End: nowRfc3339(), ExitCode: outcome.exitCode, Output: output };
    } catch (err) {
      return { Start: start, End: nowRfc3339(), ExitCode: -1, Output: err instanceof Error ? err.message : String(err) };
    }
  }
}
