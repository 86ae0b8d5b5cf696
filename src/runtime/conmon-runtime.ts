// The node's container runtime: OCI bundles run by conmon + runc (or crun),
// one conmon per container so that containers outlive the daemon. Everything
// needed to answer state() after a restart is on disk: runc's state under
// <runRoot>/runc, conmon's exit files under <runRoot>/exits, Berth's notes in
// the bundle.
import { hostGid, hostUid, type IdMap } from '../core/id-map.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ExecOptions, ExecSession, ExitInfo, LogEntry, LogOptions, ObservedState, RuntimeApi, StatsSample } from '../agent/agent-api.ts';
import type { Writable } from 'node:stream';
import type { ContainerRecord, ImageRunConfig } from '../core/types.ts';
import { BerthError, conflict, internal, invalid, notFound, unavailable } from '../core/errors.ts';
import { which } from './exec.ts';
import { cgroupHierarchies, removeCgroup } from './cgroups.ts';
import { runConmon } from './conmon.ts';
import { hostnameFile, hostsFile, resolvConfFile } from './etc-files.ts';
import { applySandbox, writeHosts } from './sandbox-files.ts';
import { execFifoPath, releaseExecFifo } from './exec-fifo.ts';
import { ExitWatcher } from './exit-watcher.ts';
import { hostDevices } from './host-devices.ts';
import { mappedDevices, type DeviceMapping } from './devices.ts';
import { boundingCapabilities, defaultNofile } from './host-limits.ts';
import { JsonLogConverter } from './json-log/log-converter.ts';
import { readJsonLog } from './json-log/read-json-log.ts';
import { jsonLogFiles } from './json-log/rotating-file.ts';
import type { ConverterTarget } from './json-log/container-converter.ts';
import { readK8sLog } from './k8s-log.ts';
import { conmonLogSizeMax, logSettings, type LogSettings } from './log-config.ts';
import { buildOciSpec, containerHostname, resources } from './oci-spec.ts';
import { RuntimePaths } from './paths.ts';
import { Runc, type RuncState } from './runc.ts';
import { parseSignal } from './signals.ts';
import { nowRfc3339, rfc3339FromNs } from './time.ts';
import { resolveUser } from './user.ts';
import { openAttachStdin } from './attach-stdin.ts';
import { writeCtl } from './exec-conmon.ts';
import { startExec } from './exec-session.ts';
import { readSpec } from './exec-spec.ts';
import { HelperLauncher } from './exec-helper.ts';
import { cgroupPids, cgroupStats } from './stats.ts';
import { top } from './top.ts';

export interface ConmonRuntimeOptions {
  /** <dataRoot>/runtime: bundles and logs. */
  root: string;
  /** e.g. /run/berth: runc state, exit files, pid files, sockets. */
  runRoot: string;
  /** Runtime name -> binary. */
  runtimes: Record<string, string>;
  defaultRuntime: string;
  /** cgroupfs parent of every container's cgroup, e.g. "berth". */
  cgroupParent: string;
  /** The conmon binary (default "conmon" on PATH). */
  conmon?: string;
  /** berth-exec (src/runtime/native), the fast path of exec without a TTY; runc exec without it. */
  execHelper?: string;
  /** The daemon's --userns-remap. */
  idMap?: IdMap;
}

/** What Berth remembers about a container beside its OCI bundle. */
interface BundleMeta {
  id: string;
  name: string;
  runtime: string;
  cgroupsPath: string;
  /** No other process outlives its init (absent in bundles of older versions). */
  ownPidNamespace?: boolean;
  terminal: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  log: LogSettings;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

async function rmQuiet(p: string): Promise<void> {
  await fs.rm(p, { recursive: true, force: true }).catch(() => undefined);
}

/** Runtime messages a user caused (bad command, bad user, bad path): a 400, not a 500. */
const USER_ERROR = /executable file not found|no such file or directory|permission denied|not a directory|is a directory|unable to find (user|group)|exec format error|error setting rlimit/i;

/** Debian's tini-static (package tini): static, so it runs in any image. */
async function initBinary(): Promise<string> {
  for (const p of ['/usr/bin/tini-static', '/usr/bin/docker-init']) if (await exists(p)) return p;
  throw unavailable('docker-init binary not found (install the tini package)');
}

function validId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw invalid(`invalid container id: ${id}`);
}

