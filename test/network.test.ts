// End to end: container networking through the real docker CLI. Traffic only
// goes to loopback and to the containers the tests start.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';
import { freePort } from './helpers/ports.ts';

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

const ok = async (args: string[]): Promise<string> => (await dockerOk(d, args)).trim();

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
    assert.match(await hostGetReady(ca.NetworkSettings.IPAddress, 80), /hello a/);
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
    assert.match(await hostGetReady('127.0.0.1', port), /hello published/);
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
    assert.match(await hostGetReady('127.0.0.1', port), /hello ephemeral/);
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
    assert.match(await hostGetReady('127.0.0.1', port), /hello survivor/);
    await ok(['rm', '-f', name]);
    await assertPortFree(port);
  });
});

async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
  });
}

/** A veth pair in the root namespace, one end with an address of 198.18/15 (benchmark range): a "host address" that is not loopback, removed after. */
async function withHostAddress<T>(fn: (ip: string) => Promise<T>): Promise<T> {
  const dev = `${d.networkTag}-dm`;
  const ip = `198.18.${1 + Math.floor(Math.random() * 250)}.1`;
  execFileSync('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', `${d.networkTag}-dp`]);
  try {
    execFileSync('ip', ['addr', 'add', `${ip}/32`, 'dev', dev]);
    execFileSync('ip', ['link', 'set', dev, 'up']);
    execFileSync('ip', ['link', 'set', `${d.networkTag}-dp`, 'up']);
    return await fn(ip);
  } finally {
    execFileSync('ip', ['link', 'del', dev]);
  }
}

/** Three consecutive free TCP ports on the host. */
async function freeRange(n: number): Promise<number> {
  for (;;) {
    const base = await freePort();
    if (base + n > 65535) continue;
    try {
      for (let i = 1; i < n; i++) await assertPortFree(base + i);
      return base;
    } catch {
      // taken: try another base
    }
  }
}

/** hostGet, retried while the server in a just-started container is not listening yet. */
function hostGetReady(host: string, port: number): Promise<string> {
  return until(() => hostGet(host, port).catch(() => undefined), `http://${host}:${port}`);
}

