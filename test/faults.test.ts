// End to end: the daemon killed with SIGKILL in the middle of image load,
// container create, start, stop and rm, and during 50 parallel run/rm
// clients. After a restart the store is consistent (every container listed
// can be inspected and removed, none is half made), the interrupted
// operation can be repeated, and once everything is removed no mounts,
// network namespaces, veths, cgroups or firewall rules of it are left.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { mountsUnder, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage, testImages, testImageRefs } from './helpers/images.ts';

let d: Daemon;
let IMAGE: string;
let baseline: Resources;

interface Resources {
  mounts: string[];
  netns: string[];
  links: string[];
  cgroups: string[];
  rules: string[];
}

/** Everything of this daemon's on the host that containers add. */
function resources(): Resources {
  const tag = d.networkTag;
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(`${tag}-`)) : [];
  const links = (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n.startsWith(tag));
  const cgroups: string[] = [];
  const parent = path.basename(d.dir);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right || !/^cgroup2? /.test(right)) continue;
    const top = path.join(left!.split(' ')[4]!, parent);
    if (!existsSync(top)) continue;
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) {
          cgroups.push(path.join(dir, e.name));
          walk(path.join(dir, e.name));
        }
      }
    };
    walk(top);
  }
  const rules = execFileSync('iptables-save', [], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(tag) && !l.startsWith('#') && !l.startsWith(':'));
  return { mounts: mountsUnder(d.dataRoot), netns, links, cgroups, rules: rules.sort() };
}

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
  // One container run and removed first: chains and the default bridge exist from here on.
  assert.equal((await d.docker(['run', '--rm', IMAGE, 'true'])).code, 0);
  // Its network namespace goes in the background after the removal answers:
  // the baseline is the daemon with no container, so without it.
  baseline = resources();
  for (let i = 0; i < 40 && baseline.netns.length > 0; i++) {
    await sleep(100);
    baseline = resources();
  }
  assert.deepEqual(baseline.netns, [], 'the namespace of a removed container stayed');
});
after(() => d?.cleanup());

/** Starts `op`, SIGKILLs the daemon `delayMs` later, restarts it; the op's outcome does not matter. */
async function killDuring(op: () => Promise<unknown>, delayMs: number): Promise<void> {
  const running = op().catch(() => undefined);
  await sleep(delayMs);
  await d.kill9();
  await running;
  await d.restart();
}

/** Every container the store lists is whole: inspectable with its image, rootfs path and state. */
async function assertConsistent(): Promise<{ Id: string; Names: string[] }[]> {
  const list = (await d.api('GET', '/containers/json?all=1')).json() as { Id: string; Names: string[] }[];
  for (const c of list) {
    const r = await d.api('GET', `/containers/${c.Id}/json`);
    assert.equal(r.status, 200, `inspect ${c.Id}: ${r.text()}`);
    const j = r.json();
    assert.ok(j.Image && j.State && j.Name, `container ${c.Id} is whole`);
    assert.ok(!j.State.Running || j.State.Pid > 0, `a running container has its pid: ${JSON.stringify(j.State)}`);
  }
  return list;
}

async function removeAll(): Promise<void> {
  for (const c of await assertConsistent()) {
    const r = await d.api('DELETE', `/containers/${c.Id}?force=1&v=1`, undefined, { timeoutMs: 60_000 });
    assert.ok(r.status === 204 || r.status === 404, `rm ${c.Id}: ${r.status} ${r.text()}`);
  }
  assert.deepEqual((await d.api('GET', '/containers/json?all=1')).json(), []);
}

async function assertNothingLeaked(what: string): Promise<void> {
  await removeAll();
  // Cgroups of exited containers go with their conmon: give the kernel a moment.
  let now = resources();
  for (let i = 0; i < 40 && JSON.stringify(now) !== JSON.stringify(baseline); i++) {
    await sleep(100);
    now = resources();
  }
  assert.deepEqual(now, baseline, `${what}: host resources left behind`);
}

const DELAYS = [5, 30, 120];

test('SIGKILL during docker load: after restart the load can be repeated', async () => {
  const paths = await testImages();
  for (const delay of DELAYS) {
    await d.api('DELETE', `/images/${encodeURIComponent(testImageRefs.layers)}?force=1`);
    await killDuring(() => d.docker(['load', '-i', paths.layers]), delay);
    // Whatever half-staged state there was, the images are whole or absent.
    const imgs = (await d.api('GET', '/images/json?all=1')).json() as { Id: string }[];
    for (const i of imgs) assert.equal((await d.api('GET', `/images/${i.Id}/json`)).status, 200);
    const again = await loadTestImage(d, 'layers');
    const r = await d.docker(['run', '--rm', again, 'true']);
    assert.equal(r.code, 0, `run after an interrupted load (delay ${delay}): ${r.stderr}`);
  }
  await assertNothingLeaked('load');
});

test('SIGKILL during create, start, stop and rm: containers are whole or gone, and the step can be repeated', async () => {
  for (const delay of DELAYS) {
    const name = uniqueName();
    await killDuring(() => d.api('POST', `/containers/create?name=${name}`, { Image: IMAGE, Cmd: ['sleep', '1000'] }), delay);
    await assertConsistent();
    const exists = (await d.api('GET', `/containers/${name}/json`)).status === 200;
    if (!exists) assert.equal((await d.api('POST', `/containers/create?name=${name}`, { Image: IMAGE, Cmd: ['sleep', '1000'] })).status, 201);

    await killDuring(() => d.api('POST', `/containers/${name}/start`), delay);
    await assertConsistent();
    const s = await d.api('POST', `/containers/${name}/start`);
    assert.ok(s.status === 204 || s.status === 304, `start again (delay ${delay}): ${s.status} ${s.text()}`);
    assert.equal((await d.api('GET', `/containers/${name}/json`)).json().State.Running, true);

    await killDuring(() => d.api('POST', `/containers/${name}/stop?t=0`), delay);
    await assertConsistent();
    const st = await d.api('POST', `/containers/${name}/stop?t=0`);
    assert.ok(st.status === 204 || st.status === 304, `stop again: ${st.status} ${st.text()}`);
    assert.equal((await d.api('GET', `/containers/${name}/json`)).json().State.Running, false);

    await killDuring(() => d.api('DELETE', `/containers/${name}?force=1`), delay);
    await assertConsistent();
    const rm = await d.api('DELETE', `/containers/${name}?force=1`);
    assert.ok(rm.status === 204 || rm.status === 404, `rm again: ${rm.status} ${rm.text()}`);
    assert.equal((await d.api('GET', `/containers/${name}/json`)).status, 404);
    // The name is free again.
    assert.equal((await d.api('POST', `/containers/create?name=${name}`, { Image: IMAGE, Cmd: ['true'] })).status, 201);
    assert.equal((await d.api('DELETE', `/containers/${name}`)).status, 204);
  }
  await assertNothingLeaked('create/start/stop/rm');
});

test('SIGKILL during 50 parallel run --rm clients: nothing half made, nothing leaked', { timeout: 180_000 }, async () => {
  const clients = Array.from({ length: 50 }, (_, i) => d.docker(['run', '--rm', '--name', uniqueName(`par${i}`), IMAGE, 'sh', '-c', 'sleep 0.2'], { timeoutMs: 60_000 }).catch(() => undefined));
  await sleep(1500);
  await d.kill9();
  await Promise.all(clients);
  await d.restart();
  await assertNothingLeaked('50 parallel run --rm');
  // And the daemon works as before.
  assert.equal((await d.docker(['run', '--rm', IMAGE, 'true'])).code, 0);
});