export class ConmonRuntime implements RuntimeApi {
  private readonly paths: RuntimePaths;
  private readonly runtimes: Record<string, string>;
  private readonly defaultRuntime: string;
  private readonly cgroupParent: string;
  private readonly conmon: string;
  private readonly execHelper: HelperLauncher | undefined;
  private readonly idMap: IdMap | undefined;
  private readonly listeners: ((id: string, exit: ExitInfo) => void)[] = [];
  /** Awaited after the create and before the container's process may run (the agent: its network's wiring). */
  beforeRun: ((id: string) => Promise<void>) | undefined = undefined;
  private watcher: ExitWatcher | undefined;
  /** Exit-file mtimes (ns) already reported, by id. */
  private readonly reported = new Map<string, bigint>();
  /** Ids being started or deleted: their exit files are not reported meanwhile. */
  private readonly busy = new Set<string>();
  private readonly checking = new Set<string>();
  private readonly recheck = new Set<string>();
  private dirsReady: Promise<void> | undefined;
  /** Runtime binary -> absolute path, looked up once. */
  private readonly runtimePaths = new Map<string, string>();
  /** Turns conmon's k8s-file staging log into Docker's json-file set. */
  private readonly jsonLogs = new JsonLogConverter();

  constructor(opts: ConmonRuntimeOptions) {
    this.paths = new RuntimePaths(opts.root, opts.runRoot);
    this.runtimes = { ...opts.runtimes };
    if (Object.keys(this.runtimes).length === 0) this.runtimes.runc = 'runc';
    this.defaultRuntime = opts.defaultRuntime || 'runc';
    this.cgroupParent = opts.cgroupParent.replace(/^\/+|\/+$/g, '') || 'berth';
    this.conmon = opts.conmon ?? 'conmon';
    this.execHelper = opts.execHelper ? new HelperLauncher(opts.execHelper) : undefined;
    this.idMap = opts.idMap;
  }

  private ensureDirs(): Promise<void> {
    this.dirsReady ??= (async () => {
      await fs.mkdir(this.paths.root, { recursive: true, mode: 0o711 });
      for (const dir of [this.paths.runRoot, this.paths.runcRoot, this.paths.exitDir, this.paths.socketDir, this.paths.pidDir]) {
        await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      }
    })();
    return this.dirsReady;
  }

  private runc(meta: Pick<BundleMeta, 'runtime'> | undefined): Runc {
    const name = meta?.runtime ?? this.defaultRuntime;
    const binary = this.runtimes[name] ?? this.runtimes[this.defaultRuntime] ?? 'runc';
    return new Runc(binary, this.paths.runcRoot);
  }

  /** conmon needs the runtime's absolute path. */
  private async runtimePath(binary: string): Promise<string> {
    const known = this.runtimePaths.get(binary);
    if (known) return known;
    const found = await which(binary);
    if (!found) throw unavailable(`OCI runtime ${binary} not found`);
    this.runtimePaths.set(binary, found);
    return found;
  }

  private async readMeta(id: string): Promise<BundleMeta | undefined> {
    try {
      return JSON.parse(await fs.readFile(this.paths.meta(id), 'utf8')) as BundleMeta;
    } catch {
      return undefined;
    }
  }

  /** The log file of a container as `docker inspect` shows it (LogPath): "" with the none driver. */
  logPath(id: string, log: LogSettings): string {
    if (log.driver === 'none') return '';
    return log.driver === 'json-file' ? path.join(this.paths.bundle(id), `${id}-json.log`) : this.paths.log(id);
  }

  /** What the converter reads and writes for a json-file container. */
  private jsonTarget(id: string, log: LogSettings): ConverterTarget {
    return {
      source: this.paths.log(id),
      jsonLog: this.logPath(id, log),
      stateFile: path.join(this.paths.bundle(id), 'json-log.state'),
      maxSize: log.maxSize,
      maxFile: log.maxFile ?? 1,
    };
  }

  /** conmon's attach socket (SOCK_SEQPACKET) and its control fifo, for attach and resize. */
  attachSocket(id: string): string {
    return path.join(this.paths.socket(id), 'attach');
  }
  controlFifo(id: string): string {
    return path.join(this.paths.bundle(id), 'ctl');
  }

