// End to end: outbound NAT. "The outside" is a network namespace this test
// creates, joined to the host by a veth pair and reached through a host route
// to an address of 198.19/16 (the benchmarking range, never routed beyond
// the machine). A server there answers every connection with the address it
// sees the client come from. Nothing leaves the machine.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { dockerOk, pinnedNode, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let IMAGE: string;
let outside: Outside | undefined;

interface Outside {
  /** The host's address on the link to the outside namespace: what NAT-ed clients appear as. */
  hostIp: string;
  /** The server's address, routed from the host through the namespace. */
  serverIp: string;
  port: number;
  ns: string;
  hostVeth: string;
  server: ChildProcess;
}

const ip = (args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

/** A /24 of 198.19/16 that no route of the machine touches (other tests may use the range too). */
function freeOutsideNet(): number {
  const routes = ip(['-4', 'route', 'show', 'table', 'all']);
  for (let i = 0; i < 100; i++) {
    const n = 1 + Math.floor(Math.random() * 254);
    if (!routes.includes(`198.19.${n}.`)) return n;
  }
  throw new Error('no free /24 in 198.19.0.0/16');
}

async function startOutside(tag: string): Promise<Outside> {
  const n = freeOutsideNet();
  const o = { hostIp: `198.19.${n}.1`, serverIp: `198.19.${n}.129`, port: 8080, ns: `${tag}nat`, hostVeth: `${tag}nh` };
  const nsVeth = `${tag}nn`;
  ip(['netns', 'add', o.ns]);
  try {
    ip(['link', 'add', o.hostVeth, 'type', 'veth', 'peer', 'name', nsVeth, 'netns', o.ns]);
    ip(['addr', 'add', `${o.hostIp}/30`, 'dev', o.hostVeth]);
    ip(['link', 'set', o.hostVeth, 'up']);
    ip(['-n', o.ns, 'addr', 'add', `198.19.${n}.2/30`, 'dev', nsVeth]);
    ip(['-n', o.ns, 'addr', 'add', `${o.serverIp}/32`, 'dev', nsVeth]);
    ip(['-n', o.ns, 'link', 'set', nsVeth, 'up']);
    // Back to anything through the host: a client that is not NAT-ed gets its answers too (and is seen as itself).
    ip(['-n', o.ns, 'route', 'add', 'default', 'via', o.hostIp]);
    ip(['route', 'add', `${o.serverIp}/32`, 'via', `198.19.${n}.2`, 'dev', o.hostVeth]);
    const code = `require('net').createServer((c) => c.end('peer ' + c.remoteAddress + '\\n')).listen(${o.port}, '${o.serverIp}', () => console.log('ready'))`;
    const server = spawn('nsenter', [`--net=/run/netns/${o.ns}`, pinnedNode, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      server.stdout!.setEncoding('utf8').on('data', (s: string) => s.includes('ready') && resolve());
      server.on('exit', (c) => reject(new Error(`the outside server exited with ${c}`)));
    });
    return { ...o, server };
  } catch (err) {
    try {
      ip(['link', 'del', o.hostVeth]);
    } catch {
      // not made yet
    }
    ip(['netns', 'del', o.ns]);
    throw err;
  }
}

function stopOutside(o: Outside): void {
  o.server.kill('SIGKILL');
  // The route goes with the host's veth; the namespace takes the other end.
  ip(['link', 'del', o.hostVeth]);
  ip(['netns', 'del', o.ns]);
}

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
  outside = await startOutside(d.networkTag);
});

after(async () => {
  if (outside) stopOutside(outside);
  await d?.cleanup();
  if (!outside) return;
  // Nothing of the outside is left: namespace, veth, route.
  assert.ok(!existsSync(`/run/netns/${outside.ns}`), 'leaked namespace');
  assert.doesNotMatch(ip(['-o', 'link', 'show']), new RegExp(`\\b${outside.hostVeth}\\b`), 'leaked veth');
  assert.doesNotMatch(ip(['-4', 'route', 'show', 'table', 'all']), new RegExp(outside.serverIp.replace(/\./g, '\\.')), 'leaked route');
});

const ok = async (args: string[]): Promise<string> => (await dockerOk(d, args)).trim();

/** From a throw-away container on `network`: connect to the outside server and print what it says (or UNREACHABLE). */
async function fromContainer(network: string): Promise<string> {
  const o = outside!;
  return ok(['run', '--rm', '--network', network, IMAGE, 'sh', '-c', `timeout 5 nc ${o.serverIp} ${o.port} </dev/null || echo UNREACHABLE`]);
}

/** What the server says to a client on the host. */
function hostAsk(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    let out = '';
    s.setEncoding('utf8').on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out.trim()));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  });
}

async function containerIp(name: string, network: string): Promise<string> {
  return JSON.parse(await ok(['inspect', name]))[0].NetworkSettings.Networks[network].IPAddress;
}

describe('outbound NAT', () => {
  test('a container on the default bridge and on a user network reaches the outside as the host (MASQUERADE)', async () => {
    const o = outside!;
    // The host itself reaches the server directly (the route and the server are real).
    assert.equal(await hostAsk(o.serverIp, o.port), `peer ${o.hostIp}`);
    assert.equal(await fromContainer('bridge'), `peer ${o.hostIp}`);
    const n = uniqueName('nat');
    await ok(['network', 'create', n]);
    try {
      assert.equal(await fromContainer(n), `peer ${o.hostIp}`);
    } finally {
      await ok(['network', 'rm', n]);
    }
  });

  test('enable_ip_masquerade=false: the container reaches the outside with its own address; a bad value is a 400', async () => {
    const o = outside!;
    const n = uniqueName('nonat');
    await ok(['network', 'create', '-o', 'com.docker.network.bridge.enable_ip_masquerade=false', n]);
    const name = uniqueName('c');
    try {
      await ok(['run', '-d', '--name', name, '--network', n, IMAGE, 'sleep', '60']);
      const cip = await containerIp(name, n);
      assert.equal(await ok(['exec', name, 'sh', '-c', `timeout 5 nc ${o.serverIp} ${o.port} </dev/null || echo UNREACHABLE`]), `peer ${cip}`);
    } finally {
      await d.docker(['rm', '-f', name]);
      await ok(['network', 'rm', n]);
    }
    const bad = await d.api('POST', '/networks/create', { Name: uniqueName('bad'), Options: { 'com.docker.network.bridge.enable_ip_masquerade': 'maybe' } });
    assert.equal(bad.status, 400);
    assert.match(bad.json().message, /enable_ip_masquerade value: maybe/);
  });

  test('a container on an --internal network cannot reach the outside; connected to a normal network too, it goes out NAT-ed', async () => {
    const o = outside!;
    const n = uniqueName('int');
    await ok(['network', 'create', '--internal', n]);
    const name = uniqueName('c');
    try {
      assert.equal(await fromContainer(n), 'UNREACHABLE');
      // The same container, once it also joins the default bridge, goes out through that network only (and NAT-ed).
      await ok(['run', '-d', '--name', name, '--network', n, IMAGE, 'sleep', '60']);
      const probe = ['exec', name, 'sh', '-c', `timeout 5 nc ${o.serverIp} ${o.port} </dev/null || echo UNREACHABLE`];
      assert.equal(await ok(probe), 'UNREACHABLE');
      await ok(['network', 'connect', 'bridge', name]);
      assert.equal(await ok(probe), `peer ${o.hostIp}`);
    } finally {
      await d.docker(['rm', '-f', name]);
      await ok(['network', 'rm', n]);
    }
  });
});
