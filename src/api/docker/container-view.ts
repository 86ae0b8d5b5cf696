// Container records rendered as the Engine API's ContainerSummary and
// ContainerInspectResponse.
import type { ContainerRecord } from '../../core/types.ts';
import { containerStatusText } from './human.ts';

const unix = (iso: string) => Math.floor(Date.parse(iso) / 1000);

function commandLine(c: ContainerRecord): string {
  return [c.Path, ...c.Args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

function networkSettings(c: ContainerRecord) {
  const ns = c.NetworkSettings;
  // Docker fills the top-level address fields from the default bridge only.
  const br = ns?.Networks.bridge;
  return {
    Bridge: '',
    SandboxID: ns?.SandboxKey ? c.Id : '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: ns?.SandboxKey ? ns.Ports : {},
    SandboxKey: ns?.SandboxKey ?? '',
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: br?.EndpointID ?? '',
    Gateway: br?.Gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: br?.IPAddress ?? '',
    IPPrefixLen: br?.IPPrefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: br?.MacAddress ?? '',
    Networks: (ns?.Networks ?? {}) as Record<string, unknown>,
    _mode: c.HostConfig.NetworkMode,
  };
}

/** ps's Ports: one entry per binding, exposed-only ports without a public side. */
function summaryPorts(c: ContainerRecord) {
  const out: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = [];
  if (!c.NetworkSettings?.SandboxKey) return out;
  for (const [key, bindings] of Object.entries(c.NetworkSettings.Ports)) {
    const [port, type = 'tcp'] = key.split('/');
    if (!bindings?.length) out.push({ PrivatePort: Number(port), Type: type });
    for (const b of bindings ?? []) out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type });
  }
  return out;
}

/** Docker's MountPoint shape, without Berth's own fields. */
export function mountsView(c: ContainerRecord) {
  return (c.Mounts ?? []).map((m) => ({
    Type: m.Type,
    ...(m.Type === 'volume' ? { Name: m.Name ?? '' } : {}),
    Source: m.Source,
    Destination: m.Destination,
    ...(m.Type === 'volume' ? { Driver: m.Driver ?? 'local' } : {}),
    Mode: m.Mode,
    RW: m.RW,
    Propagation: m.Propagation,
  }));
}

export function containerSummary(c: ContainerRecord, size?: { rw: number; rootFs: number }) {
  const ns = networkSettings(c);
  return {
    Id: c.Id,
    Names: [`/${c.Name}`],
    Image: c.Image,
    ImageID: c.ImageId,
    Command: commandLine(c),
    Created: unix(c.Created),
    Ports: summaryPorts(c),
    ...(size ? { SizeRw: size.rw, SizeRootFs: size.rootFs } : {}),
    Labels: c.Config.Labels ?? {},
    State: c.State.Status,
    Status: containerStatusText(c),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode ?? 'bridge' },
    NetworkSettings: { Networks: ns.Networks },
    Mounts: mountsView(c),
  };
}

export function containerInspect(c: ContainerRecord, size?: { rw: number; rootFs: number }) {
  const { _mode, ...ns } = networkSettings(c);
  void _mode;
  const { StoppedByUser, Node, ImageId, LogPath, ...rest } = c;
  void StoppedByUser;
  void Node;
  return {
    Id: rest.Id,
    Created: rest.Created,
    Path: rest.Path,
    Args: rest.Args,
    State: rest.State,
    Image: ImageId,
    ResolvConfPath: '',
    HostnamePath: '',
    HostsPath: '',
    LogPath,
    Name: `/${rest.Name}`,
    RestartCount: rest.RestartCount,
    Driver: 'overlay',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: rest.HostConfig,
    GraphDriver: { Name: 'overlay', Data: null },
    ...(size ? { SizeRw: size.rw, SizeRootFs: size.rootFs } : {}),
    Mounts: mountsView(c),
    Config: { ...rest.Config, Image: rest.Image },
    NetworkSettings: ns,
  };
}
