// The agent interface: everything the head asks of a compute node. On one
// machine the head calls a LocalAgent in the same process; in a cluster the
// same calls cross the network. Nothing in api/ or head/ reaches past this
// interface into runtime/, image/, network/ or volume/.
import type { IdMap } from '../core/id-map.ts';
import type { Readable, Writable } from 'node:stream';
import type { ContainerRecord, ImageRecord, ImageRunConfig, MountPoint, VolumeRecord } from '../core/types.ts';

/** One line of `docker history`. */
export interface HistoryEntry {
  Id: string; // image id for the top entry of an image in the store, "<missing>" otherwise
  Created: number; // unix seconds
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export interface RemovedImage {
  Untagged?: string;
  Deleted?: string;
}

/** Tells the image store whether an image is used by a container, and whether that one runs. */
export type ImageUsage = (imageId: string) => { containerId: string; running: boolean } | undefined;

/** One of Docker's JSON progress messages (pull, push): the docker CLI draws its bars from them. */
export interface ProgressMessage {
  /** Layer (short digest) or tag the line is about. */
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
  /** Machine-readable result (push: {Tag, Digest, Size}). */
  aux?: Record<string, unknown>;
}

/** Registry credentials from a client, used for one request only and never stored or logged. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
  /** Registry the credentials are for ("localhost:5000"); docker login's target. */
  serverAddress?: string;
}

export interface ImageApi {
  /**
   * Pulls "name[:tag|@digest]" (every tag with allTags) for a platform
   * ("linux/arm64"; default the node's); reports Docker's progress messages
   * and returns the references it pulled.
   */
  pull(ref: string, opts: { platform?: string; auth?: RegistryAuth; allTags?: boolean }, progress: (m: ProgressMessage) => void): Promise<string[]>;
  /** Pushes "name[:tag]" (every tag of the repository without one) with progress; resolves once the manifest is stored. */
  push(ref: string, opts: { auth?: RegistryAuth }, progress: (m: ProgressMessage) => void): Promise<void>;
  /** Checks credentials against a registry (docker login). */
  login(auth: RegistryAuth): Promise<{ identityToken?: string }>;
  list(): Promise<ImageRecord[]>;
  /** By id, id prefix (at least 1 hex digit, ambiguous prefixes are not-found), "name[:tag]" or "name@digest". */
  inspect(nameOrId: string): Promise<ImageRecord>;
  /** Loads a docker-archive or OCI-layout tarball (gzip/zstd/plain); reports "Loaded image: x" lines. */
  load(tar: Readable, progress: (message: string) => void): Promise<string[]>;
  /** Writes a docker-archive tarball (with OCI index too) of the named images. */
  save(names: string[], out: Writable): Promise<void>;
  /** Imports a rootfs tarball as a one-layer image; `changes` are Dockerfile lines ("CMD [\"sh\"]"). */
  import(
    tar: Readable,
    opts: { repo?: string; tag?: string; changes?: string[]; message?: string },
  ): Promise<ImageRecord>;
  tag(source: string, target: string): Promise<void>;
  remove(nameOrId: string, opts: { force: boolean; noPrune: boolean; usage: ImageUsage }): Promise<RemovedImage[]>;
  history(nameOrId: string): Promise<HistoryEntry[]>;
  /** Removes dangling images (all unused with `all`), honouring label and until filters. */
  prune(opts: {
    all: boolean;
    usage: ImageUsage;
    filters: Record<string, string[]>;
  }): Promise<{ ImagesDeleted: RemovedImage[] | null; SpaceReclaimed: number }>;
  /** Prepares an overlayfs root filesystem for a container; returns the merged mount point. */
  createRootfs(containerId: string, imageId: string): Promise<string>;
  /** Unmounts and deletes a container's rootfs and writable layer. */
  removeRootfs(containerId: string): Promise<void>;
  /** `docker diff`: paths the container changed (Kind 0), added (1) or deleted (2), sorted. */
  changes(containerId: string): Promise<{ Path: string; Kind: 0 | 1 | 2 }[]>;
  /** Bytes in the container's writable layer. */
  rootfsSize(containerId: string): Promise<number>;
  /** `docker commit`: a new image from the container's writable layer over its image. */
  commit(
    containerId: string,
    opts: {
      imageId: string;
      /** The container's configuration, before `changes` (Dockerfile lines) are applied. */
      config: ImageRunConfig;
      changes?: string[];
      repo?: string;
      tag?: string;
      comment?: string;
      author?: string;
      /** History's created_by ("/bin/sh -c make" for a build step). */
      createdBy?: string;
    },
  ): Promise<ImageRecord>;
  /**
   * A child image of `parentId` ("" for scratch) with a new configuration and
   * no new layer: what a build step like ENV or CMD makes.
   */
  derive(opts: { parentId: string; config: ImageRunConfig; createdBy: string }): Promise<ImageRecord>;
}

