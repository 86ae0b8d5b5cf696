// Restart policies through the real CLI: on-failure:N with its retry count,
// always, stopping a restarting container, unless-stopped, and containers
// that exited while the daemon was down coming back when it starts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
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

async function inspect(name: string, format: string): Promise<string> {
  const r = await d.docker(['inspect', '-f', format, name]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

async function waitFor(name: string, format: string, pred: (v: string) => boolean, what: string): Promise<string> {
  let v = '';
  for (let i = 0; i < 600; i++) {
    v = await inspect(name, format);
    if (pred(v)) return v;
    await sleep(50);
  }
  throw new Error(`${name} never reached ${what}: ${v}`);
}

describe('restart policies', () => {
  it('on-failure:2 restarts a failing container twice, then leaves it exited', async () => {
    const name = uniqueName('rpfail');
    const since = (Date.now() / 1000).toFixed(3);
    assert.equal((await d.docker(['run', '-d', '--name', name, '--restart', 'on-failure:2', image, 'sh', '-c', 'exit 3'])).code, 0);
    await waitFor(name, '{{.State.Status}} {{.RestartCount}}', (v) => v === 'exited 2', 'exited after two restarts');
    assert.equal(await inspect(name, '{{.State.ExitCode}}'), '3');
    const ev = await d.docker(['events', '--since', since, '--until', (Date.now() / 1000 + 0.001).toFixed(3), '--filter', `container=${name}`, '--filter', 'event=start', '--filter', 'event=die', '--format', '{{.Action}}']);
    assert.deepEqual(ev.stdout.trim().split('\n'), ['start', 'die', 'start', 'die', 'start', 'die']);
    // A success is not a failure: on-failure leaves it alone.
    const ok = uniqueName('rpok');
    assert.equal((await d.docker(['run', '--name', ok, '--restart', 'on-failure', image, 'true'])).code, 0);
    assert.equal(await inspect(ok, '{{.State.Status}} {{.RestartCount}}'), 'exited 0');
    await d.docker(['rm', name, ok]);
  });

  it('always restarts on exit 0 with a growing count; docker stop ends it, docker start resets the count', async () => {
    const name = uniqueName('rpalways');
    assert.equal((await d.docker(['run', '-d', '--name', name, '--restart', 'always', image, 'true'])).code, 0);
    await waitFor(name, '{{.RestartCount}}', (v) => Number(v) >= 3, 'three restarts');
    const stop = await d.docker(['stop', name]);
    assert.equal(stop.code, 0, stop.stderr);
    await waitFor(name, '{{.State.Status}}', (v) => v === 'exited', 'exited');
    const count = await inspect(name, '{{.RestartCount}}');
    await sleep(1000); // back-off delays are 100 ms and up: a restart now would show
    assert.equal(await inspect(name, '{{.State.Status}} {{.RestartCount}}'), `exited ${count}`);
    // A user's start begins counting again.
    const sleeper = uniqueName('rpalways2');
    assert.equal((await d.docker(['run', '-d', '--name', sleeper, '--restart', 'always', image, 'sleep', '300'])).code, 0);
    assert.equal((await d.docker(['kill', sleeper])).code, 0);
    await waitFor(sleeper, '{{.RestartCount}} {{.State.Running}}', (v) => v === '1 true', 'restarted once');
    assert.equal((await d.docker(['stop', '-t', '0', sleeper])).code, 0);
    assert.equal((await d.docker(['start', sleeper])).code, 0);
    assert.equal(await inspect(sleeper, '{{.RestartCount}} {{.State.Running}}'), '0 true');
    await d.docker(['rm', '-f', name, sleeper]);
  });

  it('after the daemon was down: always and unless-stopped come back, stopped and no-policy containers stay down', async () => {
    const always = uniqueName('rpa');
    const unless = uniqueName('rpu');
    const stopped = uniqueName('rps');
    const none = uniqueName('rpn');
    for (const [name, policy] of [[always, 'always'], [unless, 'unless-stopped'], [stopped, 'unless-stopped'], [none, 'no']]) {
      assert.equal((await d.docker(['run', '-d', '--name', name, '--restart', policy, image, 'sleep', '300'])).code, 0);
    }
    assert.equal((await d.docker(['stop', '-t', '0', stopped])).code, 0);
    const ids = await Promise.all([always, unless, none].map((n) => inspect(n, '{{.Id}}')));
    await d.kill9();
    // The containers die while no daemon watches (as in a host reboot).
    const run = promisify(execFile);
    for (const id of ids) await run('runc', ['--root', path.join(d.runRoot, 'runc'), 'kill', id, 'KILL']);
    await d.restart();
    await waitFor(always, '{{.State.Status}} {{.RestartCount}}', (v) => v === 'running 1', 'running again');
    await waitFor(unless, '{{.State.Status}} {{.RestartCount}}', (v) => v === 'running 1', 'running again');
    assert.equal(await inspect(stopped, '{{.State.Status}}'), 'exited');
    assert.equal(await inspect(none, '{{.State.Status}} {{.State.ExitCode}}'), 'exited 137');
    // The restarted ones really run.
    assert.equal((await d.docker(['exec', always, 'true'])).code, 0);
    await d.docker(['rm', '-f', always, unless, stopped, none]);
  });

  it('refuses unknown policies and retry counts without on-failure', async () => {
    const bad = await d.api('POST', '/containers/create', { Image: image, Cmd: ['true'], HostConfig: { RestartPolicy: { Name: 'sometimes' } } });
    assert.equal(bad.status, 400);
    assert.match(bad.json().message, /invalid restart policy: unknown policy 'sometimes'/);
    const count = await d.api('POST', '/containers/create', { Image: image, Cmd: ['true'], HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 2 } } });
    assert.equal(count.status, 400);
    assert.match(count.json().message, /maximum retry count can only be used with 'on-failure'/);
    const rm = await d.docker(['run', '--rm', '--restart', 'always', image, 'true']);
    assert.notEqual(rm.code, 0);
    assert.equal((await d.api('GET', '/_ping')).status, 200);
  });
});
