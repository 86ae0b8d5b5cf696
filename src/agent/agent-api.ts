// The agent interface: everything the head asks of a compute node. On one
// machine the head calls a LocalAgent in the same process; in a cluster the
// same calls cross the network. Nothing in api/ or head/ reaches past this
// interface into runtime/, image/, network/ or volume/.
import type { Readable, Writable } from 'node:stream';
import type { ContainerRecord, ImageRecord, ImageRunConfig } from '../core/types.ts';

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

export interface ImageApi {
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
  /** Bytes in the container's writable layer. */
  rootfsSize(containerId: string): Promise<number>;
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
  /** Called once per exit of a container's process. */
  onExit(listener: (id: string, exit: ExitInfo) => void): void;
  /** Deletes the runtime state (runc delete, cgroups, bundle, logs). Kills first if it still runs. */
  delete(id: string): Promise<void>;
  logs(container: ContainerRecord, opts: LogOptions): AsyncIterable<LogEntry>;
  /** Ids of containers the node has runtime state for (for reconciling after a restart). */
  known(): Promise<string[]>;
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
}

export interface Agent {
  readonly images: ImageApi;
  readonly runtime: RuntimeApi;
  info(): Promise<NodeInfo>;
  close(): Promise<void>;
}
