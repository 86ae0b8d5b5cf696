// Turns a Docker create request into a container record: merges the image's
// defaults, resolves the command line and validates what the runtime cannot.
import { checkCpusets } from '../core/cpuset.ts';
import { invalid } from '../core/errors.ts';
import type { ContainerConfig, ContainerRecord, HealthConfig, HostConfig, ImageRecord } from '../core/types.ts';
import { parseSignal } from '../core/signals.ts';

export const KNOWN_LOG_DRIVERS = ['json-file', 'k8s-file', 'none'];
const MIN_MEMORY = 6 * 1024 * 1024;

export interface CreateInput {
  id: string;
  name: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  image: ImageRecord;
  node: string;
  cpus: number;
  runtimes: string[];
  defaultRuntime: string;
  now: string;
}

/** Merges env lists: later entries replace earlier ones with the same key. */
export function mergeEnv(base: string[], extra: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...extra]) {
    const i = e.indexOf('=');
    out.set(i < 0 ? e : e.slice(0, i), e);
  }
  return [...out.values()];
}

export function buildContainerRecord(input: CreateInput): ContainerRecord {
  const { config, image } = input;
  const img = image.config.config ?? {};
  const hc = normalizeHostConfig(input.hostConfig, input);

  // A user-given entrypoint discards the image's Cmd, as in Docker.
  const entrypoint = config.Entrypoint !== undefined && config.Entrypoint !== null ? config.Entrypoint : (img.Entrypoint ?? null);
  const userEntrypoint = config.Entrypoint !== undefined && config.Entrypoint !== null;
  const cmd =
    config.Cmd !== undefined && config.Cmd !== null && config.Cmd.length > 0
      ? config.Cmd
      : userEntrypoint
        ? null
        : (img.Cmd ?? null);
  if (config.StopSignal) parseSignal(config.StopSignal);
  const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (argv.length === 0) throw invalid('no command specified');

  const merged: ContainerConfig = {
    ...config,
    Hostname: config.Hostname || input.id.slice(0, 12),
    Domainname: config.Domainname ?? '',
    User: config.User ?? img.User ?? '',
    AttachStdin: config.AttachStdin ?? false,
    AttachStdout: config.AttachStdout ?? false,
    AttachStderr: config.AttachStderr ?? false,
    Tty: config.Tty ?? false,
    OpenStdin: config.OpenStdin ?? false,
    StdinOnce: config.StdinOnce ?? false,
    Env: mergeEnv(img.Env ?? [], config.Env ?? []),
    Cmd: cmd,
    Image: config.Image,
    Volumes: config.Volumes ?? img.Volumes ?? null,
    WorkingDir: config.WorkingDir || img.WorkingDir || '',
    Entrypoint: entrypoint,
    Labels: { ...(img.Labels ?? {}), ...(config.Labels ?? {}) },
    StopSignal: config.StopSignal || img.StopSignal || undefined,
    Healthcheck: mergeHealthcheck(config.Healthcheck ?? undefined, img.Healthcheck),
  };
  if (!merged.Healthcheck) delete merged.Healthcheck;
  if (img.ExposedPorts || config.ExposedPorts) {
    merged.ExposedPorts = { ...(img.ExposedPorts ?? {}), ...(config.ExposedPorts ?? {}) };
  }
  if (merged.StopSignal === undefined) delete merged.StopSignal;

  return {
    Id: input.id,
    Name: input.name,
    Created: input.now,
    Image: config.Image ?? image.id,
    ImageId: image.id,
    Config: merged,
    HostConfig: hc,
    State: {
      Status: 'created',
      Running: false,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: 0,
      ExitCode: 0,
      Error: '',
      StartedAt: '0001-01-01T00:00:00Z',
      FinishedAt: '0001-01-01T00:00:00Z',
    },
    RestartCount: 0,
    Node: input.node,
    Path: argv[0],
    Args: argv.slice(1),
    LogPath: '',
  };
}

/** Docker's merge: the user's check, with what it leaves zero taken from the image's. */
function mergeHealthcheck(user: HealthConfig | undefined, image: HealthConfig | undefined): HealthConfig | undefined {
  if (user) checkHealthcheck(user);
  if (!user) return image ? { ...image } : undefined;
  if (!image) return { ...user };
  return {
    ...user,
    Test: user.Test?.length ? user.Test : image.Test,
    Interval: user.Interval || image.Interval || 0,
    Timeout: user.Timeout || image.Timeout || 0,
    StartPeriod: user.StartPeriod || image.StartPeriod || 0,
    StartInterval: user.StartInterval || image.StartInterval || 0,
    Retries: user.Retries || image.Retries || 0,
  };
}

const MIN_HEALTH_DURATION = 1_000_000; // 1ms, in ns

function checkHealthcheck(hc: HealthConfig): void {
  if (typeof hc !== 'object' || (hc.Test != null && (!Array.isArray(hc.Test) || hc.Test.some((t) => typeof t !== 'string')))) {
    throw invalid('invalid value for Healthcheck.Test: expected an array of strings');
  }
  const test = hc.Test ?? [];
  if (test.length && !['NONE', 'CMD', 'CMD-SHELL'].includes(test[0])) throw invalid(`unknown Healthcheck type '${test[0]}'`);
  if (test.length === 1 && test[0] !== 'NONE') throw invalid(`Healthcheck.Test: ${test[0]} needs a command`);
  for (const key of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const) {
    const v = hc[key] ?? 0;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(`invalid value for Healthcheck.${key}: expected an integer (nanoseconds)`);
    if (v !== 0 && v < MIN_HEALTH_DURATION) throw invalid(`${key} in Healthcheck cannot be less than 1ms`);
  }
  if (typeof (hc.Retries ?? 0) !== 'number' || (hc.Retries ?? 0) < 0) throw invalid('Retries in Healthcheck cannot be negative');
}

