// Turns what a create request says about mounts (-v as HostConfig.Binds,
// --mount as HostConfig.Mounts, --tmpfs, --volumes-from, -v /path and the
// image's VOLUMEs as Config.Volumes) into one list of MountPoints, with
// Docker's validation and wording. Pure: volume names are only named here;
// the node creates and mounts them.
import path from 'node:path';
import { invalid } from '../core/errors.ts';
import type { ContainerRecord, MountPoint } from '../core/types.ts';

export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';
const VALID_VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const PROPAGATIONS = ['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate'];
const BIND_MODES = ['ro', 'rw', 'z', 'Z', 'nocopy', 'consistent', 'cached', 'delegated', ...PROPAGATIONS];

/** What --mount sends (Docker's mount.Mount). */
export interface ApiMount {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean } | null;
  VolumeOptions?: {
    NoCopy?: boolean;
    Labels?: Record<string, string> | null;
    DriverConfig?: { Name?: string; Options?: Record<string, string> | null } | null;
    Subpath?: string;
  } | null;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number } | null;
}

export interface PlanInput {
  binds: string[];
  mounts: ApiMount[];
  tmpfs: Record<string, string>;
  /** --volumes-from entries with the containers they name, resolved by the caller. */
  volumesFrom: { spec: string; container: ContainerRecord }[];
  /** Config.Volumes: -v /path and the image's VOLUMEs. */
  volumes: string[];
  /** Makes names for anonymous volumes. */
  newName: () => string;
}

function destination(raw: string, spec: string): string {
  if (!path.posix.isAbsolute(raw)) throw invalid(`invalid volume specification: '${spec}': invalid mount config for type "volume": invalid mount path: '${raw}' mount path must be absolute`);
  const clean = path.posix.normalize(raw).replace(/(.)\/+$/, '$1');
  if (clean === '/') throw invalid(`invalid volume specification: '${spec}': invalid mount config for type "bind": invalid specification: destination can't be '/'`);
  return clean;
}