  async create(container: ContainerRecord, rootfs: string, image: ImageRunConfig): Promise<{ logPath: string }> {
    const id = container.Id;
    validId(id);
    await this.ensureDirs();
    const hc = container.HostConfig;
    const runtime = hc.Runtime || this.defaultRuntime;
    if (!this.runtimes[runtime]) throw invalid(`unknown or invalid runtime name: ${runtime}`);
    const log = logSettings(hc);
    const bundle = this.paths.bundle(id);
    // Everything that can fail on the user's input happens before anything is written.
    const user = await resolveUser(rootfs, container.Config.User || image.User, (hc.GroupAdd as string[] | undefined) ?? []);
    const spec = buildOciSpec({
      container,
      rootfs,
      image,
      user,
      bundleDir: bundle,
      defaultNofile: defaultNofile(),
      cgroupParent: this.cgroupParent,
      hostDevices: hc.Privileged ? await hostDevices() : undefined,
      mappedDevices: await mappedDevices(hc.Devices as DeviceMapping[] | null | undefined),
      seccomp: true,
      availableCapabilities: boundingCapabilities(),
      initPath: hc.Init === true ? await initBinary() : undefined,
      idMap: this.idMap,
    });
    const hostname = containerHostname(container) || (await fs.readFile('/etc/hostname', 'utf8').catch(() => 'localhost')).trim();
    const meta: BundleMeta = {
      id,
      name: container.Name || id,
      runtime,
      cgroupsPath: spec.linux.cgroupsPath,
      ownPidNamespace: spec.linux.namespaces.some((n) => n.type === 'pid' && !n.path),
      terminal: !!container.Config.Tty,
      openStdin: !!container.Config.OpenStdin,
      stdinOnce: !!container.Config.StdinOnce,
      log,
    };
    try {
      // A remapped container's root reaches its hostname, hosts and resolv.conf files, and may write them (as in Docker).
      const remapped = spec.linux.uidMappings !== undefined;
      await fs.mkdir(bundle, { recursive: true, mode: remapped ? 0o711 : 0o700 });
      await fs.mkdir(this.paths.persist(id), { recursive: true, mode: 0o700 });
      await fs.writeFile(path.join(bundle, 'hostname'), hostnameFile(hostname), { mode: 0o644 });
      await fs.writeFile(
        path.join(bundle, 'hosts'),
        hc.NetworkMode === 'host'
          ? await fs.readFile('/etc/hosts', 'utf8').catch(() => hostsFile({ hostname }))
          : hostsFile({ hostname, extraHosts: hc.ExtraHosts }),
        { mode: 0o644 },
      );
      await fs.writeFile(
        path.join(bundle, 'resolv.conf'),
        await resolvConfFile({ dns: hc.Dns, dnsSearch: hc.DnsSearch as string[] | undefined, dnsOptions: hc.DnsOptions as string[] | undefined }),
        { mode: 0o644 },
      );
      if (remapped) {
        for (const f of ['hostname', 'hosts', 'resolv.conf']) await fs.chown(path.join(bundle, f), hostUid(this.idMap, 0), hostGid(this.idMap, 0));
      }
      await writeFileAtomic(this.paths.config(id), JSON.stringify(spec, null, 2));
      await writeFileAtomic(this.paths.meta(id), JSON.stringify(meta, null, 2));
    } catch (err) {
      await rmQuiet(bundle);
      throw internal(`cannot write the bundle of ${id}: ${(err as Error).message}`, err);
    }
    return { logPath: this.logPath(id, log) };
  }

