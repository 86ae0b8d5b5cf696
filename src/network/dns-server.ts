// The embedded DNS of user-defined networks. One UDP and one TCP socket per
// network, bound to the bridge's gateway address on an ephemeral port; each
// container's 127.0.0.11:53 is DNAT-ed to them inside its namespace. Names are
// looked up on every network of the asking container (found by its source
// address); everything else is relayed to the container's --dns servers, or
// else to the host's resolvers.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { answer, parseQuestion, RCODE_NXDOMAIN, RCODE_SERVFAIL, TYPE_A } from './dns-wire.ts';

export interface DnsListener {
  udpPort: number;
  tcpPort: number;
}

interface Listener extends DnsListener {
  udp: dgram.Socket;
  tcp: net.Server;
}

/** Name -> addresses for one network; several addresses make a round robin. */
type Zone = Map<string, string[]>;

export class EmbeddedDns {
  private readonly listeners = new Map<string, Listener>();
  private readonly zones = new Map<string, Zone>();
  /** Which networks a querier (by address) is on. */
  private readonly scopes: (ip: string) => string[];
  /** The querier's own --dns servers, if it has any. */
  private readonly upstreamOf: (ip: string) => string[] | undefined;
  private upstream: string[] | undefined;

  constructor(scopes: (ip: string) => string[], upstreamOf: (ip: string) => string[] | undefined = () => undefined) {
    this.scopes = scopes;
    this.upstreamOf = upstreamOf;
  }

  /** Starts (once) the sockets of a network on its gateway address. */
  async listen(networkId: string, gateway: string): Promise<DnsListener> {
    const have = this.listeners.get(networkId);
    if (have) return have;
    const udp = dgram.createSocket('udp4');
    udp.on('message', (msg, rinfo) => {
      void this.resolve(networkId, msg, rinfo.address).then((out) => {
        if (out) udp.send(out, rinfo.port, rinfo.address);
      });
    });
    udp.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, gateway, () => resolve());
    });
    const tcp = net.createServer((sock) => this.serveTcp(networkId, sock));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(0, gateway, () => resolve());
    });
    const l: Listener = { udp, tcp, udpPort: udp.address().port, tcpPort: (tcp.address() as net.AddressInfo).port };
    this.listeners.set(networkId, l);
    return l;
  }

  close(networkId: string): void {
    const l = this.listeners.get(networkId);
    if (!l) return;
    this.listeners.delete(networkId);
    l.udp.close();
    l.tcp.close();
  }

  closeAll(): void {
    for (const id of [...this.listeners.keys()]) this.close(id);
  }

  setRecords(networkId: string, records: { name: string; ip: string }[]): void {
    const zone: Zone = new Map();
    for (const r of records) {
      const key = r.name.toLowerCase();
      const list = zone.get(key) ?? [];
      if (!list.includes(r.ip)) list.push(r.ip);
      zone.set(key, list);
    }
    this.zones.set(networkId, zone);
  }

  private serveTcp(networkId: string, sock: net.Socket): void {
    let buf = Buffer.alloc(0);
    sock.on('error', () => undefined);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void this.resolve(networkId, Buffer.from(msg), sock.remoteAddress?.replace(/^::ffff:/, '') ?? '').then((out) => {
          if (!out || sock.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          sock.write(Buffer.concat([len, out]));
        });
      }
    });
  }

  private async resolve(networkId: string, msg: Buffer, from: string): Promise<Buffer | undefined> {
    const q = parseQuestion(msg);
    if (!q) return undefined;
    const nets = this.scopes(from);
    if (!nets.includes(networkId)) nets.unshift(networkId);
    // Names are container names, ids and aliases without dots, possibly with a search suffix.
    for (const id of nets) {
      const ips = this.zones.get(id)?.get(q.name);
      if (!ips) continue;
      if (q.type !== TYPE_A) return answer(q, []);
      return answer(q, shuffle(ips));
    }
    if (!q.name.includes('.') && q.type === TYPE_A) {
      // Docker answers unknown single-label names itself rather than leaking them.
      return answer(q, [], RCODE_NXDOMAIN);
    }
    return (await this.forward(msg, this.upstreamOf(from)?.length ? this.upstreamOf(from)! : this.servers())) ?? answer(q, [], RCODE_SERVFAIL);
  }

  private servers(): string[] {
    if (!this.upstream) {
      let text = '';
      try {
        text = readFileSync('/etc/resolv.conf', 'utf8');
      } catch {
        text = '';
      }
      this.upstream = [...text.matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1]);
    }
    return this.upstream;
  }

  /** Relays a query to the first server that answers (UDP; the reply's TC bit tells the client to retry over TCP). */
  private async forward(msg: Buffer, servers: string[]): Promise<Buffer | undefined> {
    for (const server of servers) {
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const s = dgram.createSocket('udp4');
        const timer = setTimeout(() => done(undefined), 2000);
        const done = (b: Buffer | undefined) => {
          clearTimeout(timer);
          s.close();
          resolve(b);
        };
        s.on('error', () => done(undefined));
        s.on('message', (b) => done(b));
        s.send(msg, 53, server);
      });
      if (reply) return reply;
    }
    return undefined;
  }
}

function shuffle<T>(list: T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