/** One -v entry: "name:/dst[:mode]", "/host:/dst[:mode]" or "/dst". */
export function parseBind(spec: string, newName: () => string): MountPoint {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw invalid(`invalid volume specification: '${spec}'`);
  if (parts.length === 1) {
    return { Type: 'volume', Name: newName(), Source: '', Destination: destination(parts[0], spec), Driver: 'local', Mode: '', RW: true, Propagation: '', Anonymous: true };
  }
  // "/dst:ro" (two parts, the second a mode) is an anonymous volume with a mode.
  let [source, dst, mode = ''] = parts;
  if (parts.length === 2 && !parts[1].startsWith('/') && parts[0].startsWith('/')) {
    [source, dst, mode] = ['', parts[0], parts[1]];
  }
  const flags = mode.split(',').filter(Boolean);
  for (const f of flags) if (!BIND_MODES.includes(f)) throw invalid(`invalid mode: ${f}`);
  if (flags.includes('ro') && flags.includes('rw')) throw invalid(`invalid mode: ${mode}`);
  const rw = !flags.includes('ro');
  const propagation = flags.find((f) => PROPAGATIONS.includes(f)) ?? '';
  const dest = destination(dst, spec);
  if (source === '') {
    return { Type: 'volume', Name: newName(), Source: '', Destination: dest, Driver: 'local', Mode: mode, RW: rw, Propagation: '', Anonymous: true, NoCopy: flags.includes('nocopy') };
  }
  if (path.posix.isAbsolute(source)) {
    if (flags.includes('nocopy')) throw invalid(`invalid mode: nocopy`);
    return { Type: 'bind', Source: path.posix.normalize(source), Destination: dest, Mode: mode, RW: rw, Propagation: propagation || 'rprivate', CreateSource: true };
  }
  if (!VALID_VOLUME_NAME.test(source)) {
    throw invalid(
      `create ${source}: "${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
  if (propagation) throw invalid(`invalid mode: ${propagation}`);
  return { Type: 'volume', Name: source, Source: '', Destination: dest, Driver: 'local', Mode: mode, RW: rw, Propagation: '', NoCopy: flags.includes('nocopy') };
}

/** One --mount entry. */
export function parseApiMount(m: ApiMount, newName: () => string): MountPoint {
  const type = m.Type ?? '';
  const bad = (why: string) => invalid(`invalid mount config for type "${type}": ${why}`);
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw invalid(`invalid mount config: mount type unknown: "${type}"`);
  if (!m.Target) throw bad('field Target must not be empty');
  if (!path.posix.isAbsolute(m.Target)) throw bad(`invalid mount path: '${m.Target}' mount path must be absolute`);
  const dest = path.posix.normalize(m.Target).replace(/(.)\/+$/, '$1');
  if (dest === '/') throw bad(`invalid specification: destination can't be '/'`);
  const rw = !m.ReadOnly;
  if (type !== 'bind' && m.BindOptions) throw bad('field BindOptions must not be specified');
  if (type !== 'volume' && m.VolumeOptions) throw bad('field VolumeOptions must not be specified');
  if (type !== 'tmpfs' && m.TmpfsOptions) throw bad('field TmpfsOptions must not be specified');
  if (type === 'bind') {
    if (!m.Source) throw bad('field Source must not be empty');
    if (!path.posix.isAbsolute(m.Source)) throw bad(`invalid mount path: '${m.Source}' mount path must be absolute`);
    const propagation = m.BindOptions?.Propagation || 'rprivate';
    if (!PROPAGATIONS.includes(propagation)) throw bad(`invalid propagation mode: ${propagation}`);
    return { Type: 'bind', Source: path.posix.normalize(m.Source), Destination: dest, Mode: '', RW: rw, Propagation: propagation, CreateSource: !!m.BindOptions?.CreateMountpoint };
  }
  if (type === 'tmpfs') {
    if (m.Source) throw bad('field Source must not be specified');
    const opts: string[] = [];
    const size = m.TmpfsOptions?.SizeBytes;
    if (size !== undefined && size !== 0) {
      if (!Number.isInteger(size) || size < 0) throw bad(`invalid tmpfs size: ${size}`);
      opts.push(`size=${Math.ceil(size / 1024)}k`);
    }
    const mode = m.TmpfsOptions?.Mode;
    if (mode !== undefined && mode !== 0) opts.push(`mode=${(mode & 0o7777).toString(8)}`);
    if (!rw) opts.push('ro');
    return { Type: 'tmpfs', Source: '', Destination: dest, Mode: '', RW: rw, Propagation: '', TmpfsOptions: opts };
  }
  const vo = m.VolumeOptions ?? {};
  if (vo.Subpath) throw bad('volume subpaths are not supported');
  const name = m.Source || '';
  if (name && !VALID_VOLUME_NAME.test(name)) {
    throw invalid(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  const driver = vo.DriverConfig?.Name || 'local';
  return {
    Type: 'volume',
    Name: name || newName(),
    Source: '',
    Destination: dest,
    Driver: driver,
    Mode: '',
    RW: rw,
    Propagation: '',
    ...(name ? {} : { Anonymous: true }),
    NoCopy: !!vo.NoCopy,
    VolumeOptions: { Driver: driver, DriverOpts: vo.DriverConfig?.Options ?? undefined, Labels: vo.Labels ?? undefined },
  };
}

/** --tmpfs /dst[:opts]: Docker's defaults (noexec, nosuid, nodev) with the given options after them. */
function parseTmpfs(dst: string, opts: string): MountPoint {
  const dest = destination(dst, dst);
  const list = opts.split(',').filter(Boolean);
  return { Type: 'tmpfs', Source: '', Destination: dest, Mode: opts, RW: !list.includes('ro'), Propagation: '', TmpfsOptions: list };
}

export function planMounts(input: PlanInput): MountPoint[] {
  const byDest = new Map<string, MountPoint>();
  // --volumes-from first: explicit mounts of this container replace them.
  for (const { spec, container } of input.volumesFrom) {
    const mode = spec.split(':')[1] ?? '';
    if (mode !== '' && mode !== 'ro' && mode !== 'rw') throw invalid(`invalid mode: ${mode}`);
    for (const m of container.Mounts ?? []) {
      if (m.Type === 'tmpfs') continue;
      const { Anonymous: _a, CreateSource: _c, VolumeOptions: _v, ...rest } = m;
      byDest.set(m.Destination, { ...rest, RW: mode === 'ro' ? false : mode === 'rw' ? true : m.RW, NoCopy: true });
    }
  }
  const explicit = new Set<string>();
  const add = (m: MountPoint) => {
    if (explicit.has(m.Destination)) throw invalid(`Duplicate mount point: ${m.Destination}`);
    explicit.add(m.Destination);
    byDest.set(m.Destination, m);
  };
  for (const b of input.binds) add(parseBind(b, input.newName));
  for (const m of input.mounts) add(parseApiMount(m, input.newName));
  for (const [dst, opts] of Object.entries(input.tmpfs)) add(parseTmpfs(dst, opts ?? ''));
  for (const v of input.volumes) {
    const dest = destination(v, v);
    if (byDest.has(dest)) continue;
    byDest.set(dest, { Type: 'volume', Name: input.newName(), Source: '', Destination: dest, Driver: 'local', Mode: '', RW: true, Propagation: '', Anonymous: true });
  }
  // Parents before children, so that a mount inside another one lands on top of it.
  return [...byDest.values()].sort((a, b) => a.Destination.split('/').length - b.Destination.split('/').length);
}
