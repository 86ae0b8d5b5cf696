// Joins a container's prepared network namespace at start: the network layer
// hands the namespace (NetworkSettings.SandboxKey) and addresses in the
// record; the spec and the bind-mounted /etc/hosts and /etc/resolv.conf are
// brought in line before runc creates the container.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ContainerRecord } from '../core/types.ts';
import { hostsFile, resolvConfFile } from './etc-files.ts';
import { usernsFileFor } from '../core/id-map.ts';
import { fitSysMount } from './oci-spec.ts';
import type { OciSpec } from './oci-types.ts';
import { writeFileAtomic } from './atomic-write.ts';

export async function applySandbox(bundle: string, c: ContainerRecord): Promise<void> {
  const ns = c.NetworkSettings;
  const hc = c.HostConfig;
  if (!ns || hc.NetworkMode === 'host') return;
  const configPath = path.join(bundle, 'config.json');
  const spec = JSON.parse(await fs.readFile(configPath, 'utf8')) as OciSpec;
  const list = spec.linux.namespaces ?? [];
  const i = list.findIndex((n) => n.type === 'network');
  const want = ns.SandboxKey ? { type: 'network' as const, path: ns.SandboxKey } : { type: 'network' as const };
  let changed = false;
  if (i >= 0 && (list[i].path ?? '') !== (want.path ?? '')) {
    list[i] = want;
    changed = true;
  }
  // A remapped container joins the user namespace that owns its network namespace (userns-netns.ts).
  const u = list.findIndex((n) => n.type === 'user');
  if (u >= 0) {
    const file = want.path ? usernsFileFor(want.path) : undefined;
    const owner = file && (await exists(file)) ? file : undefined;
    if (list[u].path !== owner) {
      list[u] = owner ? { type: 'user', path: owner } : { type: 'user' };
      changed = true;
    }
  }
  if (changed) {
    fitSysMount(spec);
    await writeFileAtomic(configPath, JSON.stringify(spec, null, 2));
  }
  if (hc.NetworkMode?.startsWith('container:')) return;
  const endpoints = Object.values(ns.Networks).filter((e) => e.IPAddress);
  await writeHosts(bundle, c);
  // User-defined networks answer names through the embedded DNS.
  const embedded = endpoints.some((e) => e.DNSNames !== null);
  if (embedded) {
    const resolv = await resolvConfFile({
      dns: ['127.0.0.11'],
      dnsSearch: hc.DnsSearch as string[] | undefined,
      dnsOptions: [...((hc.DnsOptions as string[] | undefined) ?? []), 'ndots:0'],
    });
    await fs.writeFile(path.join(bundle, 'resolv.conf'), resolv, { mode: 0o644 });
  }
}

/**
 * The bundle's hosts file (bind-mounted over /etc/hosts) from the record's
 * addresses. Written in place: a rename would leave the running container
 * with the old inode.
 */
export async function writeHosts(bundle: string, c: ContainerRecord): Promise<void> {
  const hc = c.HostConfig;
  const endpoints = Object.values(c.NetworkSettings?.Networks ?? {}).filter((e) => e.IPAddress);
  const gateway = endpoints.find((e) => e.Gateway)?.Gateway ?? '';
  const hostname = (await fs.readFile(path.join(bundle, 'hostname'), 'utf8').catch(() => c.Id.slice(0, 12))).trim();
  const extraHosts = (hc.ExtraHosts ?? []).map((h) => h.replace(/:host-gateway$/, `:${gateway || '127.0.0.1'}`));
  const names = c.Config.Domainname ? `${hostname}.${c.Config.Domainname} ${hostname}` : hostname;
  const hosts = hostsFile({ hostname: names, ips: endpoints.map((e) => e.IPAddress), extraHosts });
  await fs.writeFile(path.join(bundle, 'hosts'), hosts, { mode: 0o644 });
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}
