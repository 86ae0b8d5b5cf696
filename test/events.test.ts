// docker events through the real CLI: the live stream, --since/--until over
// the kept history (also after a daemon restart), filters, Docker's
// attributes, and bad input.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let image: string;

before(async () => {
  d = await startDaemon();
  image = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

const FORMAT = '{{.Type}}|{{.Action}}|{{.Actor.ID}}|{{json .Actor.Attributes}}';

interface Line {
  type: string;
  action: string;
  id: string;
  attrs: Record<string, string>;
}

function parse(stdout: string): Line[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [type, action, id, ...rest] = l.split('|');
      return { type, action, id, attrs: JSON.parse(rest.join('|')) };
    });
}

/** Unix seconds with nanoseconds, as the CLI sends --since/--until. */
const stamp = (ms: number) => (ms / 1000).toFixed(3);

/** `docker events` running in the background until stopped; its output so far. */
function follow(args: string[]) {
  const child = spawn('docker', ['events', '--format', FORMAT, ...args], {
    env: { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: path.join(d.dir, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  return {
    lines: () => parse(out),
    async waitFor(pred: (l: Line[]) => boolean, what: string) {
      for (let i = 0; i < 300; i++) {
        if (pred(parse(out))) return;
        await sleep(50);
      }
      throw new Error(`docker events never showed ${what}: ${out}${err}`);
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
    exited,
  };
}

describe('docker events', () => {
  it('streams a container lifecycle with Docker actions and attributes', async () => {
    const name = uniqueName('ev');
    // --since now: whenever the CLI connects, it misses nothing (history, then live).
    const ev = follow(['--since', stamp(Date.now() - 1), '--filter', `container=${name}`]);
    assert.equal((await d.docker(['run', '-d', '--name', name, '--label', 'team=blue', image, 'sleep', '300'])).code, 0);
    assert.equal((await d.docker(['exec', name, 'true'])).code, 0);
    assert.equal((await d.docker(['pause', name])).code, 0);
    assert.equal((await d.docker(['unpause', name])).code, 0);
    assert.equal((await d.docker(['stop', '-t', '1', name])).code, 0);
    const renamed = `${name}-2`;
    assert.equal((await d.docker(['rename', name, renamed])).code, 0);
    assert.equal((await d.docker(['rm', renamed])).code, 0);
    await ev.waitFor((l) => l.some((x) => x.action === 'destroy'), 'destroy');
    await ev.stop();
    const lines = ev.lines();
    const actions = lines.map((l) => l.action.replace(/:.*/, ''));
    // The filter matches ids and names by prefix, as Docker's: the new name still matches.
    // sleep as PID 1 ignores SIGTERM: stop sends it, then SIGKILL after the timeout.
    assert.deepEqual(actions, ['create', 'start', 'exec_create', 'exec_start', 'exec_die', 'pause', 'unpause', 'kill', 'kill', 'die', 'stop', 'rename', 'destroy']);
    const create = lines[0];
    assert.equal(create.type, 'container');
    assert.match(create.id, /^[0-9a-f]{64}$/);
    assert.deepEqual(create.attrs, { image, name, team: 'blue' });
    assert.equal(lines[2].action, 'exec_create: true');
    assert.match(lines[2].attrs.execID, /^[0-9a-f]{64}$/);
    assert.equal(lines[4].attrs.exitCode, '0');
    assert.deepEqual(lines.filter((l) => l.action === 'kill').map((l) => l.attrs.signal), ['15', '9']);
    const die = lines.find((l) => l.action === 'die')!;
    assert.equal(die.attrs.exitCode, '137');
    assert.match(die.attrs.execDuration, /^\d+$/);
    const rename = lines.find((l) => l.action === 'rename')!;
    assert.equal(rename.attrs.oldName, `/${name}`);
    assert.equal(rename.attrs.name, renamed);
  });

  it('--since/--until replay the history, filtered by event, label and image', async () => {
    const t0 = Date.now();
    const a = uniqueName('eva');
    const b = uniqueName('evb');
    assert.equal((await d.docker(['run', '--name', a, '--label', 'pick=yes', image, 'sh', '-c', 'exit 3'])).code, 3);
    assert.equal((await d.docker(['run', '--name', b, image, 'true'])).code, 0);
    const tag = `${uniqueName('evtag')}:v1`;
    assert.equal((await d.docker(['tag', image, tag])).code, 0);
    assert.equal((await d.docker(['rmi', tag])).code, 0);
    const t1 = Date.now() + 1;
    const span = ['--since', stamp(t0), '--until', stamp(t1)];

    const dies = await d.docker(['events', ...span, '--filter', 'event=die', '--format', FORMAT]);
    assert.equal(dies.code, 0, dies.stderr);
    const died = parse(dies.stdout);
    assert.deepEqual(died.map((l) => [l.attrs.name, l.attrs.exitCode]), [[a, '3'], [b, '0']]);

    const labelled = parse((await d.docker(['events', ...span, '--filter', 'label=pick=yes', '--format', FORMAT])).stdout);
    assert.ok(labelled.length >= 3, JSON.stringify(labelled));
    assert.ok(labelled.every((l) => l.attrs.name === a));

    const images = parse((await d.docker(['events', ...span, '--filter', 'type=image', '--format', FORMAT])).stdout);
    assert.deepEqual(images.map((l) => l.action), ['tag', 'untag']);
    assert.match(images[0].id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(images[0].attrs.name, tag);

    // The image filter matches containers by their image (with or without tag).
    const byImage = parse((await d.docker(['events', ...span, '--filter', `image=${image.replace(/:latest$/, '')}`, '--filter', 'event=start', '--format', FORMAT])).stdout);
    assert.deepEqual(byImage.map((l) => l.attrs.name), [a, b]);

    // An empty window: nothing, and the command still ends.
    const none = await d.docker(['events', '--since', stamp(t0 - 60_000), '--until', stamp(t0 - 30_000), '--format', FORMAT]);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    await d.docker(['rm', a, b]);
  });

  it('keeps the history across a daemon restart', async () => {
    const t0 = Date.now();
    const name = uniqueName('evr');
    assert.equal((await d.docker(['create', '--name', name, image, 'true'])).code, 0);
    await d.restart();
    const r = await d.docker(['events', '--since', stamp(t0), '--until', stamp(Date.now() + 1), '--filter', `container=${name}`, '--format', FORMAT]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parse(r.stdout).map((l) => l.action), ['create']);
    await d.docker(['rm', name]);
  });

  it('--until in the future ends the stream at that time', async () => {
    const name = uniqueName('evu');
    const ev = follow(['--since', stamp(Date.now() - 1), '--until', stamp(Date.now() + 3000), '--filter', `container=${name}`]);
    assert.equal((await d.docker(['create', '--name', name, image, 'true'])).code, 0);
    assert.equal(await ev.exited, 0);
    assert.deepEqual(ev.lines().map((l) => l.action), ['create']);
    await d.docker(['rm', name]);
  });

  it('rejects bad filters and since after until, and keeps serving', async () => {
    const bad = await d.docker(['events', '--filter', 'colour=red', '--until', '1']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid filter 'colour'/);
    const badType = await d.api('GET', `/events?until=1&filters=${encodeURIComponent(JSON.stringify({ type: ['spaceship'] }))}`);
    assert.equal(badType.status, 400);
    const order = await d.api('GET', '/events?since=2000&until=1000');
    assert.equal(order.status, 400);
    assert.match(order.json().message, /cannot be after `until`/);
    const badTime = await d.api('GET', '/events?since=yesterday');
    assert.equal(badTime.status, 400);
    assert.equal((await d.api('GET', '/_ping')).status, 200);
  });
});
