// Where a registry is reached and how: Docker Hub's real host, mirrors (for
// Docker Hub pulls), plain HTTP for insecure registries and TLS material from
// a certs.d directory laid out as Docker's (<dir>/<host:port>/ca.crt,
// client.cert, client.key), read on every use so that adding a CA needs no
// restart.
//
// Insecure registries named in the configuration get Docker's treatment:
// HTTPS without verification, then plain HTTP. Loopback registries
// (127.0.0.0/8, ::1, names resolving there) may speak plain HTTP by default,
// but a loopback registry that speaks TLS must present a certificate we trust.
import { lookup } from 'node:dns/promises';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface RegistryConfig {
  /** host[:port] names or CIDRs whose registries may use plain HTTP or unverified TLS. */
  insecure: string[];
  /** Mirror base URLs for Docker Hub ("http://127.0.0.1:5001"). */
  mirrors: string[];
  /** Directory of per-registry TLS material: <certsDir>/<host[:port]>/{*.crt,*.cert,*.key}. */
  certsDir: string;
}

export interface TlsMaterial {
  ca?: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
}

export interface Endpoint {
  /** "https://host:port" without a trailing slash. */
  base: string;
  tls: TlsMaterial;
  /** Try the next endpoint when this one cannot be reached (at all, or not over TLS). */
  fallback: 'any-error' | 'not-tls' | 'none';
  mirror: boolean;
}

export const DOCKER_HUB = 'docker.io';
const HUB_HOST = 'registry-1.docker.io';

export async function endpointsFor(domain: string, config: RegistryConfig, forPull: boolean): Promise<Endpoint[]> {
  const out: Endpoint[] = [];
  if (domain === DOCKER_HUB && forPull) {
    for (const m of config.mirrors) {
      const url = new URL(m);
      out.push(...(await hostEndpoints(url.host, config, url.protocol === 'http:' ? 'http' : 'https', true)));
    }
  }
  out.push(...(await hostEndpoints(domain === DOCKER_HUB ? HUB_HOST : domain, config, undefined, false)));
  return out;
}

async function hostEndpoints(host: string, config: RegistryConfig, scheme: 'http' | 'https' | undefined, mirror: boolean): Promise<Endpoint[]> {
  const tls = await tlsFor(host, config.certsDir);
  if (scheme === 'http') return [{ base: `http://${host}`, tls, fallback: 'none', mirror }];
  const explicit = isListedInsecure(host, config.insecure);
  const loopback = explicit || (await isLoopback(host));
  if (explicit) {
    return [
      { base: `https://${host}`, tls: { ...tls, rejectUnauthorized: false }, fallback: 'any-error', mirror },
      { base: `http://${host}`, tls, fallback: 'none', mirror },
    ];
  }
  if (loopback && scheme !== 'https') {
    return [
      { base: `https://${host}`, tls, fallback: 'not-tls', mirror },
      { base: `http://${host}`, tls, fallback: 'none', mirror },
    ];
  }
  return [{ base: `https://${host}`, tls, fallback: 'none', mirror }];
}

export async function tlsFor(host: string, certsDir: string): Promise<TlsMaterial> {
  const dir = path.join(certsDir, host.replace(/[/\\]/g, '_'));
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const tls: TlsMaterial = { rejectUnauthorized: true };
  const cas = names.filter((n) => n.endsWith('.crt'));
  if (cas.length > 0) tls.ca = await Promise.all(cas.map((n) => fs.readFile(path.join(dir, n))));
  const cert = names.find((n) => n.endsWith('.cert'));
  if (cert) {
    const key = cert.replace(/\.cert$/, '.key');
    if (names.includes(key)) {
      tls.cert = await fs.readFile(path.join(dir, cert));
      tls.key = await fs.readFile(path.join(dir, key));
    }
  }
  return tls;
}

function splitHost(host: string): string {
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracket) return bracket[1];
  const colon = host.lastIndexOf(':');
  return colon > 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

function isListedInsecure(host: string, insecure: string[]): boolean {
  const name = splitHost(host);
  for (const entry of insecure) {
    if (entry === host || entry === name) return true;
    if (entry.includes('/') && net.isIP(name) && inCidr(name, entry)) return true;
  }
  return false;
}

async function isLoopback(host: string): Promise<boolean> {
  const name = splitHost(host);
  const addrs = net.isIP(name) ? [name] : await lookup(name, { all: true }).then((r) => r.map((a) => a.address), () => [] as string[]);
  return addrs.length > 0 && addrs.every((a) => a === '::1' || inCidr(a, '127.0.0.0/8'));
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (net.isIPv4(ip) && net.isIPv4(base)) {
    const n = (s: string) => s.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    return (n(ip) & mask) === (n(base) & mask);
  }
  if (net.isIPv6(ip) && net.isIPv6(base)) {
    const list = new net.BlockList();
    list.addSubnet(base, bits, 'ipv6');
    return list.check(ip, 'ipv6');
  }
  return false;
}
