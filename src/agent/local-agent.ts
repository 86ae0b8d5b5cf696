// The agent of the machine the daemon runs on, called in-process by the head.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import type { IdMap } from '../core/id-map.ts';
import type { Agent, FilesApi, ImageApi, NetworkApi, NodeInfo, RuntimeApi, VolumeApi } from './agent-api.ts';

const run = promisify(execFile);

/** A runtime that awaits a hook before the container's process runs (ConmonRuntime). */
interface RunGate {
  beforeRun: ((id: string) => Promise<void>) | undefined;
}

/** A network that can finish a sandbox after createSandbox returns (LocalNetwork). */
interface DeferredWiring {
  deferWiring: boolean;
  wired(containerId: string): Promise<void>;
}

export class LocalAgent implements Agent {
  readonly images: ImageApi;
  readonly runtime: RuntimeApi;
  readonly volumes: VolumeApi;
  readonly files: FilesApi;
  readonly network: NetworkApi;
  private readonly name: string;
  private readonly dataRoot: string;
  private readonly runtimes: string[];
  private readonly defaultRuntime: string;
  private readonly idMap: IdMap | undefined;
  private cached?: NodeInfo;

  constructor(opts: {
    name: string;
    dataRoot: string;
    images: ImageApi;
    runtime: RuntimeApi;
    volumes: VolumeApi;
    files: FilesApi;
    network: NetworkApi;
    runtimes: string[];
    defaultRuntime: string;
    idMap?: IdMap;
  }) {
    this.idMap = opts.idMap;
    this.name = opts.name;
    this.volumes = opts.volumes;
    this.files = opts.files;
    this.network = opts.network;
    this.dataRoot = opts.dataRoot;
    this.images = opts.images;
    this.runtime = opts.runtime;
    this.runtimes = opts.runtimes;
    this.defaultRuntime = opts.defaultRuntime;
    // One agent owns both: the network finishes a sandbox (addresses, DNS
    // redirect, port rules) while the runtime creates the container, whose
    // process waits for it.
    const runtime = opts.runtime as RuntimeApi & Partial<RunGate>;
    const network = opts.network as NetworkApi & Partial<DeferredWiring>;
    if ('beforeRun' in runtime && typeof network.wired === 'function' && 'deferWiring' in network) {
      const wired = network.wired.bind(network);
      runtime.beforeRun = (id) => wired(id);
      network.deferWiring = true;
    }
  }

  async info(): Promise<NodeInfo> {
    if (this.cached) return this.cached;
    const componentVersions: Record<string, string> = {};
    for (const bin of [...this.runtimes, 'conmon']) componentVersions[bin] = await versionOf(bin);
    this.cached = {
      name: this.name,
      kernelVersion: os.release(),
      operatingSystem: osName(),
      osType: 'linux',
      architecture: os.machine(),
      cpus: os.availableParallelism(),
      memoryBytes: os.totalmem(),
      cgroupVersion: cgroupVersion(),
      cgroupDriver: 'cgroupfs',
      runtimes: this.runtimes,
      componentVersions,
      defaultRuntime: this.defaultRuntime,
      storageDriver: 'overlay',
      dataRoot: this.dataRoot,
      ...(this.idMap ? { idMap: this.idMap } : {}),
    };
    return this.cached;
  }

  async close(): Promise<void> {
    const closable = this.runtime as RuntimeApi & { close?: () => Promise<void> | void };
    await closable.close?.();
    // Removed root file systems still being unmounted and deleted (what is cut short, the next start's trash sweep finishes).
    await (this.images as ImageApi & { settled?: () => Promise<void> }).settled?.();
    await (this.network as NetworkApi & { close?: () => void }).close?.();
  }
}

/** "1.1.5" from "runc version 1.1.5\ncommit: ..." or "conmon version 2.1.6". */
async function versionOf(bin: string): Promise<string> {
  try {
    const { stdout } = await run(bin, ['--version']);
    return /version\s+(\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0].trim();
  } catch {
    return 'unknown';
  }
}

/** Pure v2 when /sys/fs/cgroup itself is cgroup2; v1 (possibly hybrid) otherwise. */
export function cgroupVersion(): '1' | '2' {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m ? m[1] : 'Linux';
  } catch {
    return 'Linux';
  }
}

/** Runtimes from the candidates that exist and work on this host (crun refuses hybrid cgroups). */
export async function detectRuntimes(candidates: Record<string, string>): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  for (const [name, bin] of Object.entries(candidates)) {
    try {
      await run(bin, ['--version']);
    } catch {
      continue;
    }
    if (name === 'crun' && cgroupVersion() === '1') continue;
    found[name] = bin;
  }
  return found;
}
