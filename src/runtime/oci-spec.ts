// ContainerRecord + image config -> OCI runtime config.json, following what
// Docker Engine puts in its specs (moby's oci defaults and daemon/oci_linux).
// Pure: everything read from the host or the rootfs comes in as arguments.
import path from 'node:path';
import type { ContainerRecord, ImageRunConfig, MountPoint } from '../core/types.ts';
import { invalid } from '../core/errors.ts';
import type { IdMap } from '../core/id-map.ts';
import { capabilitySet } from './capabilities.ts';
import { deviceCgroupRules, type MappedDevices } from './devices.ts';
import { defaultSeccompProfile } from './seccomp.ts';
import { parseProfile, resolveProfile, type SeccompProfile } from './seccomp-profile.ts';
import type { ExecUser } from './user.ts';
import type { OciDevice, OciDeviceRule, OciIdMapping, OciMount, OciNamespace, OciResources, OciRlimit, OciSeccomp, OciSpec } from './oci-types.ts';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

// Device-controller rules of unprivileged containers (Docker's and runc's
// defaults): everything denied, mknod of any node allowed (using it is not),
// then the few devices every container has. --device adds its own after these.
const DEFAULT_DEVICE_RULES: OciDeviceRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // console
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // pts
  // Docker also lists a deny of fuse (10:229): already denied here, and cgroup v1 cannot punch it out of "c *:* m".
];

export interface SpecInputs {
  container: ContainerRecord;
  rootfs: string;
  image: ImageRunConfig;
  /** The resolved Config.User. */
  user: ExecUser;
  /** Directory holding the hostname, hosts and resolv.conf files to bind-mount. */
  bundleDir: string;
  /** The RLIMIT_NOFILE to give when the container sets none. */
  defaultNofile: number;
  /** The cgroup parent (cgroupfs path without leading slash), e.g. "berth". */
  cgroupParent: string;
  /** Host devices, for privileged containers. */
  hostDevices?: OciDevice[];
  /** HostConfig.Devices resolved on the host (devices.ts): nodes to make and the rules that allow them. */
  mappedDevices?: MappedDevices;
  /** Capabilities the host can grant (its bounding set); default all. */
  availableCapabilities?: string[];
  /** Apply seccomp filters at all (the default unless privileged or seccomp=unconfined, or the client's profile). */
  seccomp: boolean;
  /** A static init (tini) on the host, for --init: mounted as /sbin/docker-init and run as PID 1. */
  initPath?: string;
  /** The daemon's --userns-remap: the container gets a user namespace (unless --userns=host). */
  idMap?: IdMap;
}

export const INIT_DESTINATION = '/sbin/docker-init';

export function containerHostname(c: ContainerRecord): string {
  if (c.HostConfig.NetworkMode === 'host') return '';
  return c.Config.Hostname || c.Id.slice(0, 12);
}

const envKey = (entry: string) => {
  const i = entry.indexOf('=');
  return i < 0 ? entry : entry.slice(0, i);
};

/** Image env, then container env over it; PATH, HOSTNAME, HOME and TERM defaults. */
export function mergeEnv(opts: { image?: string[] | null; container?: string[] | null; hostname: string; home: string; tty: boolean }): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  const set = (entry: string) => {
    const key = envKey(entry);
    if (!key) return;
    // "KEY" without "=" (docker run -e KEY with KEY unset) means: unset it.
    if (!entry.includes('=')) {
      values.delete(key);
      return;
    }
    if (!values.has(key)) order.push(key);
    values.set(key, entry);
  };
  set(`PATH=${DEFAULT_PATH}`);
  if (opts.hostname) set(`HOSTNAME=${opts.hostname}`);
  if (opts.tty) set('TERM=xterm');
  for (const e of opts.image ?? []) set(e);
  for (const e of opts.container ?? []) set(e);
  if (!values.has('HOME')) set(`HOME=${opts.home || '/'}`);
  return order.filter((k) => values.has(k)).map((k) => values.get(k)!);
}

