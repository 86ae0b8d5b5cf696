// End to end: the lifecycle details users rely on — several attached
// clients, OOM kills, --stop-signal and --stop-timeout.
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

test('several clients attached at once all see the output', async () => {
  const name = uniqueName('multi');
  await ok(['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'sleep 2; echo one; sleep 0.3; echo two']);
  const clients = [1, 2, 3].map(() => d.docker(['attach', '--no-stdin', name], { timeoutMs: 30_000 }));
  const results = await Promise.all(clients);
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'one\ntwo\n');
  }
  await ok(['rm', name]);
});

test('a container killed by the OOM killer reports OOMKilled and exit code 137', async () => {
  const name = uniqueName('oom');
  // The shell keeps the whole string in memory: far beyond the 8 MiB limit (swap included).
  const r = await d.docker(['run', '--name', name, '-m', '8m', '--memory-swap', '8m', IMAGE, 'sh', '-c', 'x=$(head -c 64000000 /dev/zero | tr "\\0" a); echo survived']);
  assert.equal(r.code, 137, `exit ${r.code}: ${r.stdout}${r.stderr}`);
  const state = JSON.parse(await ok(['inspect', '-f', '{{json .State}}', name]));
  assert.equal(state.OOMKilled, true);
  assert.equal(state.ExitCode, 137);
  await ok(['rm', name]);
});

test('--stop-signal and --stop-timeout given at run time', async () => {
  const sig = uniqueName('stopsig');
  await ok(['run', '-d', '--name', sig, '--stop-signal', 'SIGUSR1', IMAGE, 'sh', '-c', 'trap "exit 21" USR1; while true; do sleep 0.1; done']);
  await sleep(300); // the trap is set once the shell runs its loop
  await ok(['stop', sig]);
  assert.equal(await ok(['inspect', '-f', '{{.State.ExitCode}}', sig]), '21');
  const timeout = uniqueName('stoptime');
  // PID 1 ignores an unhandled SIGTERM: the stop must end in SIGKILL after --stop-timeout.
  await ok(['run', '-d', '--name', timeout, '--stop-timeout', '1', IMAGE, 'sh', '-c', 'while true; do sleep 0.1; done']);
  assert.equal(await ok(['inspect', '-f', '{{.Config.StopTimeout}}', timeout]), '1');
  await ok(['stop', timeout]);
  assert.equal(await ok(['inspect', '-f', '{{.State.ExitCode}}', timeout]), '137');
  const bad = await d.docker(['run', '-d', '--stop-signal', 'NOPE', IMAGE, 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /Invalid signal: NOPE/);
  await ok(['rm', sig, timeout]);
});
