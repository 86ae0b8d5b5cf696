// End to end: container networking through the real docker CLI. Traffic only
// goes to loopback and to the containers the tests start.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let IMAGE: string;

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});

after(async () => {
  const tag = d?.networkTag;
  await d?.cleanup();
  if (!tag) return;
  // Nothing of this daemon is left on the host: bridges, namespaces, chains.
  const links = execFileSync('ip', ['-j', 'link', 'show']).toString();
  assert.equal((JSON.parse(links) as { ifname: string }[]).filter((l) => l.ifname.startsWith(tag)).length, 0, 'leaked links');
  if (existsSync('/run/netns')) assert.deepEqual(readdirSync('/run/netns').filter((n) => n.startsWith(`${tag}-`)), [], 'leaked namespaces');
  const rules = execFileSync('iptables-save').toString();
  assert.ok(!rules.includes(tag.toUpperCase() + '-'), 'leaked iptables chains');
});

async function ok(args: string[]): Promise<string> {
  const r = await d.docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

async function inspect(name: string): Promise<any> {
  return JSON.parse(await ok(['inspect', name]))[0];
}

/** A busybox httpd answering "hello <word>" on port 80. */
async function web(name: string, word: string, args: string[] = []): Promise<void> {
  await ok(['run', '-d', '--name', name, ...args, IMAGE, 'sh', '-c', `mkdir /www && echo hello ${word} > /www/index.html && exec httpd -f -p 80 -h /www`]);
}

/** HTTP GET from the host with a plain socket (no proxies, no name resolution). */
function hostGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => s.write('GET / HTTP/1.0\r\n\r\n'));
    let out = '';
    s.setEncoding('utf8').on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  });
}

/** From a throw-away container on `network`: resolve `name` with the embedded DNS, then GET it with nc. */
async function fetchByName(network: string, name: string): Promise<{ code: number; out: string }> {
  const script =
    `ip=$(nslookup ${name} 127.0.0.11 2>/dev/null | awk '/^Address/ && !/127.0.0.11/ {print $NF}' | tail -n1); ` +
    `[ -n "$ip" ] || { echo NXDOMAIN; exit 2; }; ` +
    `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc $ip 80 || { echo UNREACHABLE $ip; exit 3; }`;
  const r = await d.docker(['run', '--rm', '--network', network, IMAGE, 'sh', '-c', script]);
  return { code: r.code, out: r.stdout + r.stderr };
}

describe('default bridge', () => {
  test('docker run gets an address, a gateway route, /etc/hosts and inspect NetworkSettings', async () => {
    const name = uniqueName('net');
    const out = await ok(['run', '--name', name, IMAGE, 'sh', '-c', 'ip -4 -o addr show eth0; ip route; cat /etc/hosts']);
    const c = await inspect(name);
    assert.equal(c.HostConfig.NetworkMode, 'bridge');
    // Stopped: the address is released but the network membership stays.
    assert.ok(c.NetworkSettings.Networks.bridge, 'Networks.bridge');
    assert.equal(c.NetworkSettings.IPAddress, '');
    const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out)?.[1];
    assert.ok(ip, out);
    assert.match(out, /^default via \d+\.\d+\.\d+\.\d+ dev eth0/m);
    assert.match(out, new RegExp(`^${ip.replace(/\./g, '\\.')}\\s+${c.Id.slice(0, 12)}$`, 'm'));
    await ok(['rm', name]);
  });

  test('a running container shows IPAddress, Gateway, MacAddress; two get different addresses and reach each other', async () => {
    const a = uniqueName('net');
    const b = uniqueName('net');
    await web(a, 'a');
    await web(b, 'b');
    const ca = await inspect(a);
    const cb = await inspect(b);
    for (const c of [ca, cb]) {
      assert.match(c.NetworkSettings.IPAddress, /^\d+\.\d+\.\d+\.\d+$/);
      assert.match(c.NetworkSettings.Gateway, /^\d+\.\d+\.\d+\.1$/);
      assert.match(c.NetworkSettings.MacAddress, /^02:42:/);
      assert.equal(c.NetworkSettings.Networks.bridge.IPAddress, c.NetworkSettings.IPAddress);
    }
    assert.notEqual(ca.NetworkSettings.IPAddress, cb.NetworkSettings.IPAddress);
    const r = await d.docker(['exec', a, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc ${cb.NetworkSettings.IPAddress} 80`]);
    assert.match(r.stdout, /hello b/);
    // The host reaches the container's address directly too.
    assert.match(await hostGet(ca.NetworkSettings.IPAddress, 80), /hello a/);
    await ok(['rm', '-f', a, b]);
  });

  test('--network none has loopback only; --network host shares the host namespace', async () => {
    const none = await ok(['run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', 'ls /sys/class/net']);
    assert.deepEqual(none.split(/\s+/), ['lo']);
    const host = await ok(['run', '--rm', '--network', 'host', IMAGE, 'readlink', '/proc/self/ns/net']);
    assert.equal(host, readlinkSync('/proc/self/ns/net'));
  });

  test('--network container:NAME shares the other container\'s namespace', async () => {
    const a = uniqueName('net');
    await web(a, 'shared');
    const r = await d.docker(['run', '--rm', '--network', `container:${a}`, IMAGE, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc 127.0.0.1 80`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello shared/);
    await ok(['rm', '-f', a]);
  });
});

