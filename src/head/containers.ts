// The container service of the head: desired state in the store, actions
// through the agent interface, observed exits folded back into the store.
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { conflict, invalid, isKind, notFound, notModified } from '../core/errors.ts';
import { hexId, randomName, VALID_NAME } from '../core/ids.ts';
import { KeyedLock } from '../core/keyed-lock.ts';
import type { Logger } from '../core/log.ts';
import type { ContainerConfig, ContainerRecord, HostConfig } from '../core/types.ts';
import type { Agent, ExitInfo, LogEntry, LogOptions, ObservedState } from '../agent/agent-api.ts';
import type { Store } from '../store/store.ts';
import { buildContainerRecord, checkUserns } from './container-config.ts';
import type { EventBus } from './events.ts';
import type { ContainerNetworking, EndpointConfig } from './networks.ts';
import type { ContainerMounts } from './volumes.ts';
import { parseSignal } from '../core/signals.ts';

const KIND = 'container';
const NAME_KIND = 'container-name';
const DEFAULT_STOP_TIMEOUT = 10;

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

interface AfterExit {
  autoRemove?: boolean;
  restartIn?: number;
}

interface Waiter {
  condition: WaitCondition;
  resolve: (r: { StatusCode: number; Error: { Message: string } | null }) => void;
}

