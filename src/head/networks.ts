// The network service of the head: networks and address assignments live in
// the store (the head's state); the agent of a node realises them (bridge,
// namespaces, rules, DNS). Containers join networks when they start and
// leave them when they stop, so an address is held only while it is used.
import { randomBytes } from 'node:crypto';
import { conflict, invalid, isKind, notFound } from '../core/errors.ts';
import { hexId } from '../core/ids.ts';
import type { Logger } from '../core/log.ts';
import type { ContainerRecord, EndpointSettings, PortBinding } from '../core/types.ts';
import type { Agent, EndpointSpec, NetworkSpec, PortSpec } from '../agent/agent-api.ts';
import type { Store } from '../store/store.ts';
import { contains, defaultPools, formatCidr, formatIp, macFromIp, overlaps, parseCidr, parseIp, size, type Cidr } from '../network/cidr.ts';
import { matchesLabels, nowRfc3339 } from './containers.ts';

const KIND = 'network';
const NAME_KIND = 'network-name';
const IPAM_KIND = 'ipam';
const PREDEFINED = ['bridge', 'host', 'none'];
const BRIDGE_NAME_OPT = 'com.docker.network.bridge.name';
const MTU_OPT = 'com.docker.network.driver.mtu';
const MASQUERADE_OPT = 'com.docker.network.bridge.enable_ip_masquerade';

/** Go's strconv.ParseBool, as Docker parses bridge options; undefined when the text is none of its forms. */
function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  return undefined;
}

export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local';
  Driver: 'bridge' | 'host' | 'null';
  EnableIPv6: boolean;
  IPAM: { Driver: 'default'; Options: Record<string, string> | null; Config: { Subnet: string; Gateway: string; IPRange?: string }[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** Bridge device on the nodes (bridge driver). */
  Bridge: string;
  Mtu: number;
}

export interface NetworkCreateRequest {
  Name: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: { Subnet?: string; Gateway?: string; IPRange?: string }[] | null; Options?: Record<string, string> | null } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
  CheckDuplicate?: boolean;
}

export interface EndpointConfig {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string } | null;
}

/** What the container service asks of networking; set on it by the daemon. */
export interface ContainerNetworking {
  /** At create: validates the network mode and endpoints, fills record.NetworkSettings. */
  prepareCreate(record: ContainerRecord, endpoints: Record<string, EndpointConfig> | undefined): Promise<void>;
  /** Before the process starts: addresses, namespace, published ports. */
  attach(c: ContainerRecord): Promise<void>;
  /** After the process ended (or on remove): frees all of that. Idempotent. */
  detach(c: ContainerRecord): Promise<void>;
}

/** The bits of the container service networking needs (no cycle of imports at run time). */
export interface ContainerAccess {
  resolve(ref: string): Promise<ContainerRecord>;
  list(): Promise<ContainerRecord[]>;
  /** Runs fn on the current record under the container's lock and saves it. */
  mutate(ref: string, fn: (c: ContainerRecord) => Promise<void>): Promise<ContainerRecord>;
}

function emptyEndpoint(networkId: string, cfg?: EndpointConfig): EndpointSettings {
  return {
    IPAMConfig: cfg?.IPAMConfig ?? null,
    Links: null,
    Aliases: cfg?.Aliases?.length ? [...cfg.Aliases] : null,
    MacAddress: '',
    DriverOpts: null,
    NetworkID: networkId,
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  };
}

const isBridgeMode = (mode: string) => mode !== 'host' && mode !== 'none' && !mode.startsWith('container:');

export class NetworkService implements ContainerNetworking {
  private readonly store: Store;
  private readonly agent: Agent;
  private readonly log: Logger;
  private readonly tag: string;
  private readonly bridgeName: string;
  private readonly defaultSubnet: string | undefined;
  private containers!: ContainerAccess;
  /** Newest endpoints of containers whose start or stop may not be saved yet (see refreshDns). */
  private readonly dnsView = new Map<string, ContainerRecord>();
  private dnsQueue: Promise<void> = Promise.resolve();