describe('published ports', () => {
  test('-p HOST:CONTAINER is reachable from loopback; docker port and ps show it', async () => {
    const name = uniqueName('pub');
    const port = await freePort();
    await web(name, 'published', ['-p', `127.0.0.1:${port}:80`]);
    assert.equal(await ok(['port', name]), `80/tcp -> 127.0.0.1:${port}`);
    assert.match(await ok(['ps', '--filter', `name=${name}`, '--format', '{{.Ports}}']), new RegExp(`127\\.0\\.0\\.1:${port}->80/tcp`));
    assert.match(await hostGet('127.0.0.1', port), /hello published/);
    // The same port again: a clear error, and the second container is not left half-wired.
    const second = uniqueName('pub');
    const r = await d.docker(['run', '-d', '--name', second, '-p', `127.0.0.1:${port}:80`, IMAGE, 'sleep', '60']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /port is already allocated/);
    const c2 = await inspect(second);
    assert.equal(c2.State.Running, false);
    assert.equal(c2.NetworkSettings.IPAddress, '');
    await ok(['rm', '-f', name, second]);
    // Removed with the container: the port is free again.
    await assertPortFree(port);
  });

  test('-P publishes exposed ports on ephemeral host ports', async () => {
    const name = uniqueName('pub');
    await web(name, 'ephemeral', ['--expose', '80', '-P']);
    const line = await ok(['port', name, '80']);
    const port = Number(/:(\d+)$/m.exec(line)?.[1]);
    assert.ok(port > 0, line);
    assert.match(await hostGet('127.0.0.1', port), /hello ephemeral/);
    await ok(['rm', '-f', name]);
  });
});