  async start(container: ContainerRecord): Promise<{ pid: number; startedAt: string }> {
    const id = container.Id;
    validId(id);
    await this.ensureDirs();
    const meta = await this.readMeta(id);
    if (!meta) throw notFound(`No such container: ${id}`);
    if (this.busy.has(id)) throw conflict(`container ${id} is being started or removed`);
    this.busy.add(id);
    try {
      const runc = this.runc(meta);
      // runc keeps a directory per container under its --root: without one
      // there is no previous run to ask about or delete (a process saved).
      const previous = await exists(this.runtimeStateDir(id));
      if (previous) {
        const current = await runc.state(id);
        if (current && (current.status === 'running' || current.status === 'paused') && !(await exists(this.paths.exitFile(id)))) {
          throw conflict(`container ${id} is already running`);
        }
      }
      // Leftovers of the previous run.
      await this.clearRun(id, meta, runc, previous);
      await applySandbox(this.paths.bundle(id), container);
      const json = meta.log.driver === 'json-file' ? this.jsonTarget(id, meta.log) : undefined;
      if (json) await this.jsonLogs.prepareRun(id, json);

      const result = await runConmon({
        conmon: this.conmon,
        runtime: await this.runtimePath(runc.binary),
        runtimeArgs: [`--root=${this.paths.runcRoot}`, `--log=${path.join(this.paths.bundle(id), 'runc.log')}`, '--log-format=json'],
        id,
        name: meta.name,
        bundle: this.paths.bundle(id),
        pidFile: this.paths.pidFile(id),
        conmonPidFile: this.paths.conmonPidFile(id),
        exitDir: this.paths.exitDir,
        persistDir: this.paths.persist(id),
        socketDir: this.paths.socketDir,
        logPath: meta.log.driver === 'none' ? 'none' : `k8s-file:${this.paths.log(id)}`,
        logSizeMax: conmonLogSizeMax(meta.log),
        terminal: meta.terminal,
        stdin: meta.openStdin,
        stdinOnce: meta.stdinOnce,
      });
      if (!result.ok) {
        await this.clearRun(id, meta, runc);
        throw this.createError(result.message);
      }
      // Before the process may run (and exit). FinishedAt is the exit file's
      // mtime, from the kernel's coarse clock (a few ms behind the precise
      // one): the pid file runc just wrote has a time from that same clock,
      // which keeps StartedAt <= FinishedAt for a process that ends at once.
      const startedAt = await fs.stat(this.paths.pidFile(id), { bigint: true }).then(
        (st) => rfc3339FromNs(st.mtimeNs),
        () => nowRfc3339(),
      );
      if (json) this.jsonLogs.follow(id, json);
      try {
        await this.beforeRun?.(id);
      } catch (err) {
        if (json) await this.jsonLogs.finish(id, json).catch(() => undefined);
        await this.abandonRun(id, meta, runc);
        throw err;
      }
      try {
        // runc's own exec fifo where we know its layout; `runc start` otherwise.
        const released = meta.runtime === 'runc' && (await releaseExecFifo(execFifoPath(this.paths.runcRoot, id), result.pid));
        if (!released) await runc.start(id);
      } catch (err) {
        if (json) await this.jsonLogs.finish(id, json).catch(() => undefined);
        await this.abandonRun(id, meta, runc);
        throw this.createError((err as Error).message, 'start');
      }
      return { pid: result.pid, startedAt };
    } finally {
      this.busy.delete(id);
      // A process that ended while start() ran was skipped by the watcher.
      if (this.watcher) void this.checkExit(id);
    }
  }

  private createError(message: string, verb: 'create' | 'start' = 'create'): BerthError {
    const clean = message.replace(/\s+$/, '');
    if (clean.startsWith('[conmon')) return new BerthError('internal', clean);
    const text = `OCI runtime ${verb} failed: ${clean}`;
    return USER_ERROR.test(clean) ? invalid(text) : new BerthError('internal', text);
  }

  /** Removes the runtime's state of a finished run so that the container can start again. */
  private async clearRun(id: string, meta: BundleMeta, runc: Runc, runtimeState = true): Promise<void> {
    if (runtimeState) await this.deleteRuntimeState(id, meta, runc, await exists(this.paths.exitFile(id))).catch(() => undefined);
    await Promise.all([
      removeCgroup(meta.cgroupsPath).catch(() => undefined),
      rmQuiet(this.paths.exitFile(id)),
      rmQuiet(this.paths.oomFile(id)),
      rmQuiet(path.join(this.paths.persist(id), 'exit')),
      rmQuiet(this.paths.pidFile(id)),
      rmQuiet(this.paths.conmonPidFile(id)),
      rmQuiet(this.paths.socket(id)),
      rmQuiet(path.join(this.paths.bundle(id), 'runc.log')),
    ]);
  }

  /**
   * `runc delete` of a container. When its process has exited (the exit
   * file) in a PID namespace of its own, no process is left, and all runc
   * would do is remove the cgroups (the callers do that too) and its state
   * directory: done here without a runc process (~7-15 ms).
   */
  private async deleteRuntimeState(id: string, meta: BundleMeta | undefined, runc: Runc, exited: boolean): Promise<void> {
    if (exited && meta?.ownPidNamespace && meta.runtime === 'runc') {
      await fs.rm(this.runtimeStateDir(id), { recursive: true, force: true });
      return;
    }
    await runc.delete(id);
  }

  /** The runtime's own state directory of a container (runc and crun alike). */
  private runtimeStateDir(id: string): string {
    return path.join(this.paths.runcRoot, id);
  }

