// The node's side of networking: bridges, one network namespace per
// container wired with veth pairs (`ip -batch`, two calls per container),
// published ports (iptables DNAT; the host port is held by a listening
// socket so that nothing else takes it), and the embedded DNS.
//
// Everything this node creates carries its tag: bridges "<tag>0" and
// "<tag>-<id8>", namespaces /run/netns/<tag>-<container id>, chains
// <TAG>-*. restore() removes whatever carries the tag and is not wanted, so
// a daemon killed with SIGKILL leaves nothing that breaks the next start.
import dgram from 'node:dgram';
import { promises as fs, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { DnsRecord, EndpointSpec, NetworkApi, NetworkSpec, PortSpec, SandboxSpec } from '../agent/agent-api.ts';
import { conflict } from '../core/errors.ts';
import { macFromIp, parseCidr, parseIp } from './cidr.ts';
import { EmbeddedDns } from './dns-server.ts';
import { ipBatch, mustTool, tool } from './exec.ts';
import { Firewall, purgeFirewall, type PublishedPort } from './firewall.ts';
import { createUsernsNetns, NETNS_DIR, removeUsernsFile, usernsFilesOf } from './userns-netns.ts';


type Holder = net.Server | dgram.Socket;

interface Sandbox {
  spec: SandboxSpec;
  netns: string;
  holders: Holder[];
}

export class LocalNetwork implements NetworkApi {
  readonly tag: string;
  private readonly nets = new Map<string, NetworkSpec>();
  private readonly sandboxes = new Map<string, Sandbox>();
  /**
   * Namespaces still being torn down: deleting a veth waits ~50 ms on the
   * kernel (RCU), so a stop does not wait for it. A new sandbox for the same
   * container, or one reusing an address of the old, waits instead.
   */
  private readonly teardowns = new Map<string, { done: Promise<void>; endpoints: EndpointSpec[] }>();
  /** Sandboxes whose addresses, DNS redirect and port rules are still being written (see deferWiring). */
  private readonly wiring = new Map<string, Promise<void>>();
  /**
   * Set by an agent whose runtime awaits wired() before the container's
   * process runs: createSandbox then returns once the namespace and veths
   * exist, and the rest is written while the runtime creates the container.
   */
  deferWiring = false;
  /** Bridges being deleted (the kernel waits on RCU too): a network made meanwhile waits for them. */
  private readonly bridgeTeardowns = new Set<Promise<void>>();
  private readonly firewall: Firewall;
  private readonly dns: EmbeddedDns;

  constructor(opts: { tag: string }) {
    if (!/^[a-z][a-z0-9]{0,5}$/.test(opts.tag)) throw new Error(`network tag must be 1-6 lower-case letters and digits: ${opts.tag}`);
    this.tag = opts.tag;
    this.firewall = new Firewall(this.tag);
    this.dns = new EmbeddedDns((ip) => this.networksOf(ip), (ip) => this.sandboxOf(ip)?.spec.dnsServers);
  }

  netnsName(containerId: string): string {
    return `${this.tag}-${containerId}`;
  }

  private sandboxOf(ip: string): Sandbox | undefined {
    for (const sb of this.sandboxes.values()) if (sb.spec.endpoints.some((e) => e.ip === ip)) return sb;
    return undefined;
  }

  private networksOf(ip: string): string[] {
    return this.sandboxOf(ip)?.spec.endpoints.map((e) => e.network.id) ?? [];
  }

  private publishedPorts(): PublishedPort[] {
    const out: PublishedPort[] = [];
    for (const sb of this.sandboxes.values()) {
      const ep = sb.spec.endpoints.find((e) => !e.network.internal);
      if (!ep) continue;
      for (const p of sb.spec.ports) out.push({ ...p, containerIp: ep.ip });
    }
    return out;
  }

  private applyFirewall(): Promise<void> {
    return this.firewall.apply([...this.nets.values()], this.publishedPorts());
  }

  async ensureNetwork(spec: NetworkSpec): Promise<void> {
    // A network just removed may have had this subnet, gateway or bridge name.
    await Promise.all(this.bridgeTeardowns);
    this.nets.set(spec.id, spec);
    // The rules name the bridge but do not need it: written side by side with it.
    await Promise.all([this.ensureBridge(spec), this.applyFirewall()]);
  }

  private async ensureBridge(spec: NetworkSpec): Promise<void> {
    const prefix = parseCidr(spec.subnet).prefix;
    const addrs = await tool('ip', ['-j', 'addr', 'show', 'dev', spec.bridge]);
    // A bridge without an address of its own takes its lowest port's: removing
    // that container would change the gateway's MAC under the others' ARP
    // caches, and their DNS and outside traffic would stall for seconds.
    const mac = macFromIp(parseIp(spec.gateway)!);
    if (addrs.code !== 0) {
      await ipBatch([
        `link add ${spec.bridge} address ${mac} type bridge`,
        `link set ${spec.bridge} mtu ${spec.mtu}`,
        `addr add ${spec.gateway}/${prefix} dev ${spec.bridge}`,
        `link set ${spec.bridge} up`,
      ]);
    } else {
      const info = JSON.parse(addrs.stdout || '[]') as { address?: string; addr_info?: { local: string }[] }[];
      if (info[0]?.address !== mac) await ipBatch([`link set ${spec.bridge} address ${mac}`]);
      if (!info[0]?.addr_info?.some((a) => a.local === spec.gateway)) await ipBatch([`addr add ${spec.gateway}/${prefix} dev ${spec.bridge}`, `link set ${spec.bridge} up`]);
    }
    // 127.0.0.1:port DNAT-ed to a container leaves through the bridge with a loopback source.
    writeFileSync(`/proc/sys/net/ipv4/conf/${spec.bridge}/route_localnet`, '1');
    const fwd = await fs.readFile('/proc/sys/net/ipv4/ip_forward', 'utf8');
    if (fwd.trim() !== '1') writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    if (spec.dns) await this.dns.listen(spec.id, spec.gateway);
  }

  async removeNetwork(spec: NetworkSpec): Promise<void> {
    this.dns.close(spec.id);
    this.nets.delete(spec.id);
    // The bridge (its ports, if any, are detached with it) and its rules go
    // in the background, side by side; a network made meanwhile waits for
    // both. A failed rewrite of the rules is repaired by the next one.
    const gone: Promise<void> = Promise.all([tool('ip', ['link', 'del', spec.bridge]), this.applyFirewall()])
      .then(() => undefined, () => undefined)
      .finally(() => this.bridgeTeardowns.delete(gone));
    this.bridgeTeardowns.add(gone);
  }

  private vethName(containerId: string, ifName: string): string {
    return `v${containerId.slice(0, 12)}${ifName.replace(/^eth/, '')}`;
  }

  private hostSide(containerId: string, ep: EndpointSpec, netns: string): string[] {
    const veth = this.vethName(containerId, ep.ifName);
    return [
      `link add ${veth} mtu ${ep.network.mtu} type veth peer name ${ep.ifName} mtu ${ep.network.mtu} netns ${netns}`,
      `link set ${veth} master ${ep.network.bridge}`,
      // A container can reach its own published port through the host.
      `link set ${veth} type bridge_slave hairpin on`,
      `link set ${veth} up`,
    ];
  }

  private inside(ep: EndpointSpec): string[] {
    const prefix = parseCidr(ep.network.subnet).prefix;
    return [`addr add ${ep.ip}/${prefix} dev ${ep.ifName}`, `link set ${ep.ifName} address ${ep.mac}`, `link set ${ep.ifName} up`];
  }

  async createSandbox(spec: SandboxSpec): Promise<{ sandboxKey: string; ports: PortSpec[] }> {
    const netns = this.netnsName(spec.containerId);
    const sb: Sandbox = { spec: { ...spec, ports: [] }, netns, holders: [] };
    await this.teardownsInTheWay(spec.containerId, spec.endpoints);
    // A start cut short (daemon killed) can leave the namespace and its veths
    // (a veth outlives `ip netns del` for a while): clear them first so that
    // starting again works.
    if (!this.sandboxes.has(spec.containerId)) {
      const staleVeth = await Promise.all(spec.endpoints.map((ep) => exists(`/sys/class/net/${this.vethName(spec.containerId, ep.ifName)}`)));
      if (staleVeth.some(Boolean) || (await exists(`${NETNS_DIR}/${netns}`))) await this.deleteNetns(spec.containerId, spec.endpoints);
    }
    try {
      for (const p of spec.ports) {
        const { port, holder } = await holdPort(p);
        sb.holders.push(holder);
        sb.spec.ports.push({ ...p, hostPort: port, hostPortEnd: undefined });
      }
      if (spec.idMap) await createUsernsNetns(netns, spec.idMap);
      await ipBatch([...(spec.idMap ? [] : [`netns add ${netns}`]), ...spec.endpoints.flatMap((ep) => this.hostSide(spec.containerId, ep, netns))]);
      this.sandboxes.set(spec.containerId, sb);
    } catch (err) {
      await this.undoSandbox(sb);
      throw err;
    }
    // Addresses, the DNS redirect and port rules touch different tables once
    // the interfaces exist: three processes side by side. With deferWiring
    // they also run side by side with the runtime's create, and the
    // container's process waits for them (wired).
    const gw = spec.endpoints.find((e) => !e.network.internal);
    const tail = Promise.allSettled([
      ipBatch(['link set lo up', ...spec.endpoints.flatMap((ep) => this.inside(ep)), ...(gw ? [`route add default via ${gw.network.gateway}`] : [])], netns),
      this.wireDns(sb),
      sb.spec.ports.length ? this.applyFirewall() : undefined,
    ]).then(async (steps) => {
      const failed = steps.find((r) => r.status === 'rejected');
      if (!failed) return;
      if (this.sandboxes.get(spec.containerId) === sb) await this.undoSandbox(sb);
      throw failed.reason;
    });
    if (this.deferWiring) {
      tail.catch(() => undefined); // kept for wired(), which reports it
      this.wiring.set(spec.containerId, tail);
    } else {
      await tail;
    }
    return { sandboxKey: `${NETNS_DIR}/${netns}`, ports: sb.spec.ports };
  }

  /** Resolves once the container's sandbox is fully wired; rejects (its sandbox undone) with why not. */
  async wired(containerId: string): Promise<void> {
    const tail = this.wiring.get(containerId);
    this.wiring.delete(containerId);
    await tail;
  }

  /** A sandbox that failed half-way: nothing of it stays. */
  private async undoSandbox(sb: Sandbox): Promise<void> {
    const id = sb.spec.containerId;
    const applied = this.sandboxes.get(id) === sb && sb.spec.ports.length > 0;
    this.sandboxes.delete(id);
    for (const h of sb.holders) h.close();
    await this.deleteNetns(id, sb.spec.endpoints);
    if (applied) await this.applyFirewall().catch(() => undefined);
  }

  /** 127.0.0.11:53 inside the namespace -> the embedded DNS of the first network that has one. */
  private async wireDns(sb: Sandbox): Promise<void> {
    const ep = sb.spec.endpoints.find((e) => e.network.dns);
    const had = (sb as Sandbox & { dnsVia?: string }).dnsVia;
    if (!ep && !had) return;
    let rules = '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n';
    if (ep) {
      const l = await this.dns.listen(ep.network.id, ep.network.gateway);
      const gw = ep.network.gateway;
      rules +=
        `-A OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination ${gw}:${l.udpPort}\n` +
        `-A OUTPUT -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination ${gw}:${l.tcpPort}\n` +
        `-A POSTROUTING -s 127.0.0.0/8 -o ${ep.ifName} -j SNAT --to-source ${ep.ip}\n`;
    }
    rules += 'COMMIT\n';
    const script = ep ? `echo 1 > /proc/sys/net/ipv4/conf/${ep.ifName}/route_localnet && ` : '';
    await mustTool('nsenter', [`--net=${NETNS_DIR}/${sb.netns}`, 'sh', '-c', `${script}exec iptables-restore -w`], rules);
    (sb as Sandbox & { dnsVia?: string }).dnsVia = ep?.network.id;
  }

  async addEndpoint(containerId: string, ep: EndpointSpec): Promise<void> {
    const sb = this.sandboxes.get(containerId);
    if (!sb) throw conflict(`container ${containerId} has no network namespace on this node`);
    await this.teardownsInTheWay(containerId, [ep]);
    await ipBatch(this.hostSide(containerId, ep, sb.netns));
    try {
      const routes = sb.spec.endpoints.some((e) => !e.network.internal) || ep.network.internal ? [] : [`route add default via ${ep.network.gateway}`];
      await ipBatch([...this.inside(ep), ...routes], sb.netns);
    } catch (err) {
      await tool('ip', ['link', 'del', this.vethName(containerId, ep.ifName)]);
      throw err;
    }
    sb.spec.endpoints.push(ep);
    await this.wireDns(sb);
  }

  async removeEndpoint(containerId: string, ep: EndpointSpec): Promise<void> {
    const sb = this.sandboxes.get(containerId);
    await tool('ip', ['link', 'del', this.vethName(containerId, ep.ifName)]);
    if (!sb) return;
    sb.spec.endpoints = sb.spec.endpoints.filter((e) => e.ifName !== ep.ifName);
    await this.wireDns(sb);
    if (sb.spec.ports.length) await this.applyFirewall();
  }

  async removeSandbox(containerId: string): Promise<void> {
    const sb = this.sandboxes.get(containerId);
    this.sandboxes.delete(containerId);
    for (const h of sb?.holders ?? []) h.close();
    const endpoints = sb?.spec.endpoints ?? [];
    // After an earlier teardown and any wiring still under way (a start that failed half-way).
    const wiring = this.wiring.get(containerId)?.catch(() => undefined);
    this.wiring.delete(containerId);
    const previous = Promise.all([this.teardowns.get(containerId)?.done, wiring]);
    // The published ports' rules go with it: the host ports are free at once
    // (holders closed), and whoever reuses its address waits for the rules.
    // A failed rewrite is repaired by the next one (rules are rendered whole).
    const rules = sb?.spec.ports.length ? this.applyFirewall().catch(() => undefined) : undefined;
    const done: Promise<void> = Promise.all([previous.then(() => this.deleteNetns(containerId, endpoints)), rules])
      .then(() => undefined, () => undefined)
      .finally(() => {
        if (this.teardowns.get(containerId)?.done === done) this.teardowns.delete(containerId);
      });
    this.teardowns.set(containerId, { done, endpoints });
  }

  /** Waits for teardowns of this container's namespace or of namespaces holding one of these addresses. */
  private async teardownsInTheWay(containerId: string, endpoints: EndpointSpec[]): Promise<void> {
    const wanted = new Set(endpoints.map((ep) => `${ep.network.id}/${ep.ip}`));
    const waits: Promise<void>[] = [];
    for (const [id, t] of this.teardowns) {
      if (id === containerId || t.endpoints.some((ep) => wanted.has(`${ep.network.id}/${ep.ip}`))) waits.push(t.done);
    }
    await Promise.all(waits);
  }

  /** Veths first: `ip netns del` returns before the devices are gone, and a restart reuses their names. */
  private async deleteNetns(containerId: string, endpoints: EndpointSpec[]): Promise<void> {
    const netns = this.netnsName(containerId);
    // One ip process (-force: a veth already gone must not keep the namespace).
    const lines = [...endpoints.map((ep) => `link del ${this.vethName(containerId, ep.ifName)}`), `netns del ${netns}`];
    await tool('ip', ['-force', '-batch', '-'], lines.join('\n') + '\n');
    await removeUsernsFile(netns);
  }

  async restore(nets: NetworkSpec[], sandboxes: SandboxSpec[]): Promise<void> {
    const wantedBridges = new Set(nets.map((n) => n.bridge));
    for (const b of await this.ourBridges()) if (!wantedBridges.has(b)) await tool('ip', ['link', 'del', b]);
    for (const n of nets) await this.ensureNetwork(n);
    const wantedNs = new Map(sandboxes.map((s) => [this.netnsName(s.containerId), s]));
    for (const name of await fs.readdir(NETNS_DIR).catch(() => [] as string[])) {
      if (!name.startsWith(`${this.tag}-`) || wantedNs.has(name)) continue;
      await tool('ip', ['netns', 'del', name]);
    }
    for (const name of await usernsFilesOf(this.tag)) if (!wantedNs.has(name)) await removeUsernsFile(name);
    for (const [netns, spec] of wantedNs) {
      const sb: Sandbox = { spec: { ...spec, ports: [] }, netns, holders: [] };
      for (const p of spec.ports) {
        try {
          const { holder } = await holdPort(p);
          sb.holders.push(holder);
        } catch {
          // taken meanwhile: the rule still forwards it
        }
        sb.spec.ports.push(p);
      }
      this.sandboxes.set(spec.containerId, sb);
      // The embedded DNS listens on new ports after a restart: point 127.0.0.11 at them again.
      await this.wireDns(sb).catch(() => undefined);
    }
    await this.applyFirewall();
  }

  async setDnsRecords(networkId: string, records: DnsRecord[]): Promise<void> {
    this.dns.setRecords(networkId, records);
  }

  async routedSubnets(): Promise<string[]> {
    const routes = JSON.parse(await mustTool('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as { dst: string; type?: string }[];
    return routes
      .filter((r) => r.dst !== 'default' && (r.type === undefined || r.type === 'unicast'))
      .map((r) => (r.dst.includes('/') ? r.dst : `${r.dst}/32`));
  }

  private async ourBridges(): Promise<string[]> {
    const links = JSON.parse((await tool('ip', ['-j', 'link', 'show', 'type', 'bridge'])).stdout || '[]') as { ifname: string }[];
    return links.map((l) => l.ifname).filter((n) => n === `${this.tag}0` || n.startsWith(`${this.tag}-`));
  }

  /** Closes port holders and DNS servers; resolves once pending namespace teardowns are done. */
  async close(): Promise<void> {
    for (const sb of this.sandboxes.values()) for (const h of sb.holders) h.close();
    this.dns.closeAll();
    await Promise.all([...[...this.teardowns.values()].map((t) => t.done), ...this.bridgeTeardowns]);
  }
}

/** Binds the host port (or an ephemeral one, or the first free one of a range) so nothing else can take it. */
async function holdPort(p: PortSpec): Promise<{ port: number; holder: Holder }> {
  const host = p.hostIp || '0.0.0.0';
  const first = p.hostPort;
  const last = p.hostPortEnd ?? p.hostPort;
  let lastErr: unknown;
  for (let port = first; port <= last; port++) {
    try {
      if (p.proto === 'udp') {
        const s = dgram.createSocket('udp4');
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind({ port, address: host, exclusive: true }, () => resolve());
        });
        return { port: s.address().port, holder: s };
      }
      const srv = net.createServer((c) => c.destroy());
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ port, host, exclusive: true }, () => resolve());
      });
      return { port: (srv.address() as net.AddressInfo).port, holder: srv };
    } catch (err) {
      lastErr = err;
    }
  }
  const shown = last !== first ? `${first}-${last}` : String(first);
  const why = (lastErr as NodeJS.ErrnoException)?.code === 'EADDRINUSE' ? 'port is already allocated' : (lastErr as Error)?.message;
  throw conflict(`driver failed programming external connectivity: Bind for ${host}:${shown} failed: ${why}`);
}

/** Removes everything a tag owns (test clean-up): namespaces, bridges, chains. */
export async function purgeNetworkTag(tag: string): Promise<void> {
  for (const name of await fs.readdir(NETNS_DIR).catch(() => [] as string[])) {
    if (name.startsWith(`${tag}-`)) await tool('ip', ['netns', 'del', name]);
  }
  for (const name of await usernsFilesOf(tag)) await removeUsernsFile(name);
  const links = JSON.parse((await tool('ip', ['-j', 'link', 'show', 'type', 'bridge'])).stdout || '[]') as { ifname: string }[];
  for (const l of links) if (l.ifname === `${tag}0` || l.ifname.startsWith(`${tag}-`)) await tool('ip', ['link', 'del', l.ifname]);
  await purgeFirewall(tag);
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}
