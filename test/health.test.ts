// Health checks through the real CLI: --health-* flags and the image's
// HEALTHCHECK, State.Health in inspect, (healthy) in ps, health_status
// events, ps --filter health=, start period, a check past its timeout, and
// Berth's early probes of a starting container (and the flag that ends them).
import assert from 'node:assert/strict';
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

interface Health {
  Status: string;
  FailingStreak: number;
  Log: { Start: string; End: string; ExitCode: number; Output: string }[];
}

async function health(name: string, on: Daemon = d): Promise<Health | null> {
  const r = await on.docker(['inspect', '-f', '{{json .State.Health}}', name]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Polls inspect until the health satisfies pred (each probe is a real exec, so it takes a moment). */
async function waitHealth(name: string, pred: (h: Health) => boolean, what: string): Promise<Health> {
  let last: Health | null = null;
  for (let i = 0; i < 400; i++) {
    last = await health(name);
    if (last && pred(last)) return last;
    await sleep(50);
  }
  throw new Error(`${name} never became ${what}: ${JSON.stringify(last)}`);
}

describe('health checks', () => {
  it('goes starting -> healthy -> unhealthy with events, ps status and ps filter', async () => {
    const name = uniqueName('hc');
    const since = (Date.now() / 1000).toFixed(3);
    const r = await d.docker([
      'run', '-d', '--name', name,
      '--health-cmd', 'cat /tmp/ok', '--health-interval', '100ms', '--health-retries', '2', '--health-timeout', '5s',
      image, 'sleep', '300',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const first = await health(name);
    assert.equal(first?.Status, 'starting');
    assert.match((await d.docker(['ps', '--filter', `name=${name}`, '--format', '{{.Status}}'])).stdout, /\(health: starting\)/);

    assert.equal((await d.docker(['exec', name, 'sh', '-c', 'echo fine > /tmp/x && mv /tmp/x /tmp/ok'])).code, 0);
    const healthy = await waitHealth(name, (h) => h.Status === 'healthy', 'healthy');
    assert.equal(healthy.FailingStreak, 0);
    const ok = healthy.Log.at(-1)!;
    assert.equal(ok.ExitCode, 0);
    assert.equal(ok.Output, 'fine\n');
    assert.ok(Date.parse(ok.End) >= Date.parse(ok.Start));
    assert.match((await d.docker(['ps', '--filter', `name=${name}`, '--format', '{{.Status}}'])).stdout, /^Up .* \(healthy\)$/m);
    assert.equal((await d.docker(['ps', '-q', '--no-trunc', '--filter', `name=${name}`, '--filter', 'health=healthy'])).stdout.trim().length, 64);

    assert.equal((await d.docker(['exec', name, 'rm', '/tmp/ok'])).code, 0);
    const bad = await waitHealth(name, (h) => h.Status === 'unhealthy', 'unhealthy');
    assert.ok(bad.FailingStreak >= 2);
    assert.equal(bad.Log.at(-1)!.ExitCode, 1);
    assert.match(bad.Log.at(-1)!.Output, /No such file or directory/);
    // Only the last five results are kept.
    const later = await waitHealth(name, (h) => h.FailingStreak >= 7, 'seven failures deep');
    assert.equal(later.Log.length, 5);
    assert.equal((await d.docker(['ps', '-q', '--filter', `name=${name}`, '--filter', 'health=unhealthy'])).stdout.trim().length, 12);
    assert.equal((await d.docker(['ps', '-q', '--filter', `name=${name}`, '--filter', 'health=healthy'])).stdout.trim(), '');

    const ev = await d.docker([
      'events', '--since', since, '--until', (Date.now() / 1000 + 0.001).toFixed(3),
      '--filter', `container=${name}`, '--filter', 'event=health_status', '--format', '{{.Action}}',
    ]);
    assert.equal(ev.code, 0, ev.stderr);
    // Events only on a change of status.
    assert.deepEqual(ev.stdout.trim().split('\n'), ['health_status: healthy', 'health_status: unhealthy']);
    await d.docker(['rm', '-f', name]);
  });

  it("takes the image's HEALTHCHECK, and --no-healthcheck turns it off", async () => {
    const base = uniqueName('hcbase');
    const img = `${uniqueName('hcimg')}:v1`;
    assert.equal((await d.docker(['create', '--name', base, '--health-cmd', 'exit 0', '--health-interval', '100ms', image, 'sleep', '300'])).code, 0);
    assert.equal((await d.docker(['commit', base, img])).code, 0);
    const test = await d.docker(['image', 'inspect', '-f', '{{json .Config.Healthcheck.Test}}', img]);
    assert.deepEqual(JSON.parse(test.stdout), ['CMD-SHELL', 'exit 0']);

    const inherits = uniqueName('hcinh');
    assert.equal((await d.docker(['run', '-d', '--name', inherits, img])).code, 0);
    await waitHealth(inherits, (h) => h.Status === 'healthy', 'healthy');

    // The user's flags override parts of the image's check, the rest is inherited.
    const partial = uniqueName('hcpart');
    assert.equal((await d.docker(['run', '-d', '--name', partial, '--health-retries', '7', img])).code, 0);
    const cfg = JSON.parse((await d.docker(['inspect', '-f', '{{json .Config.Healthcheck}}', partial])).stdout);
    assert.deepEqual(cfg.Test, ['CMD-SHELL', 'exit 0']);
    assert.equal(cfg.Retries, 7);
    assert.equal(cfg.Interval, 100_000_000);

    const off = uniqueName('hcoff');
    assert.equal((await d.docker(['run', '-d', '--name', off, '--no-healthcheck', img])).code, 0);
    assert.equal(await health(off), null);
    assert.doesNotMatch((await d.docker(['ps', '--filter', `name=${off}`, '--format', '{{.Status}}'])).stdout, /health/);
    assert.equal((await d.docker(['ps', '-q', '--filter', `name=${off}`, '--filter', 'health=none'])).stdout.trim().length, 12);
    await d.docker(['rm', '-f', base, inherits, partial, off]);
    await d.docker(['rmi', img]);
  });

  it('does not count failures during the start period', async () => {
    const name = uniqueName('hcstart');
    assert.equal(
      (await d.docker(['run', '-d', '--name', name, '--health-cmd', 'false', '--health-interval', '100ms', '--health-retries', '1', '--health-start-period', '1h', image, 'sleep', '300'])).code,
      0,
    );
    const h = await waitHealth(name, (x) => x.Log.length >= 3, 'probed three times');
    assert.equal(h.Status, 'starting');
    assert.equal(h.FailingStreak, 0);
    assert.ok(h.Log.every((l) => l.ExitCode === 1));
    await d.docker(['rm', '-f', name]);
  });

  it('a check that hangs past its timeout counts as failed and the daemon keeps serving', async () => {
    const name = uniqueName('hchang');
    assert.equal(
      (await d.docker(['run', '-d', '--name', name, '--health-cmd', 'sleep 60', '--health-interval', '100ms', '--health-timeout', '300ms', '--health-retries', '1', image, 'sleep', '300'])).code,
      0,
    );
    const h = await waitHealth(name, (x) => x.Status === 'unhealthy', 'unhealthy');
    assert.equal(h.Log[0].ExitCode, -1);
    assert.equal(h.Log[0].Output, 'Health check exceeded timeout (300ms)');
    // The hung probe was ended, not left behind in the container.
    for (let i = 0; i < 100; i++) {
      const top = await d.docker(['top', name, '-o', 'args']);
      if (!/sleep 60/.test(top.stdout)) break;
      assert.ok(i < 99, `the hung probe still runs: ${top.stdout}`);
      await sleep(50);
    }
    assert.equal((await d.api('GET', '/_ping')).status, 200);
    await d.docker(['rm', '-f', name]);
  });

  it('probes a starting container early: healthy at its first pass, long before an interval of an hour; early failures neither count nor show', async () => {
    const name = uniqueName('hcearly');
    const since = (Date.now() / 1000).toFixed(3);
    // Each probe leaves a line in /tmp/probes, so the test sees probes that the log does not show.
    const r = await d.docker([
      'run', '-d', '--name', name,
      '--health-cmd', 'echo p >> /tmp/probes; cat /tmp/ok', '--health-interval', '1h', '--health-retries', '1',
      image, 'sleep', '300',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const probes = async () => (await d.docker(['exec', name, 'sh', '-c', 'cat /tmp/probes 2>/dev/null || true'])).stdout.split('\n').filter(Boolean).length;
    for (let i = 0; (await probes()) < 3; i++) {
      assert.ok(i < 200, `fewer than three early probes ran: ${await probes()}`);
      await sleep(50);
    }
    // Three failed probes with retries=1: on Docker's schedule one would have made it unhealthy.
    const failing = await health(name);
    assert.deepEqual(failing, { Status: 'starting', FailingStreak: 0, Log: [] });

    assert.equal((await d.docker(['exec', name, 'sh', '-c', 'echo fine > /tmp/x && mv /tmp/x /tmp/ok'])).code, 0);
    const healthy = await waitHealth(name, (h) => h.Status === 'healthy', 'healthy');
    assert.equal(healthy.Log.length, 1, JSON.stringify(healthy.Log));
    assert.equal(healthy.Log[0].ExitCode, 0);
    assert.equal(healthy.Log[0].Output, 'fine\n');
    const ev = await d.docker([
      'events', '--since', since, '--until', (Date.now() / 1000 + 0.001).toFixed(3),
      '--filter', `container=${name}`, '--filter', 'event=health_status', '--format', '{{.Action}}',
    ]);
    assert.deepEqual(ev.stdout.trim().split('\n'), ['health_status: healthy']);

    // Healthy, it is probed on Docker's schedule only: no more early probes.
    const after = await probes();
    await sleep(1000);
    assert.equal(await probes(), after, 'a healthy container was probed again before its interval');
    await d.docker(['rm', '-f', name]);
  });

  it('keeps the schedule of a check that sets its own start interval', async () => {
    const name = uniqueName('hcsint');
    const r = await d.docker([
      'run', '-d', '--name', name,
      '--health-cmd', 'echo p >> /tmp/probes', '--health-interval', '1h', '--health-start-period', '1h', '--health-start-interval', '1h',
      image, 'sleep', '300',
    ]);
    assert.equal(r.code, 0, r.stderr);
    // Early probes would have run about six times in this second.
    await sleep(1000);
    assert.equal((await d.docker(['exec', name, 'cat', '/tmp/probes'])).code, 1, 'the check ran before its start interval');
    assert.equal((await health(name))?.Status, 'starting');
    await d.docker(['rm', '-f', name]);
  });

  it('rejects bad health settings with Docker messages', async () => {
    const neg = await d.api('POST', '/containers/create', { Image: image, Cmd: ['true'], Healthcheck: { Test: ['CMD', 'true'], Retries: -1 } });
    assert.equal(neg.status, 400);
    assert.match(neg.json().message, /Retries in Healthcheck cannot be negative/);
    const tiny = await d.api('POST', '/containers/create', { Image: image, Cmd: ['true'], Healthcheck: { Test: ['CMD', 'true'], Interval: 10 } });
    assert.equal(tiny.status, 400);
    assert.match(tiny.json().message, /Interval in Healthcheck cannot be less than 1ms/);
    const badFilter = await d.docker(['ps', '--filter', 'health=great']);
    assert.notEqual(badFilter.code, 0);
  });
});

describe('health checks with --no-early-health-probes', () => {
  let plain: Daemon;
  before(async () => {
    plain = await startDaemon({ args: ['--no-early-health-probes'] });
    await loadTestImage(plain, 'busybox');
  });
  after(() => plain?.cleanup());

  it("probes on Docker's schedule only: nothing before the first interval", async () => {
    const name = uniqueName('hcplain');
    const r = await plain.docker(['run', '-d', '--name', name, '--health-cmd', 'echo p >> /tmp/probes', '--health-interval', '1h', image, 'sleep', '300']);
    assert.equal(r.code, 0, r.stderr);
    // Early probes would have run about six times in this second.
    await sleep(1000);
    assert.equal((await plain.docker(['exec', name, 'cat', '/tmp/probes'])).code, 1, 'the check ran before its interval');
    assert.deepEqual(await health(name, plain), { Status: 'starting', FailingStreak: 0, Log: [] });
    await plain.docker(['rm', '-f', name]);
  });
});