async function until<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('published ports, more forms', () => {
  test('a UDP port reaches the container', async () => {
    const name = uniqueName('udp');
    const port = await freePort();
    await ok(['run', '-d', '--name', name, '-p', `127.0.0.1:${port}:9000/udp`, IMAGE, 'sleep', '600']);
    assert.equal(await ok(['port', name]), `9000/udp -> 127.0.0.1:${port}`);
    // busybox has no UDP server: a node one runs in the container's network namespace.
    const key = (await inspect(name)).NetworkSettings.SandboxKey;
    const code = "const s=require('dgram').createSocket('udp4');s.on('message',(m)=>{process.stdout.write(m);process.exit(0)});s.bind(9000,()=>process.stdout.write('ready\\n'))";
    const server = spawn('nsenter', [`--net=${key}`, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let got = '';
    server.stdout.setEncoding('utf8').on('data', (c: string) => (got += c));
    const exited = new Promise((r) => server.on('exit', r));
    const s = dgram.createSocket('udp4');
    try {
      await until(async () => (got.includes('ready') ? true : undefined), 'the UDP server');
      await until(async () => {
        s.send('hello udp\n', port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 50));
        return got.includes('hello udp') ? true : undefined;
      }, 'the datagram');
      await exited;
    } finally {
      s.close();
      server.kill();
    }
    await ok(['rm', '-f', name]);
  });

  test('-p A-B:C-D publishes each port of the range', async () => {
    const name = uniqueName('range');
    const base = await freeRange(3);
    await ok(['run', '-d', '--name', name, '-p', `127.0.0.1:${base}-${base + 2}:80-82`, IMAGE, 'sh', '-c',
      'for p in 80 81 82; do mkdir -p /w$p && echo port $p > /w$p/index.html; done; httpd -p 80 -h /w80; httpd -p 81 -h /w81; exec httpd -f -p 82 -h /w82']);
    const lines = (await ok(['port', name])).split('\n').sort();
    assert.deepEqual(lines, [0, 1, 2].map((i) => `${80 + i}/tcp -> 127.0.0.1:${base + i}`));
    for (let i = 0; i < 3; i++) assert.match(await hostGetReady('127.0.0.1', base + i), new RegExp(`port ${80 + i}`));
    await ok(['rm', '-f', name]);
  });

  test('a published port is reachable on the host\'s other addresses and from another container', async () => {
    await withHostAddress(async (hostIp) => {
      const name = uniqueName('pub');
      const port = await freePort();
      await web(name, 'everywhere', ['-p', `${port}:80`]);
      assert.match(await hostGetReady(hostIp, port), /hello everywhere/);
      // From a container on the same default bridge and from one on a user network, through the host address.
      const n = uniqueName('n');
      await ok(['network', 'create', n]);
      for (const network of ['bridge', n]) {
        const r = await d.docker(['run', '--rm', '--network', network, IMAGE, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc ${hostIp} ${port}`]);
        assert.match(r.stdout, /hello everywhere/, `from ${network}: ${r.stderr}`);
      }
      await ok(['rm', '-f', name]);
      await ok(['network', 'rm', n]);
    });
  });
});

describe('network options', () => {
  test('--internal: no default route, no NAT, and the host\'s addresses are out of reach', async () => {
    await withHostAddress(async (hostIp) => {
      const srv = net.createServer((c) => c.end('host says hi\n'));
      await new Promise<void>((r) => srv.listen(0, hostIp, () => r()));
      const hostPort = (srv.address() as net.AddressInfo).port;
      try {
        const n = uniqueName('n');
        await ok(['network', 'create', '--internal', n]);
        const subnet = JSON.parse(await ok(['network', 'inspect', n]))[0].IPAM.Config[0].Subnet;
        assert.equal(JSON.parse(await ok(['network', 'inspect', n]))[0].Internal, true);
        assert.doesNotMatch(execFileSync('iptables-save', ['-t', 'nat']).toString(), new RegExp(`^-A ${d.networkTag.toUpperCase()}-POSTROUTING -s ${subnet.replace(/\./g, '\\.')} ! -o \\S+ -j MASQUERADE`, 'm'));
        const probe = `ip route; echo ---; timeout 3 nc ${hostIp} ${hostPort} </dev/null || echo UNREACHABLE`;
        const inside = await ok(['run', '--rm', '--network', n, IMAGE, 'sh', '-c', probe]);
        assert.doesNotMatch(inside, /^default/m);
        assert.match(inside, /UNREACHABLE/);
        assert.doesNotMatch(inside, /host says hi/);
        // The same probe from a normal network gets through (the listener is real).
        const outside = await ok(['run', '--rm', IMAGE, 'sh', '-c', probe]);
        assert.match(outside, /^default via/m);
        assert.match(outside, /host says hi/);
        await ok(['network', 'rm', n]);
      } finally {
        srv.close();
      }
    });
  });

  test('-o com.docker.network.bridge.name and com.docker.network.driver.mtu', async () => {
    const n = uniqueName('n');
    const bridge = `${d.networkTag}-br${Math.floor(Math.random() * 1000)}`;
    await ok(['network', 'create', '-o', `com.docker.network.bridge.name=${bridge}`, '-o', 'com.docker.network.driver.mtu=1400', n]);
    const link = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', bridge]).toString())[0];
    assert.equal(link.mtu, 1400);
    const net0 = JSON.parse(await ok(['network', 'inspect', n]))[0];
    assert.equal(net0.Options['com.docker.network.bridge.name'], bridge);
    assert.equal(await ok(['run', '--rm', '--network', n, IMAGE, 'cat', '/sys/class/net/eth0/mtu']), '1400');
    await ok(['network', 'rm', n]);
    assert.throws(() => execFileSync('ip', ['link', 'show', bridge], { stdio: 'ignore' }));
  });

  test('network inspect: Docker\'s fields, IPAM.Config and the Containers map', async () => {
    const n = uniqueName('n');
    const third = 100 + Math.floor(Math.random() * 100);
    await ok(['network', 'create', '--subnet', `10.252.${third}.0/24`, '--ip-range', `10.252.${third}.128/25`, '--label', 'k=v', n]);
    const c = uniqueName('c');
    await ok(['run', '-d', '--name', c, '--network', n, IMAGE, 'sleep', '600']);
    const ni = JSON.parse(await ok(['network', 'inspect', n]))[0];
    for (const k of ['Name', 'Id', 'Created', 'Scope', 'Driver', 'EnableIPv6', 'IPAM', 'Internal', 'Attachable', 'Ingress', 'ConfigFrom', 'ConfigOnly', 'Containers', 'Options', 'Labels']) assert.ok(k in ni, k);
    assert.equal(ni.Driver, 'bridge');
    assert.equal(ni.Scope, 'local');
    assert.deepEqual(ni.IPAM.Config, [{ Subnet: `10.252.${third}.0/24`, Gateway: `10.252.${third}.1`, IPRange: `10.252.${third}.128/25` }]);
    assert.deepEqual(ni.Labels, { k: 'v' });
    const ci = (await inspect(c));
    const entry = ni.Containers[ci.Id];
    assert.ok(entry, JSON.stringify(ni.Containers));
    assert.deepEqual(entry, {
      Name: c,
      EndpointID: ci.NetworkSettings.Networks[n].EndpointID,
      MacAddress: ci.NetworkSettings.Networks[n].MacAddress,
      IPv4Address: `${ci.NetworkSettings.Networks[n].IPAddress}/24`,
      IPv6Address: '',
    });
    // The address comes from the ip-range.
    assert.ok(Number(ci.NetworkSettings.Networks[n].IPAddress.split('.')[3]) >= 128);
    // The default bridge shows its subnet and gateway too.
    const br = JSON.parse(await ok(['network', 'inspect', 'bridge']))[0];
    assert.match(br.IPAM.Config[0].Subnet, /^\d+\.\d+\.\d+\.\d+\/\d+$/);
    assert.match(br.IPAM.Config[0].Gateway, /^\d+\.\d+\.\d+\.\d+$/);
    await ok(['rm', '-f', c]);
    assert.deepEqual(JSON.parse(await ok(['network', 'inspect', n]))[0].Containers, {});
    await ok(['network', 'rm', n]);
  });
});

describe('container name files', () => {
  test('--dns, --dns-search, --dns-option, --add-host (host-gateway), --hostname, --domainname on the default bridge', async () => {
    const out = await ok(['run', '--rm', '--dns', '192.0.2.53', '--dns-search', 'corp.example', '--dns-option', 'ndots:3',
      '--add-host', 'db.example:192.0.2.10', '--add-host', 'gw.example:host-gateway', '--hostname', 'box', '--domainname', 'corp.example',
      IMAGE, 'sh', '-c', 'cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; hostname; cat /proc/sys/kernel/domainname; ip route']);
    const [resolv, hosts, rest] = out.split('---\n');
    assert.match(resolv, /^nameserver 192\.0\.2\.53$/m);
    assert.doesNotMatch(resolv, /^nameserver (?!192\.0\.2\.53)/m);
    assert.match(resolv, /^search corp\.example$/m);
    assert.match(resolv, /^options ndots:3$/m);
    assert.match(hosts, /^192\.0\.2\.10\s+db\.example$/m);
    const gw = /default via (\S+)/.exec(rest)?.[1];
    assert.ok(gw, rest);
    assert.match(hosts, new RegExp(`^${gw.replace(/\./g, '\\.')}\\s+gw\\.example$`, 'm'));
    assert.match(hosts, /^\d+\.\d+\.\d+\.\d+\s+box\.corp\.example box$/m);
    assert.match(rest, /^box\ncorp\.example\n/);
  });

  test('on a user network: 127.0.0.11 with the search and options; the embedded DNS forwards other names to --dns servers', async () => {
    await withHostAddress(async (hostIp) => {
      // A tiny DNS server on the test's host address: every A query gets 192.0.2.77.
      const fake = dgram.createSocket('udp4');
      fake.on('message', (q, rinfo) => fake.send(fakeAnswer(q, [192, 0, 2, 77]), rinfo.port, rinfo.address));
      await new Promise<void>((r) => fake.bind(53, hostIp, () => r()));
      try {
        const n = uniqueName('n');
        await ok(['network', 'create', n]);
        const out = await ok(['run', '--rm', '--network', n, '--dns', hostIp, '--dns-search', 'corp.example', '--dns-option', 'timeout:2', IMAGE, 'sh', '-c',
          'cat /etc/resolv.conf; echo ---; nslookup outside.example 127.0.0.11']);
        const [resolv, lookup] = out.split('---\n');
        assert.match(resolv, /^nameserver 127\.0\.0\.11$/m);
        assert.doesNotMatch(resolv, new RegExp(hostIp.replace(/\./g, '\\.')));
        assert.match(resolv, /^search corp\.example$/m);
        assert.match(resolv, /^options .*timeout:2/m);
        assert.match(lookup, /192\.0\.2\.77/);
        await ok(['network', 'rm', n]);
      } finally {
        fake.close();
      }
    });
  });

  test('/etc/hosts follows network connect and disconnect', async () => {
    const n = uniqueName('n');
    await ok(['network', 'create', n]);
    const c = uniqueName('c');
    await ok(['run', '-d', '--name', c, IMAGE, 'sleep', '600']);
    const id12 = (await inspect(c)).Id.slice(0, 12);
    const lines = async () => (await ok(['exec', c, 'cat', '/etc/hosts'])).split('\n').filter((l) => l.endsWith(id12));
    assert.equal((await lines()).length, 1);
    await ok(['network', 'connect', n, c]);
    const ip = (await inspect(c)).NetworkSettings.Networks[n].IPAddress;
    const after = await lines();
    assert.equal(after.length, 2);
    assert.ok(after.some((l) => l.startsWith(`${ip}\t`)), after.join('\n'));
    await ok(['network', 'disconnect', n, c]);
    const back = await lines();
    assert.equal(back.length, 1);
    assert.ok(!back.some((l) => l.startsWith(`${ip}\t`)));
    await ok(['rm', '-f', c]);
    await ok(['network', 'rm', n]);
  });
});

/** A DNS reply to query q with one A record (enough for busybox nslookup). */
function fakeAnswer(q: Buffer, ip: number[]): Buffer {
  let i = 12;
  while (q[i] !== 0) i += q[i] + 1;
  const question = q.subarray(12, i + 5);
  const head = Buffer.from(q.subarray(0, 12));
  head.writeUInt16BE(0x8180, 2); // response, recursion desired + available
  head.writeUInt16BE(1, 4);
  const isA = q.readUInt16BE(i + 1) === 1;
  head.writeUInt16BE(isA ? 1 : 0, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(0, 10);
  const answer = isA ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ip]) : Buffer.alloc(0);
  return Buffer.concat([head, question, answer]);
}