  constructor(opts: { store: Store; agent: Agent; log: Logger; tag: string; bridgeName?: string; defaultSubnet?: string }) {
    this.store = opts.store;
    this.agent = opts.agent;
    this.log = opts.log;
    this.tag = opts.tag;
    this.bridgeName = opts.bridgeName || `${opts.tag}0`;
    this.defaultSubnet = opts.defaultSubnet;
  }

  useContainers(c: ContainerAccess): void {
    this.containers = c;
  }

  // ---- networks -------------------------------------------------------------

  async list(): Promise<NetworkRecord[]> {
    return (await this.store.list<NetworkRecord>(KIND)).map((s) => s.value);
  }

  /** By full id, name, or unique id prefix (Docker's order). */
  async resolve(ref: string): Promise<NetworkRecord> {
    const byId = await this.store.get<NetworkRecord>(KIND, ref);
    if (byId) return byId.value;
    const byName = await this.store.get<string>(NAME_KIND, ref);
    if (byName) {
      const rec = await this.store.get<NetworkRecord>(KIND, byName.value);
      if (rec) return rec.value;
    }
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = await this.store.list<NetworkRecord>(KIND, ref);
      if (matches.length === 1) return matches[0].value;
      if (matches.length > 1) throw invalid(`network ${ref} is ambiguous (${matches.length} matches found based on ID prefix)`);
    }
    throw notFound(`network ${ref} not found`);
  }

  private spec(n: NetworkRecord): NetworkSpec {
    const cfg = n.IPAM.Config[0];
    return {
      id: n.Id,
      name: n.Name,
      bridge: n.Bridge,
      subnet: cfg.Subnet,
      gateway: cfg.Gateway,
      internal: n.Internal,
      mtu: n.Mtu,
      // Outbound NAT unless the network is internal or was created with enable_ip_masquerade=false.
      masquerade: !n.Internal && parseBool(n.Options[MASQUERADE_OPT] ?? 'true') !== false,
      dns: n.Name !== 'bridge',
    };
  }

  /** Creates the predefined networks once, then realises every network and running sandbox on the node. */
  async init(): Promise<void> {
    for (const name of PREDEFINED) {
      if (await this.store.get(NAME_KIND, name)) continue;
      if (name === 'bridge') {
        const subnet = this.defaultSubnet ? parseCidr(this.defaultSubnet, 'default subnet') : await this.freePool();
        const gateway = formatIp(subnet.base + 1);
        await this.insert(this.record(name, 'bridge', { Subnet: formatCidr(subnet), Gateway: gateway }, {
          Internal: false,
          Bridge: this.bridgeName,
          Mtu: 1500,
          Options: {
            'com.docker.network.bridge.default_bridge': 'true',
            'com.docker.network.bridge.enable_icc': 'true',
            [MASQUERADE_OPT]: 'true',
            'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
            [BRIDGE_NAME_OPT]: this.bridgeName,
            [MTU_OPT]: '1500',
          },
        }));
      } else {
        await this.insert(this.record(name, name === 'host' ? 'host' : 'null', undefined, { Internal: false, Bridge: '', Mtu: 0, Options: {} }));
      }
    }
    const nets = (await this.list()).filter((n) => n.Driver === 'bridge');
    const running = (await this.containers.list()).filter((c) => c.State.Running && c.NetworkSettings?.SandboxKey.startsWith('/run/netns/'));
    const sandboxes = running.map((c) => ({
      containerId: c.Id,
      endpoints: this.endpointsOf(c, nets),
      ports: this.boundPorts(c),
      dnsServers: c.HostConfig.Dns ?? [],
    }));
    await this.agent.network.restore(nets.map((n) => this.spec(n)), sandboxes);
    for (const n of nets) await this.refreshDns([n.Id]);
  }

  private record(name: string, driver: NetworkRecord['Driver'], ipam: { Subnet: string; Gateway: string; IPRange?: string } | undefined, rest: Pick<NetworkRecord, 'Internal' | 'Bridge' | 'Mtu' | 'Options'> & { Labels?: Record<string, string> }): NetworkRecord {
    return {
      Name: name,
      Id: hexId((n) => randomBytes(n)),
      Created: nowRfc3339(),
      Scope: 'local',
      Driver: driver,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: ipam ? [ipam] : [] },
      Internal: rest.Internal,
      Attachable: false,
      Ingress: false,
      Options: rest.Options,
      Labels: rest.Labels ?? {},
      Bridge: rest.Bridge,
      Mtu: rest.Mtu,
    };
  }

  private async insert(n: NetworkRecord): Promise<void> {
    try {
      await this.store.txn([
        { op: 'put', kind: NAME_KIND, key: n.Name, value: n.Id, ifVersion: 0 },
        { op: 'put', kind: KIND, key: n.Id, value: n, ifVersion: 0 },
      ]);
    } catch (err) {
      if (isKind(err, 'conflict')) throw conflict(`network with name ${n.Name} already exists`);
      throw err;
    }
  }

  /** The first pool that neither the host's routes nor another network use. */
  private async freePool(): Promise<Cidr> {
    const taken = [...(await this.agent.network.routedSubnets()), ...(await this.list()).flatMap((n) => n.IPAM.Config.map((c) => c.Subnet))]
      .map((s) => {
        try {
          return parseCidr(s);
        } catch {
          return undefined;
        }
      })
      .filter((c): c is Cidr => !!c && c.prefix > 0);
    for (const pool of defaultPools()) if (!taken.some((t) => overlaps(t, pool))) return pool;
    throw conflict('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
  }

  async create(req: NetworkCreateRequest): Promise<{ Id: string; Warning: string }> {
    const name = req.Name;
    if (!name) throw invalid('network name must not be empty');
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalid(`invalid network name: ${name}`);
    if (PREDEFINED.includes(name)) throw conflict(`operation is not permitted on predefined ${name} network `);
    const driver = req.Driver || 'bridge';
    if (driver !== 'bridge') throw notFound(`plugin "${driver}" not found`);
    if (req.EnableIPv6) throw invalid('IPv6 networks are not supported yet');
    if (await this.store.get(NAME_KIND, name)) throw conflict(`network with name ${name} already exists`);
    const configs = req.IPAM?.Config ?? [];
    if (configs.length > 1) throw invalid('only one IPAM configuration (one IPv4 subnet) per network is supported');
    const given = configs[0] ?? {};
    const others = (await this.list()).flatMap((n) => n.IPAM.Config.map((c) => parseCidr(c.Subnet)));
    let subnet: Cidr;
    if (given.Subnet) {
      subnet = parseCidr(given.Subnet);
      if (subnet.prefix > 30) throw invalid(`invalid subnet ${given.Subnet}: too small for a gateway and a container`);
      if (others.some((o) => overlaps(o, subnet))) throw conflict(`invalid pool request: Pool overlaps with other one on this address space`);
    } else {
      if (given.Gateway || given.IPRange) throw invalid('a gateway or ip-range needs a subnet (--subnet)');
      subnet = await this.freePool();
    }
    let gateway = formatIp(subnet.base + 1);
    if (given.Gateway) {
      const gw = parseIp(given.Gateway);
      if (gw === undefined) throw invalid(`invalid gateway address: ${given.Gateway}`);
      if (!contains(subnet, gw) || gw === subnet.base || gw === subnet.base + size(subnet) - 1) {
        throw invalid(`no matching subnet for gateway ${given.Gateway}: it must be a host address of ${formatCidr(subnet)}`);
      }
      gateway = given.Gateway;
    }
    let ipRange: string | undefined;
    if (given.IPRange) {
      const r = parseCidr(given.IPRange, 'ip-range');
      if (r.prefix < subnet.prefix || !contains(subnet, r.base)) throw invalid(`invalid ip-range ${given.IPRange}: not within subnet ${formatCidr(subnet)}`);
      ipRange = formatCidr(r);
    }
    const opts = req.Options ?? {};
    const mtu = opts[MTU_OPT] !== undefined ? Number(opts[MTU_OPT]) : 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalid(`invalid MTU: ${opts[MTU_OPT]}`);
    const masq = opts[MASQUERADE_OPT];
    if (masq !== undefined && parseBool(masq) === undefined) throw invalid(`failed to parse ${MASQUERADE_OPT} value: ${masq} (strconv.ParseBool: parsing ${JSON.stringify(masq)}: invalid syntax)`);
    const rec = this.record(
      name,
      'bridge',
      { Subnet: formatCidr(subnet), Gateway: gateway, ...(ipRange ? { IPRange: ipRange } : {}) },
      { Internal: !!req.Internal, Bridge: '', Mtu: mtu, Options: { ...opts }, Labels: req.Labels ?? {} },
    );
    rec.Bridge = opts[BRIDGE_NAME_OPT] || `${this.tag}-${rec.Id.slice(0, 8)}`;
    if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(rec.Bridge)) throw invalid(`invalid bridge name: ${rec.Bridge}`);
    if ((await this.list()).some((n) => n.Bridge === rec.Bridge)) throw conflict(`bridge name ${rec.Bridge} is used by another network`);
    await this.insert(rec);
    try {
      await this.agent.network.ensureNetwork(this.spec(rec));
    } catch (err) {
      await this.agent.network.removeNetwork(this.spec(rec)).catch(() => undefined);
      await this.store.txn([
        { op: 'delete', kind: KIND, key: rec.Id },
        { op: 'delete', kind: NAME_KIND, key: rec.Name },
      ]);
      throw err;
    }
    return { Id: rec.Id, Warning: '' };
  }

  /** Containers with an address on the network (running ones). */
  async attached(n: NetworkRecord): Promise<ContainerRecord[]> {
    return (await this.containers.list()).filter((c) => Object.values(c.NetworkSettings?.Networks ?? {}).some((e) => e.NetworkID === n.Id && e.IPAddress));
  }

  async remove(ref: string): Promise<void> {
    const n = await this.resolve(ref);
    if (PREDEFINED.includes(n.Name)) throw conflict(`${n.Name} is a pre-defined network and cannot be removed`);
    if ((await this.attached(n)).length) throw conflict(`error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
    await this.agent.network.removeNetwork(this.spec(n));
    await this.store.txn([
      { op: 'delete', kind: KIND, key: n.Id },
      { op: 'delete', kind: NAME_KIND, key: n.Name },
    ]);
  }

  async prune(filters: Record<string, string[]>): Promise<string[]> {
    const removed: string[] = [];
    for (const n of await this.list()) {
      if (PREDEFINED.includes(n.Name) || !matchesLabels(n.Labels, filters)) continue;
      if ((await this.attached(n)).length) continue;
      try {
        await this.remove(n.Id);
        removed.push(n.Name);
      } catch (err) {
        if (!isKind(err, 'conflict') && !isKind(err, 'not-found')) throw err;
      }
    }
    return removed;
  }

  // ---- containers ----------------------------------------------------------

  async prepareCreate(record: ContainerRecord, endpoints: Record<string, EndpointConfig> | undefined): Promise<void> {
    const mode = record.HostConfig.NetworkMode || 'bridge';
    const settings = { SandboxKey: '', Networks: {} as Record<string, EndpointSettings>, Ports: {} };
    record.NetworkSettings = settings;
    if (mode.startsWith('container:')) {
      const other = await this.containers.resolve(mode.slice('container:'.length));
      if (other.Id === record.Id) throw invalid('cannot join own network namespace');
      if (Object.keys(record.HostConfig.PortBindings ?? {}).length) throw invalid('conflicting options: port publishing and the container type network mode');
      return;
    }
    // Like Docker, an unknown network fails the start, not the create (the CLI
    // would take a 404 from create for a missing image and try to pull it).
    const primary = await this.resolve(mode).catch((err) => {
      if (!isKind(err, 'not-found')) throw err;
      return undefined;
    });
    if (!primary) {
      settings.Networks[mode] = emptyEndpoint('', endpoints?.[mode] ?? endpoints?.default);
      return;
    }
    const wanted: [NetworkRecord, EndpointConfig | undefined][] = [[primary, endpoints?.[mode] ?? endpoints?.[primary.Name] ?? endpoints?.[primary.Id] ?? endpoints?.default]];
    for (const [ref, cfg] of Object.entries(endpoints ?? {})) {
      if (ref === 'default') continue; // the CLI's name for the network mode's network
      const n = await this.resolve(ref);
      if (n.Id !== primary.Id) wanted.push([n, cfg]);
    }
    for (const [n, cfg] of wanted) {
      if (n.Driver !== 'bridge' && wanted.length > 1) throw invalid(`container cannot be connected to host or none network together with others`);
      this.checkEndpoint(n, cfg);
      settings.Networks[n.Name] = emptyEndpoint(n.Id, cfg);
    }
  }

  private checkEndpoint(n: NetworkRecord, cfg: EndpointConfig | undefined): void {
    const user = n.Name !== 'bridge' && n.Driver === 'bridge';
    if (cfg?.Aliases?.length && !user) throw invalid('network-scoped alias is supported only for containers in user defined networks');
    const ip = cfg?.IPAMConfig?.IPv4Address;
    if (ip) {
      if (!user) throw invalid('user specified IP address is supported on user defined networks only');
      const n32 = parseIp(ip);
      if (n32 === undefined) throw invalid(`invalid IPv4 address: ${ip}`);
      const sub = parseCidr(n.IPAM.Config[0].Subnet);
      if (!contains(sub, n32)) throw invalid(`no configured subnet or ip-range contain the IP address ${ip}`);
    }
  }

  private ordered(c: ContainerRecord): [string, EndpointSettings][] {
    const mode = c.HostConfig.NetworkMode || 'bridge';
    return Object.entries(c.NetworkSettings?.Networks ?? {}).sort(([a], [b]) => Number(b === mode) - Number(a === mode));
  }

  private endpointsOf(c: ContainerRecord, nets: NetworkRecord[]): EndpointSpec[] {
    const out: EndpointSpec[] = [];
    for (const [, ep] of this.ordered(c)) {
      const n = nets.find((x) => x.Id === ep.NetworkID);
      if (!n || !ep.IPAddress) continue;
      out.push({ network: this.spec(n), ifName: `eth${out.length}`, ip: ep.IPAddress, mac: ep.MacAddress });
    }
    return out;
  }

  private boundPorts(c: ContainerRecord): PortSpec[] {
    const out: PortSpec[] = [];
    for (const [key, bindings] of Object.entries(c.NetworkSettings?.Ports ?? {})) {
      const [port, proto = 'tcp'] = key.split('/');
      for (const b of bindings ?? []) out.push({ proto: proto as 'tcp' | 'udp', containerPort: Number(port), hostIp: b.HostIp === '0.0.0.0' ? '' : b.HostIp, hostPort: Number(b.HostPort) });
    }
    return out;
  }

  private async allocate(n: NetworkRecord, containerId: string, requested?: string): Promise<string> {
    const cfg = n.IPAM.Config[0];
    if (requested) {
      try {
        await this.store.put(IPAM_KIND, `${n.Id}/${requested}`, containerId, 0);
      } catch (err) {
        if (isKind(err, 'conflict')) throw conflict(`Address already in use: ${requested} on network ${n.Name}`);
        throw err;
      }
      return requested;
    }
    const subnet = parseCidr(cfg.Subnet);
    const range = cfg.IPRange ? parseCidr(cfg.IPRange) : subnet;
    const gw = parseIp(cfg.Gateway);
    const last = subnet.base + size(subnet) - 1;
    for (let attempt = 0; attempt < 5; attempt++) {
      const used = new Set((await this.store.list<string>(IPAM_KIND, `${n.Id}/`)).map((s) => s.key.slice(n.Id.length + 1)));
      let found: string | undefined;
      for (let ip = Math.max(range.base, subnet.base + 1); ip < Math.min(range.base + size(range), last); ip++) {
        if (ip === gw) continue;
        const s = formatIp(ip);
        if (!used.has(s)) {
          found = s;
          break;
        }
      }
      if (!found) throw conflict(`no available IPv4 addresses on network ${n.Name}`);
      try {
        // Conditional: two starts racing for one address cannot both get it.
        await this.store.put(IPAM_KIND, `${n.Id}/${found}`, containerId, 0);
        return found;
      } catch (err) {
        if (!isKind(err, 'conflict')) throw err;
      }
    }
    throw conflict(`could not allocate an address on network ${n.Name}`);
  }

  private async release(networkId: string, ip: string, containerId: string): Promise<void> {
    const key = `${networkId}/${ip}`;
    const held = await this.store.get<string>(IPAM_KIND, key);
    if (held && held.value === containerId) await this.store.delete(IPAM_KIND, key, held.version).catch(() => undefined);
  }

  /** Fills in the address fields of an endpoint. */
  private async join(c: ContainerRecord, n: NetworkRecord, ep: EndpointSettings): Promise<void> {
    const ip = await this.allocate(n, c.Id, ep.IPAMConfig?.IPv4Address);
    const cfg = n.IPAM.Config[0];
    ep.IPAddress = ip;
    ep.IPPrefixLen = parseCidr(cfg.Subnet).prefix;
    ep.Gateway = n.Internal ? '' : cfg.Gateway;
    ep.MacAddress = macFromIp(parseIp(ip)!);
    ep.EndpointID = hexId((k) => randomBytes(k));
    ep.DNSNames = n.Name === 'bridge' ? null : [c.Name, c.Id.slice(0, 12), ...(ep.Aliases ?? [])];
  }

  private clear(ep: EndpointSettings): void {
    Object.assign(ep, { IPAddress: '', IPPrefixLen: 0, Gateway: '', MacAddress: '', EndpointID: '', DNSNames: null });
  }

  async attach(c: ContainerRecord): Promise<void> {
    const mode = c.HostConfig.NetworkMode || 'bridge';
    c.NetworkSettings ??= { SandboxKey: '', Networks: {}, Ports: {} };
    const ns = c.NetworkSettings;
    if (mode === 'host' || mode === 'none') return;
    if (mode.startsWith('container:')) {
      const other = await this.containers.resolve(mode.slice('container:'.length));
      if (!other.State.Running) throw conflict(`cannot join network namespace of a non running container: ${other.Name}`);
      ns.SandboxKey = other.NetworkSettings?.SandboxKey || `/proc/${other.State.Pid}/ns/net`;
      return;
    }
    const nets = await this.list();
    const joined: [NetworkRecord, EndpointSettings][] = [];
    try {
      for (const [name, ep] of this.ordered(c)) {
        const n = nets.find((x) => x.Id === ep.NetworkID);
        if (!n) throw notFound(`network ${name} not found`);
        await this.join(c, n, ep);
        joined.push([n, ep]);
      }
      const ports = this.requestedPorts(c);
      const idMap = c.HostConfig.UsernsMode === 'host' ? undefined : (await this.agent.info()).idMap;
      const made = await this.agent.network.createSandbox({ containerId: c.Id, endpoints: this.endpointsOf(c, nets), ports, dnsServers: c.HostConfig.Dns ?? [], idMap });
      ns.SandboxKey = made.sandboxKey;
      ns.Ports = this.portMap(c, made.ports);
    } catch (err) {
      for (const [n, ep] of joined) {
        await this.release(n.Id, ep.IPAddress, c.Id);
        this.clear(ep);
      }
      throw err;
    }
    await this.refreshDns(joined.map(([n]) => n.Id), c);
  }

  async detach(c: ContainerRecord): Promise<void> {
    const ns = c.NetworkSettings;
    if (!ns) return;
    const ours = ns.SandboxKey.startsWith('/run/netns/');
    if (ours) await this.agent.network.removeSandbox(c.Id);
    const touched: string[] = [];
    for (const ep of Object.values(ns.Networks)) {
      if (!ep.IPAddress) continue;
      await this.release(ep.NetworkID, ep.IPAddress, c.Id);
      touched.push(ep.NetworkID);
      this.clear(ep);
    }
    ns.SandboxKey = '';
    ns.Ports = {};
    await this.refreshDns(touched, c);
  }

  /** HostConfig.PortBindings, plus every exposed port with -P. */
  private requestedPorts(c: ContainerRecord): PortSpec[] {
    const out: PortSpec[] = [];
    const bindings = (c.HostConfig.PortBindings ?? {}) as Record<string, PortBinding[] | null>;
    const keys = new Set(Object.keys(bindings));
    if (c.HostConfig.PublishAllPorts) for (const k of Object.keys(c.Config.ExposedPorts ?? {})) keys.add(k);
    for (const key of keys) {
      const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
      if (!m) throw invalid(`invalid port specification: "${key}"`);
      if (m[2] === 'sctp') throw invalid('sctp ports are not supported');
      const list = bindings[key]?.length ? bindings[key]! : [{ HostIp: '', HostPort: '' }];
      for (const b of list) {
        const hp = /^(\d*)(?:-(\d+))?$/.exec(b.HostPort ?? '');
        if (!hp) throw invalid(`invalid host port: ${b.HostPort}`);
        if (b.HostIp && parseIp(b.HostIp) === undefined) throw invalid(`invalid host IP: ${b.HostIp} (IPv6 host addresses are not supported yet)`);
        out.push({
          proto: (m[2] ?? 'tcp') as 'tcp' | 'udp',
          containerPort: Number(m[1]),
          hostIp: b.HostIp === '0.0.0.0' ? '' : b.HostIp ?? '',
          hostPort: Number(hp[1] || 0),
          ...(hp[2] ? { hostPortEnd: Number(hp[2]) } : {}),
        });
      }
    }
    return out;
  }

  private portMap(c: ContainerRecord, made: PortSpec[]): Record<string, PortBinding[] | null> {
    const out: Record<string, PortBinding[] | null> = {};
    for (const k of Object.keys(c.Config.ExposedPorts ?? {})) out[k.includes('/') ? k : `${k}/tcp`] = null;
    for (const p of made) {
      const key = `${p.containerPort}/${p.proto}`;
      (out[key] ??= []).push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
    }
    return out;
  }

  /**
   * Tells the node's DNS the names on these networks; `changed` overrides the
   * stored copy of one container. Containers that start side by side (compose
   * --scale) save their endpoints only after this: the newest copy of each
   * is kept here, and refreshes run one at a time so the last one is complete.
   */
  private refreshDns(networkIds: string[], changed?: ContainerRecord): Promise<void> {
    if (changed) this.dnsView.set(changed.Id, structuredClone(changed));
    const run = this.dnsQueue.then(() => this.writeDns(networkIds));
    this.dnsQueue = run.catch(() => undefined);
    return run;
  }

  private async writeDns(networkIds: string[]): Promise<void> {
    const ids = [...new Set(networkIds)];
    if (!ids.length) return;
    const stored = await this.containers.list();
    const storedIds = new Set(stored.map((x) => x.Id));
    // A copy goes once the store caught up with it, or once its removed container left its networks.
    const same = (a: ContainerRecord, b: ContainerRecord) => JSON.stringify(a.NetworkSettings?.Networks) === JSON.stringify(b.NetworkSettings?.Networks);
    for (const x of stored) if (this.dnsView.has(x.Id) && same(x, this.dnsView.get(x.Id)!)) this.dnsView.delete(x.Id);
    for (const [id, c] of this.dnsView) if (!storedIds.has(id) && !c.NetworkSettings?.SandboxKey) this.dnsView.delete(id);
    const all = [...stored.map((x) => this.dnsView.get(x.Id) ?? x), ...[...this.dnsView.values()].filter((c) => !storedIds.has(c.Id))];
    for (const id of ids) {
      const records: { name: string; ip: string }[] = [];
      for (const c of all) {
        for (const ep of Object.values(c.NetworkSettings?.Networks ?? {})) {
          if (ep.NetworkID !== id || !ep.IPAddress) continue;
          for (const name of ep.DNSNames ?? []) records.push({ name, ip: ep.IPAddress });
        }
      }
      await this.agent.network.setDnsRecords(id, records).catch((err) => this.log.warn('dns records', { network: id, error: String(err) }));
    }
  }

  async connect(ref: string, containerRef: string, cfg: EndpointConfig | undefined): Promise<void> {
    const n = await this.resolve(ref);
    if (n.Driver !== 'bridge') throw invalid(`container cannot be disconnected from host network or connected to host network`);
    this.checkEndpoint(n, cfg);
    let touched = false;
    await this.containers.mutate(containerRef, async (c) => {
      const mode = c.HostConfig.NetworkMode || 'bridge';
      if (!isBridgeMode(mode)) throw invalid(`container sharing network namespace with another container or host cannot be connected to any other network`);
      c.NetworkSettings ??= { SandboxKey: '', Networks: {}, Ports: {} };
      if (c.NetworkSettings.Networks[n.Name]) throw conflict(`endpoint with name ${c.Name} already exists in network ${n.Name}`);
      const ep = emptyEndpoint(n.Id, cfg);
      if (c.State.Running && c.NetworkSettings.SandboxKey) {
        await this.join(c, n, ep);
        const ifName = `eth${this.nextIfIndex(c)}`;
        try {
          await this.agent.network.addEndpoint(c.Id, { network: this.spec(n), ifName, ip: ep.IPAddress, mac: ep.MacAddress });
        } catch (err) {
          await this.release(n.Id, ep.IPAddress, c.Id);
          throw err;
        }
        (ep as EndpointSettings & { IfName?: string }).IfName = ifName;
        touched = true;
      }
      c.NetworkSettings.Networks[n.Name] = ep;
      if (touched) {
        await this.refreshDns([n.Id], c);
        await this.updateHosts(c);
      }
    });
  }

  /** The container's /etc/hosts lists its addresses on every network (as Docker's does after connect/disconnect). */
  private async updateHosts(c: ContainerRecord): Promise<void> {
    await this.agent.runtime.updateHosts(c).catch((err) => this.log.warn('hosts file', { id: c.Id, error: String(err) }));
  }

  private nextIfIndex(c: ContainerRecord): number {
    const used = Object.values(c.NetworkSettings?.Networks ?? {}).filter((e) => e.IPAddress).length;
    return used;
  }

  async disconnect(ref: string, containerRef: string, force: boolean): Promise<void> {
    const n = await this.resolve(ref);
    await this.containers.mutate(containerRef, async (c) => {
      const entry = Object.entries(c.NetworkSettings?.Networks ?? {}).find(([, e]) => e.NetworkID === n.Id);
      if (!entry) {
        if (force) return;
        throw conflict(`container ${c.Id} is not connected to network ${n.Name}`);
      }
      const [name, ep] = entry;
      if (ep.IPAddress && c.NetworkSettings?.SandboxKey) {
        const ifName = (ep as EndpointSettings & { IfName?: string }).IfName ?? `eth${this.ordered(c).findIndex(([k]) => k === name)}`;
        await this.agent.network.removeEndpoint(c.Id, { network: this.spec(n), ifName, ip: ep.IPAddress, mac: ep.MacAddress });
        await this.release(n.Id, ep.IPAddress, c.Id);
      }
      delete c.NetworkSettings!.Networks[name];
      await this.refreshDns([n.Id], c);
      if (ep.IPAddress && c.State.Running) await this.updateHosts(c);
    });
  }

  /** The network's view for inspect: its containers and their addresses. */
  async view(n: NetworkRecord) {
    const containers: Record<string, unknown> = {};
    for (const c of await this.attached(n)) {
      const ep = Object.values(c.NetworkSettings!.Networks).find((e) => e.NetworkID === n.Id)!;
      containers[c.Id] = { Name: c.Name, EndpointID: ep.EndpointID, MacAddress: ep.MacAddress, IPv4Address: `${ep.IPAddress}/${ep.IPPrefixLen}`, IPv6Address: '' };
    }
    const { Bridge, Mtu, ...rest } = n;
    void Bridge;
    void Mtu;
    return { ...rest, ConfigFrom: { Network: '' }, ConfigOnly: false, Containers: containers };
  }
}
