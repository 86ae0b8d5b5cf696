// End to end: a three-tier application under Debian's docker-compose, the
// kind Triton users run. nginx (web) in front of a Python service (app) in
// front of MariaDB (db, data in a named volume); the three images are built
// by compose FROM a Debian image made here from Debian's packages
// (scripts/build-debian-image.ts, debootstrap, cached between runs). The
// test talks to the web tier from the host through a published loopback port.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildDebianImage } from '../scripts/build-debian-image.ts';
import { dockerOk, startDaemon, type Daemon } from './helpers/daemon.ts';
import { composeProject, THREE_TIER, type ComposeProject } from './helpers/compose.ts';
import { freePort } from './helpers/ports.ts';

let d: Daemon;
let base: string;
let p: ComposeProject | undefined;

before(async () => {
  const img = await buildDebianImage({ packages: THREE_TIER.packages, emptyDirs: THREE_TIER.emptyDirs });
  d = await startDaemon();
  base = `berth-test/debian-3tier:${img.key}`;
  const r = await d.docker(['import', img.archive, base], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `docker import: ${r.stderr}`);
});

after(async () => {
  await p?.remove();
  await d?.cleanup();
});

interface Answer {
  status: number;
  body: { served_by?: string; notes?: string[]; id?: number; error?: string };
}

function request(port: number, method: string, urlPath: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent: false, headers: body ? { 'Content-Length': Buffer.byteLength(body) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: Answer['body'] = {};
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = { error: text.slice(0, 300) };
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${urlPath}: no answer`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Waits until the whole chain answers GET /notes (nginx up, app up, database accepting). */
async function ready(port: number): Promise<Answer> {
  let last: unknown;
  for (let i = 0; i < 600; i++) {
    try {
      const r = await request(port, 'GET', '/notes');
      if (r.status === 200) return r;
      last = r;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`the application did not answer through the web tier: ${last instanceof Error ? last.message : JSON.stringify(last)}\n${(await p!.run(['logs', '--tail', '30'])).stdout}`);
}

const docker = async (args: string[]): Promise<string> => (await dockerOk(d, args)).trim();

const lines = (s: string) => s.split('\n').filter(Boolean);

test('three-tier application: build, up, write and read through the web tier, down and up keep the data, scale the app tier, tear down', { timeout: 900_000 }, async () => {
  const port = await freePort();
  p = await composeProject(d, { fixture: THREE_TIER.fixture }, { env: { BASE_IMAGE: base, WEB_PORT: String(port), DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' } });

  // Build: three images FROM the Debian base, named after the project.
  await p.ok(['build'], { timeoutMs: 600_000 });
  for (const tier of ['web', 'app', 'db']) {
    const img = JSON.parse(await docker(['image', 'inspect', `${p.name}_${tier}`]))[0];
    const baseId = JSON.parse(await docker(['image', 'inspect', base]))[0].Id;
    assert.ok(img.RootFS.Layers.length > 1 && img.Id !== baseId, `${tier} image has layers of its own on the base`);
  }

  // Up: the database becomes healthy before the application starts (depends_on: service_healthy).
  await p.ok(['up', '-d'], { timeoutMs: 300_000 });
  const dbState = JSON.parse(await docker(['inspect', `${p.name}_db_1`]))[0].State;
  assert.equal(dbState.Health?.Status, 'healthy', 'db healthy once up -d returned');
  const first = await ready(port);
  assert.deepEqual(first.body.notes, []);

  // Write and read through nginx -> app -> MariaDB.
  for (const note of ['alpha', 'beta gamma']) {
    const w = await request(port, 'POST', '/notes', note);
    assert.equal(w.status, 201, JSON.stringify(w.body));
  }
  const read = await request(port, 'GET', '/notes');
  assert.deepEqual(read.body.notes, ['alpha', 'beta gamma']);
  const firstReplica = read.body.served_by;

  // Down and up: new containers, the same data (the named volume stayed).
  await p.ok(['down'], { timeoutMs: 300_000 });
  assert.deepEqual(lines(await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${p.name}`])), []);
  assert.deepEqual(lines(await docker(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${p.name}`])), [`${p.name}_dbdata`]);
  await p.ok(['up', '-d'], { timeoutMs: 300_000 });
  const again = await ready(port);
  assert.deepEqual(again.body.notes, ['alpha', 'beta gamma'], 'data kept across down and up');
  assert.notEqual(again.body.served_by, firstReplica, 'served by a new container');

  // Scale the application tier to three; nginx resolves `app` again on reload and spreads requests.
  await p.ok(['up', '-d', '--scale', 'app=3'], { timeoutMs: 300_000 });
  const replicas = new Set(lines(await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${p.name}`, '--filter', 'label=com.docker.compose.service=app'])));
  assert.equal(replicas.size, 3);
  await p.ok(['exec', '-T', 'web', 'nginx', '-c', '/etc/berth/nginx.conf', '-s', 'reload']);
  const seen = new Map<string, number>();
  for (let i = 0; i < 200 && (seen.size < 3 || [...seen.values()].some((n) => n < 2)); i++) {
    const r = await request(port, 'GET', '/notes');
    if (r.status !== 200) continue; // a replica still connecting to the database
    assert.deepEqual(r.body.notes, ['alpha', 'beta gamma'], 'every replica reads the same database');
    seen.set(r.body.served_by!, (seen.get(r.body.served_by!) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), [...replicas].sort(), `requests spread over the three replicas: ${JSON.stringify([...seen])}`);
  // A write through one replica is read through the others.
  assert.equal((await request(port, 'POST', '/notes', 'delta')).status, 201);
  const after3 = await request(port, 'GET', '/notes');
  assert.deepEqual(after3.body.notes, ['alpha', 'beta gamma', 'delta']);

  // Tear down: no containers, networks, volumes or built images left.
  await p.ok(['down', '-v', '--rmi', 'local'], { timeoutMs: 300_000 });
  assert.deepEqual(lines(await docker(['ps', '-aq'])), []);
  assert.deepEqual(lines(await docker(['network', 'ls', '--format', '{{.Name}}'])).sort(), ['bridge', 'host', 'none']);
  assert.deepEqual(lines(await docker(['volume', 'ls', '-q'])), []);
  assert.deepEqual(lines(await docker(['images', '--format', '{{.Repository}}'])).filter((r) => r.startsWith(p!.name)), []);
});
