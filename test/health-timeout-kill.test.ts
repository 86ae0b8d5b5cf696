// A health check past its timeout is killed, as Docker kills it (SIGKILL),
// even when it ignores SIGTERM: it must not stay behind in the container
// (one more process per probe otherwise, until pids run out).
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let image: string;

before(async () => {
  d = await startDaemon();
  image = await loadTestImage(d, 'busybox');
});
after(async () => {
  await d?.cleanup();
});

it('kills a timed-out health check that ignores SIGTERM', async () => {
  const name = uniqueName('hc-kill');
  // The first probe records its pid and hangs ignoring SIGTERM; later ones pass.
  const cmd = '[ -e /tmp/hung ] && exit 0; echo $$ > /tmp/hung; trap "" TERM; while :; do sleep 1; done';
  const r = await d.docker(['run', '-d', '--name', name, '--health-cmd', cmd, '--health-interval', '1s', '--health-timeout', '1s', image, 'sleep', '300']);
  assert.equal(r.code, 0, r.stderr);
  try {
    let status = '';
    for (let i = 0; i < 300 && status !== 'healthy'; i++) {
      await new Promise((res) => setTimeout(res, 100));
      status = (await d.docker(['inspect', '-f', '{{.State.Health.Status}}', name])).stdout.trim();
    }
    assert.equal(status, 'healthy');
    const hung = (await d.docker(['exec', name, 'cat', '/tmp/hung'])).stdout.trim();
    assert.match(hung, /^\d+$/);
    // Gone once it has been killed (at the latest a few seconds after its timeout).
    let alive = true;
    for (let i = 0; i < 300 && alive; i++) {
      alive = (await d.docker(['exec', name, 'kill', '-0', hung])).code === 0;
      if (alive) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(alive, false, `the first probe (pid ${hung}) still runs`);
  } finally {
    await d.docker(['rm', '-f', name]);
  }
});