export interface VolumeCreateRequest {
  Name: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/** The node's volumes (drivers behind it; "local" today) and the mounts of its containers. */
export interface VolumeApi {
  /** Creates a volume, or returns the existing one of that name (Docker's create is idempotent). */
  create(req: VolumeCreateRequest): Promise<VolumeRecord>;
  list(): Promise<VolumeRecord[]>;
  inspect(name: string): Promise<VolumeRecord>;
  /** Deletes a volume and its data; the head checks first that no container uses it. */
  remove(name: string): Promise<void>;
  /** Bytes stored in a volume. */
  size(name: string): Promise<number>;
  /**
   * Sets up a container's mounts on the node: volumes mounted by their driver
   * (copying the image's content at the destination into an empty volume
   * unless NoCopy), bind sources checked or created. Returns the mounts with
   * the host Source of each volume filled in.
   */
  prepareMounts(containerId: string, rootfs: string, mounts: MountPoint[]): Promise<MountPoint[]>;
}

/** What `docker cp` shows of a path (X-Docker-Container-Path-Stat). */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits (type bits high, permissions low), as the docker CLI expects. */
  mode: number;
  /** RFC 3339. */
  mtime: string;
  /** Where a symlink leads inside the container, "" otherwise. */
  linkTarget: string;
}

/** A container's file system as `docker cp` sees it: its rootfs with its mounts over it. */
export interface ContainerFsRef {
  containerId: string;
  /** How the user named the container (for "Could not find the file ... in container x"). */
  name: string;
  mounts: MountPoint[];
  readonlyRootfs: boolean;
}

export interface FilesApi {
  stat(ref: ContainerFsRef, path: string): Promise<PathStat>;
  /** A tar of the path (entries named after its last component). */
  getArchive(ref: ContainerFsRef, path: string): Promise<{ stat: PathStat; tar: Readable }>;
  /** Extracts a tar into the directory at path, never writing outside the container's root or its mounts. */
  putArchive(ref: ContainerFsRef, path: string, tar: Readable, opts: { noOverwriteDirNonDir: boolean; copyUIDGID: boolean }): Promise<void>;
  /** A tar of the container's root file system (without its mounts): `docker export`. */
  exportRootfs(containerId: string): Promise<Readable>;
}

/** What the node sees of a container's process. */
export interface ObservedState {
  status: 'created' | 'running' | 'paused' | 'exited' | 'unknown';
  pid: number;
  exitCode?: number;
  /** RFC 3339 with nanoseconds, from the exit file's time. */
  finishedAt?: string;
  oomKilled?: boolean;
}

export interface ExitInfo {
  exitCode: number;
  finishedAt: string;
  oomKilled: boolean;
}

export interface LogOptions {
  follow: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Unix seconds (fractional); 0 = no bound. */
  since: number;
  until: number;
  /** Number of lines from the end; -1 = all. */
  tail: number;
  signal?: AbortSignal;
  /**
   * With follow: keep following whatever the container's state until this
   * signal fires, then drain what was written and end (attach starts before
   * the process does).
   */
  followUntil?: AbortSignal;
}

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds. */
  time: string;
  /** The bytes written, including the trailing newline if there was one. */
  data: Buffer;
}