function normalizeHostConfig(given: HostConfig, input: CreateInput): HostConfig {
  const hc: HostConfig = { ...given };
  const networkMode = hc.NetworkMode && hc.NetworkMode !== 'default' ? hc.NetworkMode : 'bridge';
  hc.NetworkMode = networkMode;
  // The CLI sends an empty Type with --log-opt alone: the default driver then.
  hc.LogConfig = { Type: hc.LogConfig?.Type || 'json-file', Config: hc.LogConfig?.Config ?? {} };
  if (!KNOWN_LOG_DRIVERS.includes(hc.LogConfig.Type)) {
    throw invalid(`failed to create task for container: logger: no log driver named '${hc.LogConfig.Type}' is registered`);
  }
  for (const key of Object.keys(hc.LogConfig.Config ?? {})) {
    if (!['max-size', 'max-file', 'labels', 'env', 'tag', 'compress', 'mode', 'max-buffer-size'].includes(key)) {
      throw invalid(`unknown log opt '${key}' for ${hc.LogConfig.Type} log driver`);
    }
  }
  const maxSize = hc.LogConfig.Config?.['max-size'];
  if (maxSize !== undefined) parseSize(maxSize, 'max-size');
  const maxFile = hc.LogConfig.Config?.['max-file'];
  if (maxFile !== undefined && !/^[1-9]\d*$/.test(maxFile)) throw invalid(`invalid value for log opt max-file: ${maxFile}`);

  const rp = hc.RestartPolicy ?? { Name: 'no' };
  const rpName = rp.Name === '' ? 'no' : rp.Name;
  if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(rpName)) {
    throw invalid(`invalid restart policy: unknown policy '${rp.Name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (rpName !== 'on-failure' && (rp.MaximumRetryCount ?? 0) !== 0) {
    throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  if ((rp.MaximumRetryCount ?? 0) < 0) throw invalid('invalid restart policy: maximum retry count cannot be negative');
  hc.RestartPolicy = { Name: rpName, MaximumRetryCount: rp.MaximumRetryCount ?? 0 };
  if (hc.AutoRemove && rpName !== 'no') {
    throw invalid(`conflicting options: cannot use auto-remove and restart policy together`);
  }

  if (hc.Memory && hc.Memory > 0 && hc.Memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
  if (hc.Memory && hc.MemorySwap && hc.MemorySwap > 0 && hc.MemorySwap < hc.Memory) {
    throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  checkCpusets(hc, input.cpus);
  if (hc.NanoCpus !== undefined && hc.NanoCpus !== 0) {
    if (hc.NanoCpus < 0 || hc.NanoCpus > input.cpus * 1e9 || hc.NanoCpus < 1e7) {
      throw invalid(`Range of CPUs is from 0.01 to ${input.cpus.toFixed(2)}, as there are only ${input.cpus} CPUs available`);
    }
    if (hc.CpuQuota || hc.CpuPeriod) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  }
  if (hc.PidsLimit !== undefined && hc.PidsLimit !== null && hc.PidsLimit <= 0) hc.PidsLimit = null;
  for (const u of hc.Ulimits ?? []) {
    if (!u || typeof u.Name !== 'string' || typeof u.Soft !== 'number' || typeof u.Hard !== 'number') {
      throw invalid('invalid ulimit: each entry needs Name, Soft and Hard');
    }
    if (u.Soft > u.Hard) throw invalid(`invalid ulimit ${u.Name}: soft limit ${u.Soft} is greater than hard limit ${u.Hard}`);
  }
  for (const opt of hc.SecurityOpt ?? []) {
    const [k] = opt.split(/[=:]/);
    if (!['no-new-privileges', 'seccomp', 'apparmor', 'label', 'systempaths'].includes(k)) {
      throw invalid(`invalid --security-opt: ${JSON.stringify(opt)}`);
    }
  }
  const runtime = hc.Runtime || input.defaultRuntime;
  if (!input.runtimes.includes(runtime)) throw invalid(`unknown or invalid runtime name: ${runtime}`);
  hc.Runtime = runtime;
  // Binds, Mounts, Tmpfs and VolumesFrom are checked by the volume layer (head/mount-plan.ts).
  return hc;
}

/** Parses "10m", "1g", "512k", "100" into bytes. */
export function parseSize(value: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(value.trim());
  if (!m) throw invalid(`invalid value for ${field}: ${value}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * unit);
}

/**
 * Docker's rules for --userns and the daemon's --userns-remap: "host" is the
 * one mode there is; a remapped container cannot be privileged or share the
 * host's network or PID namespace unless it opts out with --userns=host.
 */
export function checkUserns(hc: HostConfig, remapped: boolean): void {
  const mode = hc.UsernsMode ?? '';
  if (mode !== '' && mode !== 'host') throw invalid(`invalid USER mode: ${String(mode)}`);
  if (!remapped || mode === 'host') return;
  if (hc.Privileged) throw invalid('privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode');
  if (hc.NetworkMode === 'host') throw invalid("cannot share the host's network namespace when user namespaces are enabled");
  if (hc.PidMode === 'host') throw invalid('cannot share the host PID namespace when user namespaces are enabled');
}