export function nowRfc3339(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export class ContainerService {
  private readonly store: Store;
  private readonly agent: Agent;
  private readonly nodeName: string;
  private readonly log: Logger;
  private readonly events: EventBus;
  private readonly lock = new KeyedLock();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  /** The last restart delay per container: Docker's back-off doubles it up to a minute. */
  private readonly backoffMs = new Map<string, number>();
  /** Policy restarts wait for this (the daemon's network set-up after a restart). */
  private restartGate: Promise<void> = Promise.resolve();
  private readonly rawExitWaiters = new Map<string, Set<(exit: ExitInfo) => void>>();
  private cpus = 1;
  private runtimes: string[] = ['runc'];
  private defaultRuntime = 'runc';
  /** The volume layer (set by the daemon); without it containers get no mounts. */
  mounts?: ContainerMounts;
  /** The network layer (set by the daemon); without it containers keep runc's loopback-only namespace. */
  networking?: ContainerNetworking;

  constructor(opts: { store: Store; agent: Agent; nodeName: string; log: Logger; events: EventBus }) {
    this.store = opts.store;
    this.agent = opts.agent;
    this.nodeName = opts.nodeName;
    this.log = opts.log;
    this.events = opts.events;
    this.agent.runtime.onExit((id, exit) => this.onRuntimeExit(id, exit));
  }

  /** Brings stored state in line with what the node reports after a daemon restart. */
  async reconcile(): Promise<void> {
    const info = await this.agent.info();
    this.cpus = info.cpus;
    this.runtimes = info.runtimes;
    this.defaultRuntime = info.defaultRuntime;
    const records = (await this.store.list<ContainerRecord>(KIND)).map((s) => s.value);
    const known = new Set(await this.agent.runtime.known());
    const live = (c: ContainerRecord) => c.State.Status === 'running' || c.State.Status === 'paused' || c.State.Status === 'restarting';
    const observedAll = await this.agent.runtime.states(records.filter((c) => !c.Incomplete && live(c)).map((c) => c.Id)).catch((err) => {
      this.log.warn('reconcile: runtime state', { error: String(err) });
      return new Map<string, ObservedState>();
    });
    for (const c of records) {
      if (c.Incomplete) {
        // Create was cut short before it answered: the client never got this id.
        this.log.info('discarding a container whose create did not finish', { id: c.Id });
        await this.discardIncomplete(c);
        continue;
      }
      known.delete(c.Id);
      if (live(c)) {
        const observed: ObservedState = observedAll.get(c.Id) ?? { status: 'unknown', pid: 0 };
        if (observed.status === 'running' || observed.status === 'paused') continue;
        const exit = {
          exitCode: observed.exitCode ?? 255,
          finishedAt: observed.finishedAt ?? nowRfc3339(),
          oomKilled: observed.oomKilled ?? false,
        };
        const after = await this.lock.run(c.Id, () => this.recordExitLocked(c.Id, exit));
        // A restart that was pending when the daemon went down: the exit is known already.
        if (after.restartIn === undefined && !after.autoRemove && c.State.Restarting && !c.StoppedByUser) after.restartIn = 100;
        await this.afterExit(c.Id, after);
      } else if (c.State.Status === 'removing') {
        await this.remove(c.Id, { force: true, volumes: false }).catch((err) => this.log.warn('reconcile remove', { id: c.Id, error: String(err) }));
      }
    }
    // Runtime state without a record: left behind by a crash during create or remove.
    for (const orphan of known) {
      this.log.info('removing orphaned container state', { id: orphan });
      await this.agent.runtime.delete(orphan).catch(() => undefined);
      await this.agent.images.removeRootfs(orphan).catch(() => undefined);
    }
  }

  /**
   * Containers whose create finished (one being created is not listed yet).
   * The records are shared and frozen (see Store.listShared): read them only.
   */
  async list(): Promise<ContainerRecord[]> {
    return (await this.store.listShared<ContainerRecord>(KIND)).map((s) => s.value).filter((c) => !c.Incomplete);
  }

  /** Undoes a create that did not finish: it failed, or a crash cut it short. */
  private async discardIncomplete(c: ContainerRecord): Promise<void> {
    await this.agent.runtime.delete(c.Id).catch(() => undefined);
    await this.agent.images.removeRootfs(c.Id).catch(() => undefined);
    await this.mounts?.release(c, true).catch(() => undefined);
    await this.store.txn([
      { op: 'delete', kind: KIND, key: c.Id },
      { op: 'delete', kind: NAME_KIND, key: c.Name },
    ]);
  }

  /** Finds a container by full id, name (with or without "/"), or unique id prefix. */
  async resolve(ref: string): Promise<ContainerRecord> {
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    if (/^[0-9a-f]{64}$/.test(ref)) {
      const byId = await this.store.get<ContainerRecord>(KIND, ref);
      if (byId) return byId.value;
    }
    const byName = await this.store.get<string>(NAME_KIND, name);
    if (byName) {
      const rec = await this.store.get<ContainerRecord>(KIND, byName.value);
      if (rec) return rec.value;
    }
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = await this.store.list<ContainerRecord>(KIND, ref);
      if (matches.length === 1) return matches[0].value;
      if (matches.length > 1) throw invalid(`multiple containers found with provided prefix: ${ref}`);
    }
    throw notFound(`No such container: ${ref}`);
  }

  async create(name: string | undefined, config: ContainerConfig, hostConfig: HostConfig, endpoints?: Record<string, EndpointConfig>): Promise<ContainerRecord> {
    if (name !== undefined && name !== '') {
      name = name.replace(/^\//, '');
      if (!VALID_NAME.test(name)) throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    if (!config.Image) throw invalid('Config.Image: an image is required');
    const image = await this.agent.images.inspect(config.Image);
    const id = hexId((n) => randomBytes(n));
    const finalName = name || (await this.freeRandomName());
    const record = buildContainerRecord({
      id,
      name: finalName,
      config,
      hostConfig,
      image,
      node: this.nodeName,
      cpus: this.cpus,
      runtimes: this.runtimes,
      defaultRuntime: this.defaultRuntime,
      now: nowRfc3339(),
    });
    checkUserns(record.HostConfig, (await this.agent.info()).idMap !== undefined);
    if (this.mounts) record.Mounts = await this.mounts.plan(record);
    await this.networking?.prepareCreate(record, endpoints);
    record.Incomplete = true;
    await this.reserve(record);
    try {
      const rootfs = await this.agent.images.createRootfs(id, image.id);
      if (this.mounts && record.Mounts) {
        record.Mounts = await this.mounts.setUp(id, rootfs, record.Mounts);
        await this.save(record);
      }
      const created = await this.agent.runtime.create(record, rootfs, image.config.config ?? {});
      record.LogPath = created.logPath;
      delete record.Incomplete;
      await this.save(record);
    } catch (err) {
      await this.discardIncomplete(record);
      throw err;
    }
    this.events.emit('container', 'create', record);
    return record;
  }

  private async reserve(record: ContainerRecord): Promise<void> {
    try {
      await this.store.txn([
        { op: 'put', kind: NAME_KIND, key: record.Name, value: record.Id, ifVersion: 0 },
        { op: 'put', kind: KIND, key: record.Id, value: record, ifVersion: 0 },
      ]);
    } catch (err) {
      if (!isKind(err, 'conflict')) throw err;
      const holder = await this.store.get<string>(NAME_KIND, record.Name);
      throw conflict(
        `Conflict. The container name "/${record.Name}" is already in use by container "${holder?.value ?? ''}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
  }

  private async freeRandomName(): Promise<string> {
    for (let i = 0; i < 20; i++) {
      const candidate = randomName(Math.random) + (i > 5 ? String(i) : '');
      if (!(await this.store.get(NAME_KIND, candidate))) return candidate;
    }
    return `berth_${hexId((n) => randomBytes(n)).slice(0, 8)}`;
  }

  /** Runs fn on the current record under the container's lock, then saves it (network connect/disconnect). */
  async mutate(ref: string, fn: (c: ContainerRecord) => Promise<void>): Promise<ContainerRecord> {
    const { Id } = await this.resolve(ref);
    return this.lock.run(Id, async () => {
      const c = await this.resolve(Id);
      await fn(c);
      await this.save(c);
      return c;
    });
  }

  private async save(record: ContainerRecord): Promise<void> {
    await this.store.put(KIND, record.Id, record);
  }

  async start(ref: string): Promise<void> {
    const { Id } = await this.resolve(ref);
    let autoRemove = false;
    try {
      await this.lock.run(Id, async () => {
        const c = await this.resolve(Id);
        if (c.State.Running) throw notModified();
        this.cancelRestart(Id);
        autoRemove = !!c.HostConfig.AutoRemove;
        await this.startLocked(c, false);
      });
    } catch (err) {
      // A --rm container that cannot start is removed, as Docker does (the
      // CLI waits for that removal before it reports the error).
      if (autoRemove && !isKind(err, 'not-modified')) {
        await this.remove(Id, { force: true, volumes: true }).catch(() => undefined);
      }
      throw err;
    }
  }

  private async startLocked(c: ContainerRecord, restarting: boolean): Promise<void> {
    try {
      await this.networking?.attach(c);
      const { pid, startedAt } = await this.agent.runtime.start(c);
      c.State = {
        ...c.State,
        Status: 'running',
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: pid,
        ExitCode: 0,
        Error: '',
        StartedAt: startedAt,
      };
      // A user's start begins the count again, as Docker's does.
      c.RestartCount = restarting ? c.RestartCount + 1 : 0;
      if (!restarting) this.backoffMs.delete(c.Id);
      c.StoppedByUser = false;
      await this.save(c);
      this.events.emit('container', 'start', c);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const exitCode = /executable file not found|no such file or directory/.test(message)
        ? 127
        : /permission denied/.test(message)
          ? 126
          : 128;
      await this.networking?.detach(c).catch((e) => this.log.warn('network detach', { id: c.Id, error: String(e) }));
      c.State = { ...c.State, Status: c.State.Status === 'created' ? 'created' : 'exited', Running: false, Pid: 0, ExitCode: exitCode, Error: message };
      await this.save(c);
      throw err;
    }
  }

  async stop(ref: string, opts: { timeout?: number; signal?: string }): Promise<void> {
    if (opts.signal) parseSignal(opts.signal); // a bad signal is a 400 before anything waits on it
    const { Id } = await this.resolve(ref);
    const after = await this.lock.run(Id, async () => {
      const c = await this.resolve(Id);
      this.cancelRestart(Id);
      if (!c.State.Running) {
        if (c.State.Restarting) {
          // Stopping a restarting container ends its restarts (and unless-stopped keeps it down).
          c.State = { ...c.State, Restarting: false, Status: 'exited' };
          c.StoppedByUser = true;
          await this.save(c);
          this.events.emit('container', 'stop', c);
        }
        throw notModified();
      }
      c.StoppedByUser = true;
      await this.save(c);
      const result = await this.stopLocked(c, opts);
      this.events.emit('container', 'stop', await this.resolve(Id).catch(() => c));
      return result;
    });
    await this.afterExit(Id, after);
  }

  /**
   * SIGTERM (or the stop signal), then SIGKILL after the timeout; records the
   * exit before returning so that the caller's answer reflects it.
   */
  private async stopLocked(c: ContainerRecord, opts: { timeout?: number; signal?: string }): Promise<AfterExit> {
    const signal = opts.signal || c.Config.StopSignal || 'SIGTERM';
    const timeout = opts.timeout ?? (typeof c.Config.StopTimeout === 'number' ? c.Config.StopTimeout : DEFAULT_STOP_TIMEOUT);
    const exited = this.nextRawExit(c.Id);
    let exit: ExitInfo | undefined;
    if (timeout !== 0) {
      this.events.emit('container', 'kill', c, { signal: signalNumber(signal) });
      await this.agent.runtime.kill(c.Id, signal).catch((err) => this.log.debug('stop signal', { id: c.Id, error: String(err) }));
      exit = await (timeout < 0 ? exited : Promise.race([exited, sleep(timeout * 1000).then(() => undefined)]));
    }
    if (!exit) {
      this.events.emit('container', 'kill', c, { signal: '9' });
      await this.agent.runtime.kill(c.Id, 'SIGKILL').catch((err) => this.log.debug('stop kill', { id: c.Id, error: String(err) }));
      exit = await Promise.race([exited, sleep(15_000).then(() => undefined)]);
    }
    if (!exit) {
      this.log.warn('container did not exit after SIGKILL', { id: c.Id });
      return {};
    }
    return this.recordExitLocked(c.Id, exit);
  }

  async kill(ref: string, signal: string): Promise<void> {
    const c = await this.resolve(ref);
    if (!c.State.Running) throw conflict(`cannot kill container: ${ref}: container ${c.Id} is not running`);
    if (signal) parseSignal(signal);
    await this.agent.runtime.kill(c.Id, signal || 'SIGKILL');
    this.events.emit('container', 'kill', c, { signal: signalNumber(signal || 'SIGKILL') });
  }

  async restart(ref: string, opts: { timeout?: number; signal?: string }): Promise<void> {
    if (opts.signal) parseSignal(opts.signal);
    const { Id } = await this.resolve(ref);
    await this.lock.run(Id, async () => {
      const c = await this.resolve(Id);
      this.cancelRestart(Id);
      if (c.State.Running) {
        c.StoppedByUser = true;
        await this.save(c);
        await this.stopLocked(c, opts);
        this.events.emit('container', 'stop', await this.resolve(Id).catch(() => c));
      }
      const latest = await this.resolve(Id);
      await this.startLocked(latest, false);
      this.events.emit('container', 'restart', latest);
    });
  }

  async remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const { Id } = await this.resolve(ref);
    await this.lock.run(Id, async () => {
      const c = await this.resolve(Id);
      this.cancelRestart(Id);
      if (c.State.Running && !opts.force) {
        throw conflict(`cannot remove container "/${c.Name}": container is running: stop the container before removing or force remove`);
      }
      const wasRunning = c.State.Running;
      c.State = { ...c.State, Status: 'removing' };
      await this.save(c);
      if (wasRunning) {
        const exited = this.nextRawExit(Id);
        await this.agent.runtime.kill(Id, 'SIGKILL').catch(() => undefined);
        const exit = await Promise.race([exited, sleep(10_000).then(() => undefined)]);
        if (exit) await this.recordExitLocked(Id, exit);
        c.State = (await this.resolve(Id)).State;
      }
      const current = await this.resolve(Id);
      const detach = () => this.networking?.detach(current).catch((e) => this.log.warn('network detach', { id: Id, error: String(e) }));
      if (c.State.Running) {
        // Still running after the kill: its runtime goes (and kills) first.
        await detach();
        await this.agent.runtime.delete(Id);
        await this.agent.images.removeRootfs(Id);
      } else {
        // Independent clean-ups: side by side (the removal is on `docker run --rm`'s path).
        const [rt, fs] = await Promise.allSettled([this.agent.runtime.delete(Id), this.agent.images.removeRootfs(Id), detach()]);
        if (rt.status === 'rejected') throw rt.reason;
        if (fs.status === 'rejected') throw fs.reason;
      }
      await this.store.txn([
        { op: 'delete', kind: KIND, key: Id },
        { op: 'delete', kind: NAME_KIND, key: c.Name },
      ]);
      await this.mounts?.release(c, opts.volumes).catch((err) => this.log.warn('releasing volumes', { id: Id, error: String(err) }));
      this.events.emit('container', 'destroy', c);
      const latest = c.State;
      this.notify(Id, 'removed', latest.ExitCode);
    });
  }

  /** Freezes (or thaws) every process of the container (runc pause: the freezer cgroup). */
  async pause(ref: string, paused: boolean): Promise<void> {
    const { Id } = await this.resolve(ref);
    await this.lock.run(Id, async () => {
      const c = await this.resolve(Id);
      if (!c.State.Running) throw conflict(`Container ${Id} is not running`);
      if (paused && c.State.Paused) throw conflict(`Container ${Id} is already paused`);
      if (!paused && !c.State.Paused) throw conflict(`Container ${Id} is not paused`);
      if (paused) await this.agent.runtime.pause(Id);
      else await this.agent.runtime.unpause(Id);
      c.State = { ...c.State, Paused: paused, Status: paused ? 'paused' : 'running' };
      await this.save(c);
      this.events.emit('container', paused ? 'pause' : 'unpause', c);
    });
  }

  async rename(ref: string, newName: string): Promise<void> {
    newName = newName.replace(/^\//, '');
    if (!newName) throw invalid('Neither old nor new names may be empty');
    if (!VALID_NAME.test(newName)) throw invalid(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const { Id } = await this.resolve(ref);
    await this.lock.run(Id, async () => {
      const stored = await this.store.get<ContainerRecord>(KIND, Id);
      if (!stored) throw notFound(`No such container: ${ref}`);
      const c = stored.value;
      if (c.Name === newName) throw conflict(`Renaming a container with the same name as its current name`);
      const renamed = { ...c, Name: newName };
      try {
        await this.store.txn([
          { op: 'put', kind: NAME_KIND, key: newName, value: Id, ifVersion: 0 },
          { op: 'delete', kind: NAME_KIND, key: c.Name },
          { op: 'put', kind: KIND, key: Id, value: renamed, ifVersion: stored.version },
        ]);
      } catch (err) {
        if (!isKind(err, 'conflict')) throw err;
        const holder = await this.store.get<string>(NAME_KIND, newName);
        throw conflict(
          `Conflict. The container name "/${newName}" is already in use by container "${holder?.value ?? ''}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      this.events.emit('container', 'rename', renamed, { oldName: `/${c.Name}` });
    });
  }

  async wait(ref: string, condition: WaitCondition, signal?: AbortSignal): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    const c = await this.resolve(ref);
    if (condition === 'not-running' && !c.State.Running && !c.State.Restarting) {
      return { StatusCode: c.State.ExitCode, Error: null };
    }
    return new Promise((resolve) => {
      const waiter: Waiter = { condition, resolve };
      this.addWaiter(c.Id, waiter);
      signal?.addEventListener('abort', () => this.waiters.get(c.Id)?.delete(waiter), { once: true });
    });
  }

  private addWaiter(id: string, w: Waiter): void {
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    set.add(w);
  }

  private notify(id: string, event: 'exit' | 'removed', exitCode: number): void {
    const set = this.waiters.get(id);
    if (!set) return;
    for (const w of [...set]) {
      const matches = event === 'removed' || w.condition !== 'removed';
      if (!matches) continue;
      set.delete(w);
      w.resolve({ StatusCode: exitCode, Error: null });
    }
    if (set.size === 0) this.waiters.delete(id);
  }

  /** Called by the runtime for every exit: wake raw waiters, then record it. */
  private onRuntimeExit(id: string, exit: ExitInfo): void {
    const raw = this.rawExitWaiters.get(id);
    this.rawExitWaiters.delete(id);
    for (const fn of raw ?? []) fn(exit);
    void this.lock
      .run(id, () => this.recordExitLocked(id, exit))
      .then((after) => this.afterExit(id, after))
      .catch((err) => this.log.warn('recording exit failed', { id, error: String(err) }));
  }

  /** Resolves with the next exit the runtime reports, without taking the container lock. */
  private nextRawExit(id: string): Promise<ExitInfo> {
    return new Promise((resolve) => {
      let set = this.rawExitWaiters.get(id);
      if (!set) this.rawExitWaiters.set(id, (set = new Set()));
      set.add(resolve);
    });
  }

  /** Folds an exit into the record (caller holds the lock); says what to do next. */
  private async recordExitLocked(id: string, exit: ExitInfo): Promise<AfterExit> {
    const stored = await this.store.get<ContainerRecord>(KIND, id);
    if (!stored) return {};
    const c = stored.value;
    // Already folded in (by stop/restart, which record the exit themselves):
    // after a restart the record runs again and this old exit must not end it.
    if (c.State.FinishedAt === exit.finishedAt) return {};
    const policy = c.HostConfig.RestartPolicy ?? { Name: 'no' };
    const removing = c.State.Status === 'removing';
    const shouldRestart =
      !c.StoppedByUser &&
      !removing &&
      (policy.Name === 'always' ||
        policy.Name === 'unless-stopped' ||
        (policy.Name === 'on-failure' &&
          exit.exitCode !== 0 &&
          (!policy.MaximumRetryCount || c.RestartCount < policy.MaximumRetryCount)));
    c.State = {
      ...c.State,
      Status: removing ? 'removing' : shouldRestart ? 'restarting' : 'exited',
      Running: false,
      Paused: false,
      Restarting: shouldRestart,
      Pid: 0,
      ExitCode: exit.exitCode,
      OOMKilled: exit.oomKilled,
      FinishedAt: exit.finishedAt,
    };
    const autoRemove = !!c.HostConfig.AutoRemove && !removing;
    // An auto-removed container's network goes with the removal that follows at once, side by side with the rest.
    if (!autoRemove) await this.networking?.detach(c).catch((e) => this.log.warn('network detach', { id, error: String(e) }));
    await this.save(c);
    if (exit.oomKilled) this.events.emit('container', 'oom', c);
    const ranMs = Date.parse(exit.finishedAt) - Date.parse(c.State.StartedAt);
    this.events.emit('container', 'die', c, { exitCode: String(exit.exitCode), execDuration: String(Math.max(0, Math.floor(ranMs / 1000))) });
    this.notify(id, 'exit', exit.exitCode);
    return {
      autoRemove,
      restartIn: shouldRestart ? this.nextBackoff(id, ranMs) : undefined,
    };
  }

  /** Docker's restart back-off: 100 ms, doubling up to a minute; back to 100 ms after a run of 10 s or more. */
  private nextBackoff(id: string, ranMs: number): number {
    const prev = this.backoffMs.get(id);
    const next = prev === undefined || ranMs >= 10_000 ? 100 : Math.min(prev * 2, 60_000);
    this.backoffMs.set(id, next);
    return next;
  }

  private async afterExit(id: string, after: AfterExit): Promise<void> {
    if (after.autoRemove) {
      await this.remove(id, { force: true, volumes: true }).catch((err) => {
        if (!isKind(err, 'not-found')) this.log.warn('auto-remove failed', { id, error: String(err) });
      });
    } else if (after.restartIn !== undefined) {
      this.scheduleRestart(id, after.restartIn);
    }
  }

  /** Holds policy restarts until `ready` settles (reconcile runs before the networks are restored). */
  holdRestartsUntil(ready: Promise<void>): void {
    this.restartGate = ready.catch(() => undefined);
  }

  private scheduleRestart(id: string, delayMs: number): void {
    this.cancelRestart(id);
    const timer = setTimeout(() => {
      this.restartTimers.delete(id);
      void this.restartGate
        .then(() => this.lock.run(id, async () => {
          const stored = await this.store.get<ContainerRecord>(KIND, id);
          if (!stored || !stored.value.State.Restarting) return;
          await this.startLocked(stored.value, true);
        }))
        .catch((err) => this.log.warn('restart failed', { id, error: String(err) }));
    }, delayMs);
    timer.unref();
    this.restartTimers.set(id, timer);
  }

  private cancelRestart(id: string): void {
    const t = this.restartTimers.get(id);
    if (t) clearTimeout(t);
    this.restartTimers.delete(id);
  }

  logs(c: ContainerRecord, opts: LogOptions): AsyncIterable<LogEntry> {
    if (c.HostConfig.LogConfig?.Type === 'none') {
      throw invalid('configured logging driver does not support reading');
    }
    const entries = this.agent.runtime.logs(c, opts);
    return opts.follow && c.State.Running && !opts.followUntil ? this.untilExitRecorded(c.Id, entries, opts.signal) : entries;
  }

  /**
   * A followed log ends when the runtime sees the process gone; as with
   * Docker, the client's next request (`docker rm` after `logs -f`) must
   * then find the exit recorded too. Bounded, in case the log ended for
   * another reason.
   */
  private async *untilExitRecorded(id: string, entries: AsyncIterable<LogEntry>, signal?: AbortSignal): AsyncIterable<LogEntry> {
    yield* entries;
    if (signal?.aborted) return;
    // (wait() drops its waiter when `stop` fires)
    const stop = AbortSignal.any([AbortSignal.timeout(5000), ...(signal ? [signal] : [])]);
    const stopped = new Promise<void>((resolve) => stop.addEventListener('abort', () => resolve(), { once: true }));
    try {
      await Promise.race([this.wait(id, 'not-running', stop), stopped]);
    } catch {
      // removed meanwhile: nothing to wait for
    }
  }

  async prune(filters: Record<string, string[]>): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    const until = filters.until?.[0];
    for (const c of await this.list()) {
      if (c.State.Running || c.State.Restarting || c.State.Paused) continue;
      if (!matchesLabels(c.Config.Labels ?? {}, filters)) continue;
      if (until && Date.parse(c.Created) >= parseUntil(until)) continue;
      space += await this.agent.images.rootfsSize(c.Id).catch(() => 0);
      try {
        await this.remove(c.Id, { force: false, volumes: false });
        deleted.push(c.Id);
      } catch (err) {
        if (!isKind(err, 'not-found') && !isKind(err, 'conflict')) throw err;
      }
    }
    return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: space };
  }

  async sizeRw(id: string): Promise<number> {
    return this.agent.images.rootfsSize(id).catch(() => 0);
  }

  close(): void {
    for (const t of this.restartTimers.values()) clearTimeout(t);
  }
}

