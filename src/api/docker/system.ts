// /_ping, /version, /info: what this daemon is, told truthfully.
import os from 'node:os';
import type { Agent } from '../../agent/agent-api.ts';
import type { ContainerService } from '../../head/containers.ts';
import type { ImageService } from '../../head/images.ts';
import type { Routes } from '../http/server.ts';
import { API_VERSION_STRING, MIN_API_VERSION_STRING } from '../http/server.ts';

export interface SystemInfo {
  version: string;
  gitCommit: string;
  started: string;
  dockerRootDir: string;
  daemonId: string;
}

export function systemRoutes(r: Routes, deps: { agent: Agent; containers: ContainerService; images: ImageService; system: SystemInfo }): void {
  const ping = (ctx: Parameters<Parameters<Routes['add']>[2]>[0]) =>
    ctx.send(200, 'OK', { 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache', 'Builder-Version': '1' });
  r.add(['GET', 'HEAD'], '/_ping', ping);

  r.add('GET', '/version', async (ctx) => {
    const node = await deps.agent.info();
    const common = {
      Version: deps.system.version,
      ApiVersion: API_VERSION_STRING,
      MinAPIVersion: MIN_API_VERSION_STRING,
      GitCommit: deps.system.gitCommit,
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: goArch(),
      KernelVersion: node.kernelVersion,
      BuildTime: deps.system.started,
    };
    ctx.send(200, {
      Platform: { Name: `Berth ${deps.system.version}` },
      Components: [
        { Name: 'Engine', Version: deps.system.version, Details: { ApiVersion: API_VERSION_STRING, MinAPIVersion: MIN_API_VERSION_STRING, Os: 'linux', Arch: goArch(), KernelVersion: node.kernelVersion } },
        ...Object.entries(node.componentVersions).map(([Name, Version]) => ({ Name, Version, Details: {} })),
      ],
      ...common,
    });
  });

  r.add('GET', '/info', async (ctx) => {
    const node = await deps.agent.info();
    const containers = await deps.containers.list();
    const count = (s: string) => containers.filter((c) => c.State.Status === s).length;
    const images = await deps.images.list({ all: true, filters: {} });
    ctx.send(200, {
      ID: deps.system.daemonId,
      Containers: containers.length,
      ContainersRunning: count('running'),
      ContainersPaused: count('paused'),
      ContainersStopped: containers.length - count('running') - count('paused'),
      Images: images.length,
      Driver: node.storageDriver,
      DriverStatus: [['Backing Filesystem', 'overlayfs layers, shared per chain id']],
      Plugins: { Volume: ['local'], Network: ['null'], Authorization: null, Log: ['json-file', 'k8s-file', 'none'] },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      Debug: false,
      NFd: 0,
      OomKillDisable: false,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: node.cgroupDriver,
      CgroupVersion: node.cgroupVersion,
      NEventsListener: 0,
      KernelVersion: node.kernelVersion,
      OperatingSystem: node.operatingSystem,
      OSVersion: '',
      OSType: 'linux',
      Architecture: node.architecture,
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ['127.0.0.0/8'], Mirrors: [] },
      NCPU: node.cpus,
      MemTotal: node.memoryBytes,
      GenericResources: null,
      DockerRootDir: node.dataRoot,
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      Name: node.name,
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: deps.system.version,
      Runtimes: Object.fromEntries(node.runtimes.map((r) => [r, { path: r }])),
      DefaultRuntime: node.defaultRuntime,
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: '',
      ContainerdCommit: { ID: '' },
      RuncCommit: { ID: '' },
      InitCommit: { ID: '' },
      SecurityOptions: ['name=seccomp,profile=builtin', ...(node.idMap ? ['name=userns'] : [])],
      Warnings: [],
    });
  });
}

function goArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', ia32: '386' } as Record<string, string>)[os.arch()] ?? os.arch();
}