export interface RuntimeApi {
  /**
   * Writes the OCI bundle for a container whose rootfs is ready. No process
   * yet. Returns where the node keeps its log (ContainerRecord.LogPath; "" with
   * the none driver).
   */
  create(container: ContainerRecord, rootfs: string, image: ImageRunConfig): Promise<{ logPath: string }>;
  /**
   * Starts the container's process under conmon + the OCI runtime and resolves
   * once it runs. Fails with the runtime's own message ("exec: \"x\":
   * executable file not found in $PATH") when the process cannot start.
   */
  start(container: ContainerRecord): Promise<{ pid: number; startedAt: string }>;
  kill(id: string, signal: string): Promise<void>;
  state(id: string): Promise<ObservedState>;
  /** state() of many containers at once (after a restart); ids the node has no state for are left out. */
  states(ids: string[]): Promise<Map<string, ObservedState>>;
  /** Called once per exit of a container's process. */
  onExit(listener: (id: string, exit: ExitInfo) => void): void;
  /** Deletes the runtime state (runc delete, cgroups, bundle, logs). Kills first if it still runs. */
  delete(id: string): Promise<void>;
  logs(container: ContainerRecord, opts: LogOptions): AsyncIterable<LogEntry>;
  /** Ids of containers the node has runtime state for (for reconciling after a restart). */
  known(): Promise<string[]>;
  /**
   * Connects a client's input to the process's stdin (the container runs with
   * OpenStdin); waits until the process runs. Ending the stream disconnects;
   * stdin closes then only for StdinOnce containers without a TTY.
   */
  attachStdin(id: string, signal: AbortSignal): Promise<Writable>;
  /** Sets the window size of the container's TTY. */
  resize(id: string, height: number, width: number): Promise<void>;
  /** Starts a process inside the running container. */
  exec(id: string, opts: ExecOptions): Promise<ExecSession>;
  pause(id: string): Promise<void>;
  unpause(id: string): Promise<void>;
  /** `ps` run on the host over the container's processes. */
  top(id: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }>;
  /**
   * Applies the container's HostConfig resource limits (memory, CPU, pids)
   * to its bundle and, while it runs, to its cgroup (`docker update`).
   */
  update(container: ContainerRecord): Promise<void>;
  /** One sample of the container's cgroup counters. */
  stats(id: string): Promise<StatsSample>;
  /** Rewrites a running container's /etc/hosts from its record (its addresses changed: network connect/disconnect). */
  updateHosts(container: ContainerRecord): Promise<void>;
}

export interface ExecOptions {
  cmd: string[];
  /** KEY=value entries over the container's env. */
  env: string[];
  /** "" keeps the container's user. */
  user: string;
  /** "" keeps the container's working directory. */
  workingDir: string;
  tty: boolean;
  privileged: boolean;
  /** The client sends input. */
  stdin: boolean;
  /** Output is discarded (docker exec -d). */
  detach: boolean;
  /** [height, width] of the client's terminal. */
  consoleSize?: [number, number];
}

