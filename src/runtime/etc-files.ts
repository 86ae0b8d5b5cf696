// The files Berth writes for every container and bind-mounts over
// /etc/hostname, /etc/hosts and /etc/resolv.conf.
import { promises as fs } from 'node:fs';

export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}

/** /etc/hosts: loopback names, then extra "host:ip" entries (Docker's ExtraHosts). */
export function hostsFile(opts: { hostname: string; ips?: string[]; extraHosts?: string[] | null }): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const entry of opts.extraHosts ?? []) {
    // "name:ip" (IPv6 addresses contain colons: split at the first one).
    const i = entry.indexOf(':');
    if (i <= 0) continue;
    const names = entry.slice(0, i);
    const ip = entry.slice(i + 1).replace(/^\[(.*)\]$/, '$1');
    lines.push(`${ip}\t${names}`);
  }
  for (const ip of opts.ips ?? []) lines.push(`${ip}\t${opts.hostname}`);
  return `${lines.join('\n')}\n`;
}

const isLoopback = (ip: string) => /^127\./.test(ip) || ip === '::1';

/**
 * /etc/resolv.conf: the host's file without loopback name servers (they are
 * unreachable from the container's network namespace), Docker's public
 * fallback when none remain, and Dns/DnsSearch/DnsOptions overrides.
 */
export async function resolvConfFile(opts: {
  dns?: string[] | null;
  dnsSearch?: string[] | null;
  dnsOptions?: string[] | null;
  hostResolvConf?: string;
}): Promise<string> {
  let host = '';
  try {
    host = await fs.readFile(opts.hostResolvConf ?? '/etc/resolv.conf', 'utf8');
  } catch {
    host = '';
  }
  let nameservers: string[] = [];
  let search: string[] = [];
  let options: string[] = [];
  for (const raw of host.split('\n')) {
    const line = raw.trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0] && !isLoopback(rest[0])) nameservers.push(rest[0]);
    else if ((key === 'search' || key === 'domain') && rest.length) search = rest;
    else if (key === 'options' && rest.length) options.push(...rest);
  }
  if (opts.dns?.length) nameservers = [...opts.dns];
  if (nameservers.length === 0) nameservers = ['8.8.8.8', '8.8.4.4'];
  if (opts.dnsSearch?.length) search = opts.dnsSearch.filter((s) => s !== '.');
  if (opts.dnsOptions?.length) options = [...opts.dnsOptions];
  const lines: string[] = [];
  if (search.length) lines.push(`search ${search.join(' ')}`);
  for (const ns of nameservers) lines.push(`nameserver ${ns}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