  /** A run that was created but must not count: kill it, wait for conmon, forget its exit. */
  private async abandonRun(id: string, meta: BundleMeta, runc: Runc): Promise<void> {
    await runc.delete(id).catch(() => undefined);
    await this.waitForExitFile(id, 3000);
    await this.clearRun(id, meta, runc);
  }

  private async waitForExitFile(id: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await exists(this.paths.exitFile(id))) return true;
      if (Date.now() >= deadline) return false;
      await sleep(10);
    }
  }

  async kill(id: string, signal: string): Promise<void> {
    validId(id);
    const sig = parseSignal(signal || 'SIGKILL');
    const meta = await this.readMeta(id);
    if (!meta) throw notFound(`No such container: ${id}`);
    // Fast path (every stop): no exit file, a live pid and a thawed freezer
    // mean runc kill would signal that pid and nothing else; skip its two
    // spawns (state, kill). A paused container goes through runc, which
    // thaws it for SIGKILL.
    const pid = await this.pidUnlessExited(id);
    if (pid > 0 && processAlive(pid) && (await isThawed(meta.cgroupsPath))) {
      try {
        process.kill(pid, sig);
        return;
      } catch {
        // exited meanwhile: runc says so in its own words
      }
    }
    const st = await this.state(id);
    if (st.status !== 'running' && st.status !== 'paused') throw conflict(`container ${id} is not running`);
    await this.runc(meta).kill(id, sig);
  }

  async state(id: string): Promise<ObservedState> {
    validId(id);
    const meta = await this.readMeta(id);
    if (!meta) throw notFound(`No such container: ${id}`);
    const runc = this.runc(meta);
    return this.observe(id, () => runc.state(id));
  }

  /**
   * state() of many containers, with one `runc list` per runtime instead of
   * a `runc state` each: a restarted daemon with 500 containers forked 1,000
   * times before it answered. Ids without runtime state, or whose state
   * could not be read, are left out.
   */
  async states(ids: string[]): Promise<Map<string, ObservedState>> {
    // One list per runtime binary, shared by its containers; undefined when the runtime cannot list.
    const lists = new Map<string, Promise<Map<string, RuncState> | undefined>>();
    const listOf = (runc: Runc) => {
      let list = lists.get(runc.binary);
      if (!list) lists.set(runc.binary, (list = runc.list().catch(() => undefined)));
      return list;
    };
    const out = new Map<string, ObservedState>();
    await Promise.all(
      ids.map(async (id) => {
        const meta = await this.readMeta(id);
        if (!meta) return;
        const runc = this.runc(meta);
        const observed = await this.observe(id, async () => {
          const listed = await listOf(runc);
          // A runtime without a usable list is asked one container at a time.
          return listed ? listed.get(id) : runc.state(id);
        }).catch(() => undefined);
        if (observed) out.set(id, observed);
      }),
    );
    return out;
  }

  /**
   * The exit file first, then the runtime's word (read after it, so that an
   * exit in between shows as "stopped" and waits for the file).
   */
  private async observe(id: string, runtimeState: () => Promise<RuncState | undefined>): Promise<ObservedState> {
    const exit = await this.readExit(id);
    if (exit) return { status: 'exited', pid: 0, exitCode: exit.exitCode, finishedAt: exit.finishedAt, oomKilled: exit.oomKilled };
    const st = await runtimeState();
    if (!st) {
      // Never started, or started and cleaned up.
      return { status: 'created', pid: 0 };
    }
    switch (st.status) {
      case 'running':
        return { status: 'running', pid: st.pid };
      case 'paused':
        return { status: 'paused', pid: st.pid };
      case 'created':
      case 'creating':
        return { status: 'created', pid: st.pid };
      case 'stopped': {
        // The process is gone; conmon writes the exit file a few ms later.
        if (await this.waitForExitFile(id, 2000)) {
          const e = await this.readExit(id);
          if (e) return { status: 'exited', pid: 0, exitCode: e.exitCode, finishedAt: e.finishedAt, oomKilled: e.oomKilled };
        }
        // conmon died with it (killed): the exit code is lost.
        return { status: 'exited', pid: 0, exitCode: 255, finishedAt: nowRfc3339(), oomKilled: await exists(this.paths.oomFile(id)) };
      }
      default:
        return { status: 'unknown', pid: 0 };
    }
  }

  private async readExit(id: string): Promise<(ExitInfo & { mtimeNs: bigint }) | undefined> {
    let text: string;
    let mtimeNs: bigint;
    try {
      const file = this.paths.exitFile(id);
      mtimeNs = (await fs.stat(file, { bigint: true })).mtimeNs;
      text = await fs.readFile(file, 'utf8');
    } catch {
      return undefined;
    }
    const code = Number.parseInt(text.trim(), 10);
    return {
      exitCode: Number.isFinite(code) && code >= 0 ? code : 255,
      finishedAt: rfc3339FromNs(mtimeNs),
      oomKilled: await exists(this.paths.oomFile(id)),
      mtimeNs,
    };
  }

  onExit(listener: (id: string, exit: ExitInfo) => void): void {
    this.listeners.push(listener);
    if (!this.watcher) {
      this.watcher = new ExitWatcher(this.paths.exitDir, (id) => void this.checkExit(id));
      void this.ensureDirs().then(() => this.watcher?.start());
      void this.resumeJsonLogs();
    }
  }

  /** Stops watching for exits (tests; daemon shutdown). Containers keep running. */
  close(): void {
    this.watcher?.stop();
    this.watcher = undefined;
    void this.jsonLogs.close();
    this.execHelper?.close();
  }

  /**
   * After a (re)start of the daemon: converts what containers wrote while
   * it was away and follows the ones still running.
   */
  private async resumeJsonLogs(): Promise<void> {
    const ids = await this.known();
    const observed = await this.states(ids);
    for (const id of ids) {
      const meta = await this.readMeta(id);
      if (meta?.log.driver !== 'json-file') continue;
      const target = this.jsonTarget(id, meta.log);
      const st = observed.get(id);
      // As isRunning: a container that runc created but did not start yet counts.
      const running = !!st && (st.status === 'running' || st.status === 'paused' || (st.status === 'created' && st.pid > 0));
      if (running) this.jsonLogs.follow(id, target);
      else await this.jsonLogs.catchUp(id, target).catch(() => undefined);
    }
  }

  private async isRunning(id: string, meta: BundleMeta): Promise<boolean> {
    if (await exists(this.paths.exitFile(id))) return false;
    const st = await this.runc(meta).state(id).catch(() => undefined);
    return !!st && (st.status === 'running' || st.status === 'paused' || st.status === 'created');
  }

  private async checkExit(id: string): Promise<void> {
    if (this.busy.has(id)) return;
    if (this.checking.has(id)) {
      this.recheck.add(id); // look again once the running check is done
      return;
    }
    this.checking.add(id);
    try {
      await this.checkExitOnce(id);
    } finally {
      this.checking.delete(id);
    }
    if (this.recheck.delete(id)) await this.checkExit(id);
  }

  /** Tells the listeners about the exit in the exit file unless they heard of it (persisted, so once across restarts). */
  private async checkExitOnce(id: string): Promise<void> {
    const exit = await this.readExit(id);
    if (!exit) return;
    if (!(await exists(this.paths.meta(id)))) return; // deleted, or not ours
    let seen = this.reported.get(id);
    if (seen === undefined) {
      const text = await fs.readFile(this.paths.exitSeen(id), 'utf8').catch(() => '');
      seen = /^\d+$/.test(text.trim()) ? BigInt(text.trim()) : -1n;
      this.reported.set(id, seen);
    }
    if (seen === exit.mtimeNs || this.busy.has(id)) return;
    // Its whole output is in the json log before anyone hears of the exit (and before
    // exit-seen marks it: a crash in between converts the rest after the restart).
    const meta = await this.readMeta(id);
    if (meta?.log.driver === 'json-file') await this.jsonLogs.finish(id, this.jsonTarget(id, meta.log)).catch(() => undefined);
    if (this.busy.has(id)) return;
    this.reported.set(id, exit.mtimeNs);
    await fs.writeFile(this.paths.exitSeen(id), String(exit.mtimeNs)).catch(() => undefined);
    const info: ExitInfo = { exitCode: exit.exitCode, finishedAt: exit.finishedAt, oomKilled: exit.oomKilled };
    for (const l of this.listeners) {
      try {
        l(id, info);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  async delete(id: string): Promise<void> {
    validId(id);
    await this.ensureDirs();
    this.busy.add(id);
    try {
      const [meta, hasState, exited] = await Promise.all([this.readMeta(id), exists(this.runtimeStateDir(id)), exists(this.paths.exitFile(id))]);
      const runc = this.runc(meta);
      // An exit file means the process is gone: no need to ask runc (a process saved).
      const st = hasState && !exited ? await runc.state(id).catch(() => undefined) : undefined;
      if (st && (st.status === 'running' || st.status === 'paused' || st.status === 'created')) {
        if (st.status === 'paused') await runc.kill(id, 9, true).catch(() => undefined);
        await runc.kill(id, 9).catch(() => undefined);
        if (st.status !== 'created') await this.waitForExitFile(id, 5000);
      }
      if (hasState) await this.deleteRuntimeState(id, meta, runc, exited);
      await this.jsonLogs.forget(id);
      // conmon exits after its container; one that lingers (killed runtime) is stopped here.
      await this.stopConmon(id);
      await removeCgroup(meta?.cgroupsPath ?? `/${this.cgroupParent}/${id}`);
      await Promise.all([
        rmQuiet(this.paths.bundle(id)),
        rmQuiet(this.paths.exitFile(id)),
        rmQuiet(this.paths.pidFile(id)),
        rmQuiet(this.paths.conmonPidFile(id)),
        rmQuiet(this.paths.socket(id)),
      ]);
      this.reported.delete(id);
    } finally {
      this.busy.delete(id);
    }
  }

  private async stopConmon(id: string): Promise<void> {
    const text = await fs.readFile(this.paths.conmonPidFile(id), 'utf8').catch(() => '');
    const pid = Number.parseInt(text.trim(), 10);
    if (!(pid > 1)) return;
    // Only if it is still conmon for this container (pids are reused).
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes(id) || !cmdline.split('\0')[0].endsWith('conmon')) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }

  async *logs(container: ContainerRecord, opts: LogOptions): AsyncIterable<LogEntry> {
    const id = container.Id;
    validId(id);
    const meta = await this.readMeta(id);
    if (!meta) throw notFound(`No such container: ${id}`);
    if (meta.log.driver === 'none') throw invalid('configured logging driver does not support reading');
    const running = async () => (opts.followUntil ? !opts.followUntil.aborted : this.isRunning(id, meta));
    if (meta.log.driver !== 'json-file') {
      yield* readK8sLog(this.paths.log(id), opts, { running });
      return;
    }
    const target = this.jsonTarget(id, meta.log);
    yield* readJsonLog(jsonLogFiles(target.jsonLog, target.maxFile), opts, {
      running,
      // A read answers with everything the container wrote before it.
      catchUp: () => this.jsonLogs.catchUp(id, target).catch(() => undefined),
      subscribe: (wake) => this.jsonLogs.subscribe(id, wake),
    });
  }

  async known(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.paths.root);
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const name of names) if (await exists(this.paths.config(name))) out.push(name);
    return out;
  }

  // Interactive use and observation (attach-stdin.ts, exec-*.ts, stats.ts, top.ts).

  private async runningMeta(id: string): Promise<{ meta: BundleMeta; pid: number; paused: boolean }> {
    validId(id);
    const [meta, pid] = await Promise.all([this.readMeta(id), this.pidUnlessExited(id)]);
    if (!meta) throw notFound(`No such container: ${id}`);
    // Fast path (exec, resize): no exit file, a live pid and a thawed freezer
    // say "running" without spawning `runc state`.
    if (pid > 0 && processAlive(pid) && (await isThawed(meta.cgroupsPath))) return { meta, pid, paused: false };
    const st = await this.state(id);
    if (st.status !== 'running' && st.status !== 'paused') throw conflict(`Container ${id} is not running`);
    return { meta, pid: st.pid, paused: st.status === 'paused' };
  }

  async attachStdin(id: string, signal: AbortSignal): Promise<Writable> {
    validId(id);
    return openAttachStdin(this.attachSocket(id), signal);
  }

  async resize(id: string, height: number, width: number): Promise<void> {
    const { meta } = await this.runningMeta(id);
    if (!meta.terminal) return; // Docker ignores resizes of containers without a TTY
    await writeCtl(this.controlFifo(id), height, width);
  }

  async exec(id: string, opts: ExecOptions): Promise<ExecSession> {
    // (The bundle's config.json is read alongside; runningMeta says why a container cannot exec.)
    const [{ meta, pid, paused }, spec] = await Promise.all([this.runningMeta(id), readSpec(this.paths.config(id)).catch(() => undefined)]);
    if (paused) throw conflict(`Container ${id} is paused, unpause the container before exec`);
    if (!spec) throw notFound(`No such container: ${id}`);
    const runc = this.runc(meta);
    return startExec(
      {
        runc: runc.binary,
        runtimePath: await this.runtimePath(runc.binary),
        runcRoot: this.paths.runcRoot,
        conmon: this.conmon,
        // runc and crun run the process in the namespaces berth-exec joins; another runtime may sandbox differently.
        helper: meta.runtime === 'runc' || meta.runtime === 'crun' ? this.execHelper : undefined,
        pid,
        // Every hierarchy's; berth-exec skips those where the container has no cgroup.
        cgroups: async () => (await cgroupHierarchies()).map((h) => ({ dir: path.join(h.mount, meta.cgroupsPath), v2: h.v2 })),
        execRoot: path.join(this.paths.runRoot, 'exec'),
        socketDir: this.paths.socketDir,
        spec,
        availableCaps: boundingCapabilities(),
      },
      id,
      opts,
    );
  }

  async update(container: ContainerRecord): Promise<void> {
    const id = container.Id;
    validId(id);
    const meta = await this.readMeta(id);
    if (!meta) throw notFound(`No such container: ${id}`);
    const spec = await readSpec(this.paths.config(id));
    // Device rules (defaults plus --device) do not change on update: keep the bundle's.
    const res = { ...resources(container, !!container.HostConfig.Privileged), ...(spec.linux.resources?.devices ? { devices: spec.linux.resources.devices } : {}) };
    // The next start uses the bundle's limits; a running container gets them now.
    spec.linux.resources = res;
    await writeFileAtomic(this.paths.config(id), JSON.stringify(spec, null, 2));
    const st = await this.state(id);
    if (st.status !== 'running' && st.status !== 'paused') return;
    const { devices, ...limits } = res;
    void devices;
    const file = path.join(this.paths.bundle(id), 'update.json');
    await fs.writeFile(file, JSON.stringify(limits), { mode: 0o600 });
    try {
      await this.runc(meta).update(id, file);
    } finally {
      await rmQuiet(file);
    }
  }

  async pause(id: string): Promise<void> {
    const { meta, paused } = await this.runningMeta(id);
    if (paused) throw conflict(`Container ${id} is already paused`);
    await this.runc(meta).pause(id);
  }

  async unpause(id: string): Promise<void> {
    const { meta, paused } = await this.runningMeta(id);
    if (!paused) throw conflict(`Container ${id} is not paused`);
    await this.runc(meta).resume(id);
  }

  async top(id: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const { meta } = await this.runningMeta(id);
    return top(await cgroupPids(meta.cgroupsPath), psArgs);
  }

  async stats(id: string): Promise<StatsSample> {
    validId(id);
    const meta = await this.readMeta(id);
    if (!meta) throw notFound(`No such container: ${id}`);
    // Streams sample every container once a second: the exit and pid files tell
    // whether it runs and its pid without spawning `runc state` each time.
    return cgroupStats(meta.cgroupsPath, await this.pidUnlessExited(id));
  }

  /** The container's pid from its pid file, 0 once the exit file says it ended (no `runc state`). */
  private async pidUnlessExited(id: string): Promise<number> {
    const [exit, pid] = await Promise.all([
      this.readExit(id),
      fs.readFile(this.paths.pidFile(id), 'utf8').then((t) => Number(t.trim()) || 0, () => 0),
    ]);
    return exit ? 0 : pid;
  }

  async updateHosts(container: ContainerRecord): Promise<void> {
    const mode = container.HostConfig.NetworkMode ?? '';
    if (mode === 'host' || mode.startsWith('container:')) return;
    validId(container.Id);
    await writeHosts(this.paths.bundle(container.Id), container);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when the container's freezer (v1) or cgroup.freeze (v2) says it is not frozen; false when unsure. */
async function isThawed(cgroupsPath: string): Promise<boolean> {
  const v1 = await fs.readFile(path.join('/sys/fs/cgroup/freezer', cgroupsPath, 'freezer.state'), 'utf8').catch(() => undefined);
  if (v1 !== undefined) return v1.trim() === 'THAWED';
  const v2 = await fs.readFile(path.join('/sys/fs/cgroup', cgroupsPath, 'cgroup.freeze'), 'utf8').catch(() => undefined);
  return v2 !== undefined && v2.trim() === '0';
}