export interface ExecOutput {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

export interface ExecSession {
  pid: number;
  stdin: Writable | null;
  /** With a TTY everything is stdout. Ends when the process's output ends. */
  output: AsyncIterable<ExecOutput>;
  /** error: the runtime could not start the command (exitCode is then 126 or 127). */
  exited: Promise<{ exitCode: number; error?: string }>;
  resize(height: number, width: number): Promise<void>;
  /** Ends the process early (a health check past its timeout). */
  kill?(): void;
}

/** Raw cgroup counters; the head turns two samples into Docker's stats. */
export interface StatsSample {
  /** RFC 3339 with nanoseconds. */
  read: string;
  cpuTotalNs: number;
  cpuUserNs: number;
  cpuKernelNs: number;
  /** Host-wide CPU time (ns) from /proc/stat, for the percentage. */
  systemCpuNs: number;
  onlineCpus: number;
  memoryUsage: number;
  memoryLimit: number;
  memoryStats: Record<string, number>;
  pids: number;
  pidsLimit: number;
  blkio: { major: number; minor: number; op: string; value: number }[];
  networks: Record<string, { rx_bytes: number; rx_packets: number; rx_errors: number; rx_dropped: number; tx_bytes: number; tx_packets: number; tx_errors: number; tx_dropped: number }>;
}

/** A network as a node realises it (a bridge and its firewall rules). */
export interface NetworkSpec {
  id: string;
  name: string;
  /** Bridge device name on the node. */
  bridge: string;
  /** "a.b.c.d/n" */
  subnet: string;
  gateway: string;
  internal: boolean;
  mtu: number;
  /** NAT to the outside (off for internal networks). */
  masquerade: boolean;
  /** Embedded DNS at 127.0.0.11 (user-defined networks). */
  dns: boolean;
}

/** One interface of a container on a network. */
export interface EndpointSpec {
  network: NetworkSpec;
  /** Name inside the container: eth0, eth1, ... */
  ifName: string;
  ip: string;
  mac: string;
}

/** A published port; hostPort 0 asks the node for an ephemeral port. */
export interface PortSpec {
  proto: 'tcp' | 'udp';
  containerPort: number;
  hostIp: string;
  hostPort: number;
  /** With a host port range ("8000-8010"): its last port; the first free one is used. */
  hostPortEnd?: number;
}

export interface SandboxSpec {
  containerId: string;
  endpoints: EndpointSpec[];
  ports: PortSpec[];
  /** The container's --dns servers: where the embedded DNS sends names it does not know (the host's resolvers if empty). */
  dnsServers?: string[];
  /** A remapped container's mapping: its network namespace is made inside a user namespace of that mapping. */
  idMap?: IdMap;
}

/** One name the embedded DNS answers on a network. */
export interface DnsRecord {
  name: string;
  ip: string;
}

export interface NetworkApi {
  /** Creates or repairs the network's bridge and firewall rules; idempotent. */
  ensureNetwork(net: NetworkSpec): Promise<void>;
  /** Removes the DNS server at once, the bridge and its rules in the background (a network made meanwhile waits for them); idempotent. */
  removeNetwork(net: NetworkSpec): Promise<void>;
  /**
   * Creates the container's network namespace with its endpoints and published
   * ports. Fails (leaving nothing behind) when a host port is taken.
   */
  createSandbox(spec: SandboxSpec): Promise<{ sandboxKey: string; ports: PortSpec[] }>;
  /** Adds or removes one endpoint of a running container's sandbox. */
  addEndpoint(containerId: string, ep: EndpointSpec): Promise<void>;
  removeEndpoint(containerId: string, ep: EndpointSpec): Promise<void>;
  /**
   * Frees the published host ports at once; the namespace, veths and port
   * rules go in the background (the kernel takes ~50 ms per veth). A later
   * sandbox of the same container or with one of its addresses waits for
   * them. Idempotent.
   */
  removeSandbox(containerId: string): Promise<void>;
  /** After a daemon start: re-applies what is given, removes whatever else of this node's is left. */
  restore(nets: NetworkSpec[], sandboxes: SandboxSpec[]): Promise<void>;
  /** Replaces the names the embedded DNS of a network answers. */
  setDnsRecords(networkId: string, records: DnsRecord[]): Promise<void>;
  /** Subnets routed on the node (to pick pools that do not collide). */
  routedSubnets(): Promise<string[]>;
}

export interface NodeInfo {
  name: string;
  kernelVersion: string;
  operatingSystem: string;
  osType: string;
  architecture: string;
  cpus: number;
  memoryBytes: number;
  cgroupVersion: '1' | '2';
  cgroupDriver: string;
  runtimes: string[];
  /** Version strings of the runtimes and of conmon, as their --version prints them. */
  componentVersions: Record<string, string>;
  defaultRuntime: string;
  storageDriver: string;
  dataRoot: string;
  /** The daemon's --userns-remap, when set. */
  idMap?: IdMap;
}

export interface Agent {
  readonly images: ImageApi;
  readonly runtime: RuntimeApi;
  readonly volumes: VolumeApi;
  readonly files: FilesApi;
  readonly network: NetworkApi;
  info(): Promise<NodeInfo>;
  close(): Promise<void>;
}