function dockerMounts(opts: { privileged: boolean; shmSize: number }): OciMount[] {
  const ro = opts.privileged ? [] : ['ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...ro] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', ...ro] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${opts.shmSize}`] },
  ];
}

/** "src:dst[:opts]" binds with an absolute host path (named volumes are resolved before, by the volume layer). */
function bindMounts(binds: string[] | null | undefined): OciMount[] {
  const out: OciMount[] = [];
  for (const bind of binds ?? []) {
    const parts = bind.split(':');
    if (parts.length < 2 || parts.length > 3) throw invalid(`invalid volume specification: '${bind}'`);
    const [source, destination, mode = ''] = parts;
    if (!path.isAbsolute(destination)) throw invalid(`invalid volume specification: '${bind}': mount path must be absolute`);
    if (!path.isAbsolute(source)) continue; // a named volume: mounted by the volume layer
    const flags = mode.split(',').filter(Boolean);
    const options = ['rbind', flags.includes('ro') ? 'ro' : 'rw'];
    const propagation = flags.find((f) => /^r?(shared|slave|private)$/.test(f));
    options.push(propagation ?? 'rprivate');
    out.push({ destination: path.posix.normalize(destination), type: 'bind', source, options });
  }
  return out;
}

function tmpfsMounts(tmpfs: Record<string, string> | null | undefined): OciMount[] {
  return Object.entries(tmpfs ?? {}).map(([destination, opts]) => ({
    destination,
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'nodev', 'noexec', ...opts.split(',').filter(Boolean)],
  }));
}

/** Mounts resolved by the volume layer (volumes carry their host Source by now), parents first. */
function resolvedMounts(mounts: MountPoint[]): OciMount[] {
  return mounts.map((m) => {
    if (m.Type === 'tmpfs') {
      return { destination: m.Destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...(m.TmpfsOptions ?? [])] };
    }
    if (!m.Source) throw invalid(`the mount at ${m.Destination} has no source`);
    return { destination: m.Destination, type: 'bind', source: m.Source, options: ['rbind', m.RW ? 'rw' : 'ro', m.Propagation || 'rprivate'] };
  });
}

/** `deviceRules`: the rules of --device mappings, after the defaults (and --device-cgroup-rule after them). */
export function resources(c: ContainerRecord, privileged: boolean, deviceRules: OciDeviceRule[] = []): OciResources {
  const hc = c.HostConfig;
  const res: OciResources = {
    devices: privileged
      ? [{ allow: true, access: 'rwm' }]
      : [...DEFAULT_DEVICE_RULES.map((r) => ({ ...r })), ...deviceRules, ...deviceCgroupRules(hc.DeviceCgroupRules as string[] | null | undefined)],
  };
  const memory: NonNullable<OciResources['memory']> = {};
  if (hc.Memory && hc.Memory > 0) {
    memory.limit = hc.Memory;
    // Docker: MemorySwap 0 means twice the memory, -1 unlimited.
    if (hc.MemorySwap === -1) memory.swap = -1;
    else if (hc.MemorySwap && hc.MemorySwap > 0) {
      if (hc.MemorySwap < hc.Memory) throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
      memory.swap = hc.MemorySwap;
    } else memory.swap = hc.Memory * 2;
  } else if (hc.MemorySwap && hc.MemorySwap > 0) {
    throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
  }
  if (hc.MemoryReservation && hc.MemoryReservation > 0) memory.reservation = hc.MemoryReservation;
  if (hc.OomKillDisable) memory.disableOOMKiller = true;
  if (typeof hc.MemorySwappiness === 'number' && hc.MemorySwappiness >= 0) memory.swappiness = hc.MemorySwappiness;
  if (Object.keys(memory).length) res.memory = memory;

  const cpu: NonNullable<OciResources['cpu']> = {};
  if (hc.NanoCpus && hc.NanoCpus > 0) {
    if (hc.CpuQuota || hc.CpuPeriod) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
    cpu.period = 100_000;
    cpu.quota = Math.round((hc.NanoCpus * cpu.period) / 1e9);
  }
  if (hc.CpuPeriod && hc.CpuPeriod > 0) cpu.period = hc.CpuPeriod;
  if (hc.CpuQuota && hc.CpuQuota > 0) cpu.quota = hc.CpuQuota;
  if (hc.CpuShares && hc.CpuShares > 0) cpu.shares = hc.CpuShares;
  if (hc.CpusetCpus) cpu.cpus = hc.CpusetCpus;
  if (typeof hc.CpusetMems === 'string' && hc.CpusetMems) cpu.mems = hc.CpusetMems;
  if (Object.keys(cpu).length) res.cpu = cpu;

  if (typeof hc.PidsLimit === 'number' && hc.PidsLimit > 0) res.pids = { limit: hc.PidsLimit };
  if (typeof hc.BlkioWeight === 'number' && hc.BlkioWeight > 0) res.blockIO = { weight: hc.BlkioWeight };
  return res;
}

function rlimits(c: ContainerRecord, defaultNofile: number): OciRlimit[] {
  const out: OciRlimit[] = [];
  for (const u of c.HostConfig.Ulimits ?? []) {
    const type = `RLIMIT_${u.Name.toUpperCase()}`;
    if (u.Soft > u.Hard) throw invalid(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
    out.push({ type, soft: u.Soft, hard: u.Hard });
  }
  if (!out.some((r) => r.type === 'RLIMIT_NOFILE')) {
    out.push({ type: 'RLIMIT_NOFILE', soft: defaultNofile, hard: defaultNofile });
  }
  return out;
}

function namespaces(c: ContainerRecord, userns: boolean): OciNamespace[] {
  const hc = c.HostConfig;
  const ns: OciNamespace[] = [{ type: 'mount' }];
  if (userns) ns.push({ type: 'user' });
  if (hc.PidMode !== 'host') ns.push({ type: 'pid' });
  if (hc.IpcMode !== 'host') ns.push({ type: 'ipc' });
  if (hc.UTSMode !== 'host' && hc.NetworkMode !== 'host') ns.push({ type: 'uts' });
  if (hc.NetworkMode !== 'host') {
    // A path set by the network layer (a prepared namespace) or a fresh one with loopback only.
    const netnsPath = typeof hc.NetworkNamespacePath === 'string' ? hc.NetworkNamespacePath : undefined;
    ns.push(netnsPath ? { type: 'network', path: netnsPath } : { type: 'network' });
  }
  return ns;
}

/**
 * A new user namespace does not own a network namespace it joins (one Berth
 * prepared, or another container's), and only an owner may mount sysfs: a
 * remapped container that joins one gets the host's /sys bound read-only
 * instead (as Docker does for a remapped container sharing a network
 * namespace).
 */
export function fitSysMount(spec: OciSpec): void {
  const ns = spec.linux.namespaces;
  // Joining the user namespace that owns the network namespace (userns-netns.ts) keeps sysfs mountable.
  const joined = ns.some((n) => n.type === 'user' && !n.path) && ns.some((n) => n.type === 'network' && n.path);
  const i = spec.mounts.findIndex((m) => m.destination === '/sys');
  if (i < 0) return;
  const want: OciMount = joined
    ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
    : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] };
  if (spec.mounts[i].type !== want.type) spec.mounts[i] = want;
}

/** Docker's userns-remap: one range each for uids and gids, container id 0 at the range's base; --userns=host opts out. */
function usernsMappings(idMap: IdMap | undefined, mode: unknown): { uidMappings: OciIdMapping[]; gidMappings: OciIdMapping[] } | undefined {
  if (!idMap || mode === 'host') return undefined;
  return {
    uidMappings: [{ containerID: 0, hostID: idMap.uid.base, size: idMap.uid.size }],
    gidMappings: [{ containerID: 0, hostID: idMap.gid.base, size: idMap.gid.size }],
  };
}

/** Privileged containers have every host device already: only mappings to another path add a node. */
function privilegedExtras(mapped: OciDevice[] | undefined, host: OciDevice[] | undefined): OciDevice[] {
  const taken = new Set((host ?? []).map((d) => d.path));
  return (mapped ?? []).filter((d) => !taken.has(d.path));
}

/** seccomp: 'default' (Berth's profile), 'unconfined', or a client's profile (the JSON text of seccomp=FILE). */
type SeccompChoice = { kind: 'default' } | { kind: 'unconfined' } | { kind: 'custom'; profile: SeccompProfile };

function securityOpts(list: string[] | null | undefined): { noNewPrivileges: boolean; seccomp: SeccompChoice } {
  let noNewPrivileges = false;
  let seccomp: SeccompChoice = { kind: 'default' };
  for (const raw of list ?? []) {
    const opt = raw.trim();
    const [key, value] = opt.includes('=') ? opt.split(/=(.*)/s) : opt.split(/:(.*)/s);
    if (key === 'no-new-privileges') {
      if (value === undefined || value === '' || value === 'true') noNewPrivileges = true;
      else if (value === 'false') noNewPrivileges = false;
      else throw invalid(`invalid --security-opt 2: "${opt}"`);
    } else if (key === 'seccomp') {
      if (value === 'unconfined') seccomp = { kind: 'unconfined' };
      else if (value === 'builtin' || value === '') seccomp = { kind: 'default' };
      else seccomp = { kind: 'custom', profile: parseProfile(value ?? '') };
    } else if (key === 'apparmor' || key === 'label' || key === 'systempaths') {
      // No AppArmor or SELinux on these hosts: accepted and ignored.
    } else {
      throw invalid(`invalid --security-opt 1: "${opt}"`);
    }
  }
  return { noNewPrivileges, seccomp };
}

/** Docker: privileged and unconfined run without a filter, unless privileged comes with a profile of the client's. */
function seccompFilter(choice: SeccompChoice, privileged: boolean, caps: string[], enabled: boolean): OciSeccomp | undefined {
  if (!enabled || choice.kind === 'unconfined') return undefined;
  if (choice.kind === 'custom') return resolveProfile(choice.profile, { capabilities: caps });
  return privileged ? undefined : defaultSeccompProfile(caps);
}

/** HostConfig.ConsoleSize [height, width]: the client's terminal, so that the process starts at its size. */
function consoleSize(c: ContainerRecord): { consoleSize?: { height: number; width: number } } {
  const size = c.HostConfig.ConsoleSize;
  if (!c.Config.Tty || !Array.isArray(size) || size.length !== 2) return {};
  const [height, width] = size as unknown[];
  if (!Number.isInteger(height) || !Number.isInteger(width) || (height as number) <= 0 || (width as number) <= 0) return {};
  return { consoleSize: { height: height as number, width: width as number } };
}

export function buildOciSpec(inp: SpecInputs): OciSpec {
  const c = inp.container;
  const hc = c.HostConfig;
  const privileged = !!hc.Privileged;
  const hostname = containerHostname(c);
  const caps = capabilitySet({ privileged, capAdd: hc.CapAdd, capDrop: hc.CapDrop, available: inp.availableCapabilities });
  const sec = securityOpts(hc.SecurityOpt);
  const seccomp = seccompFilter(sec.seccomp, privileged, caps, inp.seccomp);
  if (!c.Path) throw invalid('No command specified');

  const mounts = dockerMounts({ privileged, shmSize: hc.ShmSize && hc.ShmSize > 0 ? hc.ShmSize : DEFAULT_SHM_SIZE });
  const userns = usernsMappings(inp.idMap, hc.UsernsMode);
  const etcOpts = ['rbind', 'rprivate', hc.ReadonlyRootfs ? 'ro' : 'rw'];
  if (hc.NetworkMode !== 'host') {
    mounts.push({ destination: '/etc/hostname', type: 'bind', source: path.join(inp.bundleDir, 'hostname'), options: etcOpts });
  }
  mounts.push({ destination: '/etc/hosts', type: 'bind', source: path.join(inp.bundleDir, 'hosts'), options: etcOpts });
  mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: path.join(inp.bundleDir, 'resolv.conf'), options: etcOpts });
  const userMounts = c.Mounts ? resolvedMounts(c.Mounts) : [...bindMounts(hc.Binds), ...tmpfsMounts(hc.Tmpfs)];
  // A user mount over a default one replaces it (e.g. --tmpfs /dev/shm).
  const taken = new Set(userMounts.map((m) => m.destination));
  const allMounts = [...mounts.filter((m) => !taken.has(m.destination)), ...userMounts];
  // --init: Docker's docker-init (tini) as PID 1 reaps zombies and forwards signals.
  const init = hc.Init === true && inp.initPath ? inp.initPath : undefined;
  if (init) allMounts.push({ destination: INIT_DESTINATION, type: 'bind', source: init, options: ['bind', 'ro'] });

  const sysctl: Record<string, string> = {};
  for (const [k, v] of Object.entries((hc.Sysctls as Record<string, string> | undefined) ?? {})) sysctl[k] = String(v);
  // runc 1.1 ignores the spec's domainname but sets this sysctl in a UTS namespace of the container's own.
  if (hostname && c.Config.Domainname && !('kernel.domainname' in sysctl)) sysctl['kernel.domainname'] = c.Config.Domainname;

  const spec: OciSpec = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: !!c.Config.Tty,
      ...consoleSize(c),
      user: {
        uid: inp.user.uid,
        gid: inp.user.gid,
        ...(inp.user.additionalGids.length ? { additionalGids: inp.user.additionalGids } : {}),
      },
      args: init ? [INIT_DESTINATION, '--', c.Path, ...c.Args] : [c.Path, ...c.Args],
      env: mergeEnv({ image: inp.image.Env, container: c.Config.Env, hostname, home: inp.user.home, tty: !!c.Config.Tty }),
      cwd: c.Config.WorkingDir || inp.image.WorkingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: rlimits(c, inp.defaultNofile),
      noNewPrivileges: sec.noNewPrivileges,
      ...(typeof hc.OomScoreAdj === 'number' && hc.OomScoreAdj !== 0 ? { oomScoreAdj: hc.OomScoreAdj } : {}),
    },
    root: { path: inp.rootfs, readonly: !!hc.ReadonlyRootfs },
    ...(hostname ? { hostname } : {}),
    // The UTS domain name (--domainname); only with a UTS namespace of its own.
    ...(hostname && c.Config.Domainname ? { domainname: c.Config.Domainname } : {}),
    mounts: allMounts,
    linux: {
      namespaces: namespaces(c, userns !== undefined),
      ...userns,
      cgroupsPath: `/${(typeof hc.CgroupParent === 'string' && hc.CgroupParent ? hc.CgroupParent : inp.cgroupParent).replace(/^\/+|\/+$/g, '')}/${c.Id}`,
      resources: resources(c, privileged, inp.mappedDevices?.rules),
      ...(Object.keys(sysctl).length ? { sysctl } : {}),
      ...(privileged
        ? { devices: [...(inp.hostDevices ?? []), ...privilegedExtras(inp.mappedDevices?.devices, inp.hostDevices)] }
        : { devices: inp.mappedDevices?.devices ?? [], maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS }),
      ...(seccomp ? { seccomp } : {}),
    },
  };
  if (!path.posix.isAbsolute(spec.process.cwd)) throw invalid(`the working directory '${spec.process.cwd}' is invalid, it needs to be an absolute path`);
  fitSysMount(spec);
  return spec;
}
