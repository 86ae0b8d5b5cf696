// End to end: containers outlive the daemon. Killed with SIGKILL or stopped
// cleanly, it comes back to running containers it can still manage, and to
// the real exit code and time of those that ended while it was away.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let IMAGE: string;

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

const ok = async (args: string[]): Promise<string> => (await dockerOk(d, args)).trim();

test('containers keep running across SIGKILL of the daemon and stay manageable', async () => {
  const keeper = uniqueName('keep');
  const ender = uniqueName('end');
  await ok(['run', '-d', '--name', keeper, IMAGE, 'sh', '-c', 'echo started; sleep 300']);
  await ok(['run', '-d', '--name', ender, IMAGE, 'sh', '-c', 'sleep 1; exit 9']);
  const pid = JSON.parse(await ok(['inspect', keeper]))[0].State.Pid;
  await d.kill9();
  await sleep(2000); // the second container exits while the daemon is down
  process.kill(pid, 0); // still alive: throws if not
  await d.restart();
  const k = JSON.parse(await ok(['inspect', keeper]))[0];
  assert.equal(k.State.Status, 'running');
  assert.equal(k.State.Pid, pid);
  const e = JSON.parse(await ok(['inspect', ender]))[0];
  assert.equal(e.State.Status, 'exited');
  assert.equal(e.State.ExitCode, 9);
  const ran = Date.parse(e.State.FinishedAt) - Date.parse(e.State.StartedAt);
  assert.ok(ran >= 900 && ran < 1900, `finish time is the real one (ran ${ran} ms)`);
  assert.match(await ok(['ps', '--filter', `name=${keeper}`]), new RegExp(keeper));
  assert.equal(await ok(['logs', keeper]), 'started');
  await ok(['stop', '-t', '1', keeper]);
  assert.equal(JSON.parse(await ok(['inspect', keeper]))[0].State.ExitCode, 137);
  await ok(['rm', keeper, ender]);
});

test('a clean stop (SIGTERM) leaves containers running too', async () => {
  const name = uniqueName('term');
  await ok(['run', '-d', '--name', name, IMAGE, 'sleep', '300']);
  const pid = JSON.parse(await ok(['inspect', name]))[0].State.Pid;
  await d.stop('SIGTERM');
  process.kill(pid, 0);
  await d.restart();
  assert.equal(JSON.parse(await ok(['inspect', name]))[0].State.Running, true);
  await ok(['rm', '-f', name]);
  assert.throws(() => process.kill(pid, 0), 'rm -f killed the process');
});
