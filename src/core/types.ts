// Shapes shared by head and agent. Container configuration keeps the Docker
// Engine API's own field names (PascalCase): it is what users send and what
// inspect returns, so translating it would only add a place for bugs.

/** OCI image configuration (application/vnd.oci.image.config.v1+json). */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: ImageRunConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: ImageHistoryEntry[];
}

export interface ImageRunConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: HealthConfig;
  Shell?: string[];
  OnBuild?: string[] | null;
}

export interface ImageHistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An image as the image store knows it. */
export interface ImageRecord {
  /** "sha256:<hex>", the digest of the config blob. */
  id: string;
  /** Familiar "name:tag" strings, e.g. "busybox:latest". */
  repoTags: string[];
  /** Familiar "name@sha256:..." strings (from registries; empty for loaded images). */
  repoDigests: string[];
  /** Parent image id (images built locally), "" otherwise. */
  parent: string;
  config: ImageConfig;
  /** Unpacked size of all layers in bytes. */
  size: number;
  /** When the image came into this store (RFC 3339). */
  loadedAt: string;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  /** Present while the container has a health check (Docker's State.Health). */
  Health?: HealthState;
}

/** Docker's HealthConfig: durations in nanoseconds, 0 = the default (inherit from the image at create). */
export interface HealthConfig {
  /** ["NONE"], ["CMD", args...], ["CMD-SHELL", command]; [] inherits the image's. */
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface HealthLogEntry {
  /** RFC 3339 with nanoseconds. */
  Start: string;
  End: string;
  /** 0 healthy, 1 unhealthy, -1 the check could not run or timed out. */
  ExitCode: number;
  Output: string;
}

export interface HealthState {
  Status: 'starting' | 'healthy' | 'unhealthy';
  FailingStreak: number;
  /** The last five results, oldest first. */
  Log: HealthLogEntry[];
}

/** Docker's container Config (the subset Berth acts on; unknown fields are kept as given). */
export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object> | null;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Healthcheck?: HealthConfig | null;
  Image?: string;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  NetworkDisabled?: boolean;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number | null;
  Shell?: string[] | null;
  [other: string]: unknown;
}

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface RestartPolicy {
  Name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount?: number;
}

/** Docker's HostConfig (the subset Berth acts on; unknown fields are kept as given). */
export interface HostConfig {
  Binds?: string[] | null;
  LogConfig?: { Type: string; Config?: Record<string, string> };
  NetworkMode?: string;
  RestartPolicy?: RestartPolicy;
  AutoRemove?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Dns?: string[] | null;
  ExtraHosts?: string[] | null;
  Init?: boolean | null;
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[] | null;
  Runtime?: string;
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  PidsLimit?: number | null;
  Ulimits?: Ulimit[] | null;
  OomKillDisable?: boolean | null;
  ShmSize?: number;
  Tmpfs?: Record<string, string> | null;
  [other: string]: unknown;
}

/** Docker's EndpointSettings: a container's attachment to one network (desired + assigned). */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string } | null;
  Links: string[] | null;
  Aliases: string[] | null;
  MacAddress: string;
  DriverOpts: Record<string, string> | null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

/** The networks a container is on (by network name) and, while it runs, its namespace and published ports. */
export interface ContainerNetworkSettings {
  /** The network namespace (a path) while the container runs, "" otherwise. */
  SandboxKey: string;
  Networks: Record<string, EndpointSettings>;
  /** "80/tcp" -> host bindings actually made (while running). */
  Ports: Record<string, PortBinding[] | null>;
}

/** A container as the head stores it: desired configuration plus last observed state. */
export interface ContainerRecord {
  Id: string;
  /** Without the leading slash. */
  Name: string;
  Created: string;
  /** What the user asked for (as typed). */
  Image: string;
  /** The resolved image id ("sha256:..."). */
  ImageId: string;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  State: ContainerState;
  RestartCount: number;
  /** The node (agent) that runs it. */
  Node: string;
  /** Resolved command line: the path and arguments actually executed. */
  Path: string;
  Args: string[];
  /** Where the agent keeps this container's log (empty with the "none" driver). */
  LogPath: string;
  /**
   * Set while create is still preparing the node (rootfs, mounts, bundle); a
   * record that still has it after a crash is discarded, so a container is
   * either fully there or gone.
   */
  Incomplete?: boolean;
  /** Set once a user stopped the container explicitly (unless-stopped restart policy). */
  StoppedByUser?: boolean;
  /** Networks (set at create, addresses while running); absent for records older than networking. */
  NetworkSettings?: ContainerNetworkSettings;
  /** Resolved mounts (volumes, binds, tmpfs); absent on records made before volumes existed. */
  Mounts?: MountPoint[];
}

/** A volume as the node's volume store knows it (Docker's Volume object, less UsageData). */
export interface VolumeRecord {
  Name: string;
  Driver: string;
  /** Host directory the volume's files live in. */
  Mountpoint: string;
  /** RFC 3339. */
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local' | 'global';
  /** Driver options (-o), null when none were given. */
  Options: Record<string, string> | null;
}

/**
 * One mount of a container, resolved from -v, --mount, --tmpfs, --volumes-from
 * and the image's VOLUMEs. The first eight fields are Docker's inspect
 * MountPoint; the rest is what the node needs to set the mount up.
 */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  /** Volume name (volumes only). */
  Name?: string;
  /** Host path (binds; volumes once prepared by the node); "" for tmpfs. */
  Source: string;
  Destination: string;
  Driver?: string;
  /** As given after the second colon of -v ("ro,z"), "" otherwise. */
  Mode: string;
  RW: boolean;
  Propagation: string;
  /** Volume created for this container alone (image VOLUME, -v /path): rm -v removes it. */
  Anonymous?: boolean;
  /** Do not copy the image's content into an empty volume (volume-nocopy / nocopy). */
  NoCopy?: boolean;
  /** Create a missing bind source (-v does, --mount does not). */
  CreateSource?: boolean;
  /** tmpfs mount options (size=..., mode=...). */
  TmpfsOptions?: string[];
  /** Options for a volume created on first use by --mount (driver, labels). */
  VolumeOptions?: { Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string> };
}
