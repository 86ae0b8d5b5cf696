// `docker exec` sessions: created against a running container, started once
// (streams go to the caller), inspected for their exit code. Like Docker's,
// they live in memory: a daemon restart forgets them.
import { randomBytes } from 'node:crypto';
import { conflict, invalid, notFound } from '../core/errors.ts';
import type { Agent, ExecSession } from '../agent/agent-api.ts';
import type { ContainerRecord } from '../core/types.ts';
import type { ContainerService } from './containers.ts';
import type { EventBus } from './events.ts';

export interface ExecConfig {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
}

export interface ExecRecord {
  ID: string;
  ContainerID: string;
  Config: ExecConfig;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  started: boolean;
  session?: ExecSession;
}

/** Execs are kept this long after they end, for inspect. */
const KEEP_MS = 10 * 60_000;

export class ExecService {
  private readonly agent: Agent;
  private readonly containers: ContainerService;
  private readonly events: EventBus;
  private readonly execs = new Map<string, ExecRecord>();

  constructor(opts: { agent: Agent; containers: ContainerService; events: EventBus }) {
    this.agent = opts.agent;
    this.containers = opts.containers;
    this.events = opts.events;
  }

  async create(ref: string, config: ExecConfig): Promise<ExecRecord> {
    const c = await this.containers.resolve(ref);
    checkRunning(c);
    if (!Array.isArray(config.Cmd) || config.Cmd.length === 0 || config.Cmd.some((a) => typeof a !== 'string')) {
      throw invalid('No exec command specified');
    }
    if (config.Env != null && (!Array.isArray(config.Env) || config.Env.some((e) => typeof e !== 'string'))) throw invalid('Env: expected an array of strings');
    if (config.ConsoleSize != null && (!Array.isArray(config.ConsoleSize) || config.ConsoleSize.some((n) => !Number.isInteger(n) || n < 0))) {
      throw invalid('ConsoleSize: expected two non-negative integers');
    }
    const rec: ExecRecord = { ID: randomBytes(32).toString('hex'), ContainerID: c.Id, Config: config, Running: false, ExitCode: null, Pid: 0, started: false };
    this.execs.set(rec.ID, rec);
    this.events.emit('container', `exec_create: ${command(config)}`, c, { execID: rec.ID });
    return rec;
  }

  get(id: string): ExecRecord {
    const rec = this.execs.get(id);
    if (!rec) throw notFound(`No such exec instance: ${id}`);
    return rec;
  }

  /** Starts the process once; the caller reads session.output and writes session.stdin. */
  async start(id: string, opts: { detach: boolean; tty?: boolean; consoleSize?: [number, number] | null }): Promise<ExecSession> {
    const rec = this.get(id);
    if (rec.started) throw conflict(`Error: Exec command ${id} has already run`);
    const c = await this.containers.resolve(rec.ContainerID);
    checkRunning(c);
    rec.started = true;
    const cfg = rec.Config;
    const tty = opts.tty ?? !!cfg.Tty;
    const size = opts.consoleSize ?? cfg.ConsoleSize ?? undefined;
    let session: ExecSession;
    try {
      session = await this.agent.runtime.exec(c.Id, {
        cmd: cfg.Cmd ?? [],
        env: cfg.Env ?? [],
        user: cfg.User ?? '',
        workingDir: cfg.WorkingDir ?? '',
        tty,
        privileged: !!cfg.Privileged,
        stdin: !opts.detach && !!cfg.AttachStdin,
        detach: opts.detach,
        ...(size && size[0] > 0 && size[1] > 0 ? { consoleSize: [size[0], size[1]] as [number, number] } : {}),
      });
    } catch (err) {
      rec.ExitCode = 126;
      throw err;
    }
    rec.session = session;
    rec.Running = true;
    rec.Pid = session.pid;
    this.events.emit('container', `exec_start: ${command(cfg)}`, c, { execID: rec.ID });
    void session.exited.then(async ({ exitCode }) => {
      rec.Running = false;
      rec.ExitCode = exitCode;
      rec.session = undefined;
      const now = await this.containers.resolve(rec.ContainerID).catch(() => c);
      this.events.emit('container', 'exec_die', now, { execID: rec.ID, exitCode: String(exitCode) });
      setTimeout(() => this.execs.delete(rec.ID), KEEP_MS).unref();
    });
    return session;
  }

  async resize(id: string, height: number, width: number): Promise<void> {
    const rec = this.get(id);
    if (!rec.session) throw conflict(`Exec ${id} is not running`);
    await rec.session.resize(height, width);
  }

  /** Exec ids of a container (inspect's ExecIDs). */
  ofContainer(containerId: string): string[] {
    return [...this.execs.values()].filter((e) => e.ContainerID === containerId && e.Running).map((e) => e.ID);
  }
}

function checkRunning(c: ContainerRecord): void {
  if (c.State.Paused || c.State.Status === 'paused') throw conflict(`Container ${c.Id} is paused, unpause the container before exec`);
  if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
  if (c.State.Restarting) throw conflict(`Container ${c.Id} is restarting, wait until the container is running`);
}

/** Docker names the command in the action itself ("exec_start: sh -c ..."). */
function command(cfg: ExecConfig): string {
  return (cfg.Cmd ?? []).join(' ');
}
