// Checks the daemon helper itself against a stand-in daemon (a few lines of
// node:http that speak enough of the API), so that helper bugs do not show
// up as mysterious end-to-end failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mountsUnder, startDaemon, uniqueName } from './daemon.ts';

// The stand-in: listens on <run-root>/docker.sock, prints the DOCKER_HOST
// line, answers /_ping, /version, /containers/json and DELETE; leaves a
// tmpfs mount and a background process behind under its data root, like a
// daemon that crashed with containers running.
const fake = String.raw`
import http from 'node:http';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
const arg = (n) => process.argv[process.argv.indexOf(n) + 1];
const dataRoot = arg('--data-root'), runRoot = arg('--run-root');
if (process.env.FAKE_FAIL) { console.error('fake: refusing to start'); process.exit(3); }
const mnt = path.join(dataRoot, 'mnt', 'a');
mkdirSync(mnt, { recursive: true });
execFileSync('mount', ['-t', 'tmpfs', 'fake', mnt]);
mkdirSync(path.join(mnt, 'b'));
execFileSync('mount', ['-t', 'tmpfs', 'fake', path.join(mnt, 'b')]);
const bg = spawn('sleep', ['1000'], { cwd: dataRoot, detached: true, stdio: 'ignore' });
bg.unref();
// Like runc: the background process in a cgroup under --cgroup-parent.
const cg = path.join('/sys/fs/cgroup/pids', arg('--cgroup-parent'), 'ctr-' + process.pid);
if (existsSync('/sys/fs/cgroup/pids')) {
  mkdirSync(cg, { recursive: true });
  writeFileSync(path.join(cg, 'cgroup.procs'), String(bg.pid));
}
let containers = [{ Id: 'c1' }, { Id: 'c2' }];
const sock = path.join(runRoot, 'docker.sock');
rmSync(sock, { force: true });
http.createServer((req, res) => {
  const url = req.url.replace(/^\/v1\.\d+/, '');
  const send = (s, b) => { res.writeHead(s, { 'Content-Type': 'application/json', 'Api-Version': '1.45' }); res.end(JSON.stringify(b)); };
  if (url === '/_ping') { res.writeHead(200, { 'Api-Version': '1.45' }); return res.end('OK'); }
  if (url === '/version') return send(200, { Version: 'fake-1', ApiVersion: '1.45', MinAPIVersion: '1.24', Os: 'linux', Arch: 'amd64' });
  if (url.startsWith('/containers/json')) return send(200, containers);
  if (req.method === 'DELETE' && url.startsWith('/containers/')) {
    const id = url.split('/')[2].split('?')[0];
    containers = containers.filter((c) => c.Id !== id);
    console.error('fake: deleted ' + id);
    return send(204, null);
  }
  if (req.method === 'POST' && url === '/echo') {
    const chunks = []; req.on('data', (c) => chunks.push(c));
    return req.on('end', () => send(200, { type: req.headers['content-type'], body: Buffer.concat(chunks).toString() }));
  }
  send(404, { message: 'page not found' });
}).listen(sock, () => console.error('export DOCKER_HOST=unix://' + sock));
process.on('SIGTERM', () => process.exit(0));
`;

test('daemon helper against a stand-in daemon', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-fake-daemon-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const entry = path.join(dir, 'fake-daemon.mjs');
  await writeFile(entry, fake);

  await t.test('start, api, docker CLI, restart, cleanup', async () => {
    const d = await startDaemon({ entry, startTimeoutMs: 10_000 });
    let cgroup = '';
    try {
      assert.equal(d.socket, path.join(d.runRoot, 'docker.sock'));
      assert.ok(d.running && d.pid);
      const ping = await d.api('GET', '/_ping');
      assert.equal(ping.status, 200);
      assert.equal(ping.text(), 'OK');
      const echo = await d.api('POST', '/echo', { a: 1 });
      assert.deepEqual(echo.json(), { type: 'application/json', body: '{"a":1}' });
      const v = await d.docker(['version', '--format', '{{.Server.Version}}']);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.stdout.trim(), 'fake-1');
      const bad = await d.docker(['inspect', 'nothing-here']);
      assert.notEqual(bad.code, 0);
      const firstPid = d.pid;
      await d.restart();
      assert.notEqual(d.pid, firstPid);
      await d.kill9();
      assert.equal(d.running, false);
      assert.ok(mountsUnder(d.dir).length >= 2, 'stand-in left mounts behind');
      cgroup = path.join('/sys/fs/cgroup/pids', path.basename(d.dir));
    } finally {
      // Starts the daemon again (it was killed), deletes the containers,
      // stops it, kills the stray sleeps, unmounts, deletes.
      await d.cleanup();
    }
    assert.match(d.logs(), /fake: deleted c1/);
    assert.match(d.logs(), /fake: deleted c2/);
    assert.equal(mountsUnder(d.dir).length, 0);
    assert.equal(existsSync(d.dir), false);
    assert.equal(existsSync(cgroup), false, 'cgroup parent removed');
  });

  await t.test('a daemon that fails to start gives its output', async () => {
    await assert.rejects(startDaemon({ entry, env: { FAKE_FAIL: '1' }, startTimeoutMs: 10_000 }), /exited with code 3[\s\S]*refusing to start/);
  });

  await t.test('uniqueName', () => {
    const a = uniqueName('ctr');
    const b = uniqueName('ctr');
    assert.notEqual(a, b);
    assert.match(a, /^ctr-[a-z0-9]+$/);
  });
});