/** Applies label=key, label=key=value and label!=... filters. */
export function matchesLabels(labels: Record<string, string>, filters: Record<string, string[]>): boolean {
  for (const f of filters.label ?? []) {
    const i = f.indexOf('=');
    if (i < 0 ? !(f in labels) : labels[f.slice(0, i)] !== f.slice(i + 1)) return false;
  }
  for (const f of filters['label!'] ?? []) {
    const i = f.indexOf('=');
    if (i < 0 ? f in labels : labels[f.slice(0, i)] === f.slice(i + 1)) return false;
  }
  return true;
}

/** "until" accepts unix seconds, RFC 3339 and Go durations ("10m", "1h30m") relative to now. */
export function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const dur = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v);
  if (dur && v !== '') return Date.now() - ((Number(dur[1] ?? 0) * 60 + Number(dur[2] ?? 0)) * 60 + Number(dur[3] ?? 0)) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid filter 'until=${v}'`);
  return t;
}

/** Docker's kill events name the signal by number ("15"). */
function signalNumber(signal: string): string {
  if (/^\d+$/.test(signal)) return signal;
  const n = (osConstants.signals as Record<string, number>)[`SIG${signal.toUpperCase().replace(/^SIG/, '')}`];
  return n === undefined ? signal : String(n);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