describe('user-defined networks', () => {
  test('containers reach each other by name and alias; another network neither resolves nor reaches them', async () => {
    const n1 = uniqueName('n');
    const n2 = uniqueName('n');
    await ok(['network', 'create', n1]);
    await ok(['network', 'create', n2]);
    const srv = uniqueName('srv');
    await web(srv, 'by-name', ['--network', n1, '--network-alias', 'webalias']);
    const byName = await fetchByName(n1, srv);
    assert.match(byName.out, /hello by-name/);
    assert.match((await fetchByName(n1, 'webalias')).out, /hello by-name/);
    const other = await fetchByName(n2, srv);
    assert.match(other.out, /NXDOMAIN/);
    // Not even by address.
    const ip = (await inspect(srv)).NetworkSettings.Networks[n1].IPAddress;
    const r = await d.docker(['run', '--rm', '--network', n2, IMAGE, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 2 nc ${ip} 80`]);
    assert.doesNotMatch(r.stdout, /hello/);
    // inspect lists the container with its address.
    const net = JSON.parse(await ok(['network', 'inspect', n1]))[0];
    assert.equal(Object.values<any>(net.Containers)[0].IPv4Address, `${ip}/${net.IPAM.Config[0].Subnet.split('/')[1]}`);
    // In use: rm refuses.
    const rm = await d.docker(['network', 'rm', n1]);
    assert.notEqual(rm.code, 0);
    assert.match(rm.stderr, /active endpoints/);
    await ok(['rm', '-f', srv]);
    await ok(['network', 'rm', n1, n2]);
  });

  test('connect and disconnect change what resolves and what is reachable', async () => {
    const n1 = uniqueName('n');
    const n2 = uniqueName('n');
    await ok(['network', 'create', n1]);
    await ok(['network', 'create', n2]);
    const srv = uniqueName('srv');
    await web(srv, 'connected', ['--network', n1]);
    assert.match((await fetchByName(n2, srv)).out, /NXDOMAIN/);
    await ok(['network', 'connect', '--alias', 'late', n2, srv]);
    assert.match((await fetchByName(n2, 'late')).out, /hello connected/);
    await ok(['network', 'disconnect', n2, srv]);
    assert.match((await fetchByName(n2, 'late')).out, /NXDOMAIN/);
    await ok(['rm', '-f', srv]);
    await ok(['network', 'rm', n1, n2]);
  });

  test('one alias on several containers answers with all of them (round robin)', async () => {
    const n = uniqueName('n');
    await ok(['network', 'create', n]);
    const a = uniqueName('rr');
    const b = uniqueName('rr');
    await web(a, 'a', ['--network', n, '--network-alias', 'pool']);
    await web(b, 'b', ['--network', n, '--network-alias', 'pool']);
    const out = await ok(['run', '--rm', '--network', n, IMAGE, 'nslookup', 'pool', '127.0.0.11']);
    const ips = [(await inspect(a)).NetworkSettings.Networks[n].IPAddress, (await inspect(b)).NetworkSettings.Networks[n].IPAddress];
    for (const ip of ips) assert.ok(out.includes(ip), `${ip} in ${out}`);
    await ok(['rm', '-f', a, b]);
    await ok(['network', 'rm', n]);
  });

  test('--subnet, --gateway, --ip; bad input is refused and changes nothing', async () => {
    const n = uniqueName('n');
    const third = 100 + Math.floor(Math.random() * 100);
    const subnet = `10.254.${third}.0/24`;
    await ok(['network', 'create', '--subnet', subnet, '--gateway', `10.254.${third}.254`, n]);
    const ip = await ok(['run', '--rm', '--network', n, '--ip', `10.254.${third}.7`, IMAGE, 'sh', '-c', 'ip -4 -o addr show eth0 | awk \'{print $4}\'; ip route | head -n1']);
    assert.match(ip, new RegExp(`^10\\.254\\.${third}\\.7/24\\ndefault via 10\\.254\\.${third}\\.254`));
    const bad = [
      [['network', 'create', '--subnet', `10.254.${third}.128/25`, uniqueName('n')], /overlaps/],
      [['network', 'create', '--subnet', '10.253.1.0/24', '--gateway', '10.9.9.1', uniqueName('n')], /gateway/],
      [['network', 'create', n], /already exists/],
      [['run', '--rm', '--network', uniqueName('missing'), IMAGE, 'true'], /not found/],
    ] as const;
    const before = await ok(['network', 'ls', '-q']);
    for (const [args, message] of bad) {
      const r = await d.docker([...args]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message);
    }
    assert.equal(await ok(['network', 'ls', '-q']), before);
    // An address already taken.
    const holder = uniqueName('ip');
    await ok(['run', '-d', '--name', holder, '--network', n, '--ip', `10.254.${third}.9`, IMAGE, 'sleep', '60']);
    const taken = await d.docker(['run', '--rm', '--network', n, '--ip', `10.254.${third}.9`, IMAGE, 'true']);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /already in use/);
    await ok(['rm', '-f', holder]);
    await ok(['network', 'rm', n]);
  });

  test('prune removes unused networks only', async () => {
    const used = uniqueName('n');
    const unused = uniqueName('n');
    await ok(['network', 'create', used]);
    await ok(['network', 'create', unused]);
    const c = uniqueName('p');
    await ok(['run', '-d', '--name', c, '--network', used, IMAGE, 'sleep', '60']);
    const out = await ok(['network', 'prune', '-f']);
    assert.match(out, new RegExp(unused));
    assert.doesNotMatch(out, new RegExp(used));
    await ok(['rm', '-f', c]);
    await ok(['network', 'rm', used]);
  });
});

describe('restarts', () => {
  test('after SIGKILL the daemon starts again with running containers still reachable', async () => {
    const name = uniqueName('live');
    const port = await freePort();
    await web(name, 'survivor', ['-p', `127.0.0.1:${port}:80`]);
    await d.kill9();
    await d.restart();
    assert.match(await hostGet('127.0.0.1', port), /hello survivor/);
    await ok(['rm', '-f', name]);
    await assertPortFree(port);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
  });
}
