// docker update (limits and restart policy of a running container), docker
// diff from the overlay upper dir, docker port, and --init (tini as PID 1).
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

async function inspect(name: string, format: string): Promise<string> {
  const r = await d.docker(['inspect', '-f', format, name]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

describe('docker update', () => {
  it('changes memory, cpus and pids limits of a running container in its cgroup', async () => {
    const name = uniqueName('upd');
    assert.equal((await d.docker(['run', '-d', '--name', name, '--memory', '64m', image, 'sleep', '300'])).code, 0);
    const r = await d.docker(['update', '--memory', '96m', '--memory-swap', '192m', '--cpus', '0.5', '--pids-limit', '33', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), name);
    const stats = (await d.api('GET', `/containers/${name}/stats?stream=false`)).json();
    assert.equal(stats.memory_stats.limit, 96 * 1024 * 1024);
    assert.equal(stats.pids_stats.limit, 33);
    const quota = await d.docker(['exec', name, 'sh', '-c', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max']);
    assert.equal(quota.stdout.trim(), '50000');
    assert.equal(await inspect(name, '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}'), `${96 * 1024 * 1024} 500000000 33`);
    // The limits hold after a restart too (the bundle was updated).
    assert.equal((await d.docker(['restart', '-t', '0', name])).code, 0);
    const again = (await d.api('GET', `/containers/${name}/stats?stream=false`)).json();
    assert.equal(again.memory_stats.limit, 96 * 1024 * 1024);
    assert.equal(again.pids_stats.limit, 33);
    await d.docker(['rm', '-f', name]);
  });

  it('changes the restart policy of a running container', async () => {
    const name = uniqueName('updrp');
    assert.equal((await d.docker(['run', '-d', '--name', name, image, 'sleep', '300'])).code, 0);
    assert.equal((await d.docker(['update', '--restart', 'on-failure:3', name])).code, 0);
    assert.equal(await inspect(name, '{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}'), 'on-failure:3');
    assert.equal((await d.docker(['kill', name])).code, 0);
    for (let i = 0; ; i++) {
      if ((await inspect(name, '{{.RestartCount}} {{.State.Running}}')) === '1 true') break;
      assert.ok(i < 200, 'the killed container was not restarted by the new policy');
      await sleep(50);
    }
    const ev = await d.docker(['events', '--since', '0', '--until', String(Date.now() / 1000 + 0.001), '--filter', `container=${name}`, '--filter', 'event=update', '--format', '{{.Action}}']);
    assert.equal(ev.stdout.trim(), 'update');
    await d.docker(['rm', '-f', name]);
  });

  it('refuses bad updates with Docker messages and changes nothing', async () => {
    const name = uniqueName('updbad');
    assert.equal((await d.docker(['run', '-d', '--name', name, '--memory', '64m', '--memory-swap', '128m', image, 'sleep', '300'])).code, 0);
    const bigger = await d.docker(['update', '--memory', '256m', name]);
    assert.notEqual(bigger.code, 0);
    assert.match(bigger.stderr, /Memory limit should be smaller than already set memoryswap limit/);
    const policy = await d.api('POST', `/containers/${name}/update`, { RestartPolicy: { Name: 'sometimes' } });
    assert.equal(policy.status, 400);
    assert.match(policy.json().message, /invalid restart policy/);
    const cpus = await d.docker(['update', '--cpus', '64', name]);
    assert.notEqual(cpus.code, 0);
    assert.match(cpus.stderr, /Range of CPUs is from 0.01/);
    assert.equal(await inspect(name, '{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}'), `${64 * 1024 * 1024} no`);
    const rm = uniqueName('updrm');
    assert.equal((await d.docker(['run', '-d', '--rm', '--name', rm, image, 'sleep', '300'])).code, 0);
    const auto = await d.docker(['update', '--restart', 'always', rm]);
    assert.match(auto.stderr, /Restart policy cannot be updated because AutoRemove is enabled/);
    const missing = await d.docker(['update', '--memory', '64m', uniqueName('nosuch')]);
    assert.match(missing.stderr, /No such container/);
    await d.docker(['rm', '-f', name, rm]);
  });
});

describe('docker diff', () => {
  it('reports added, changed and deleted paths from the writable layer', async () => {
    const name = uniqueName('diff');
    const r = await d.docker(['run', '--name', name, image, 'sh', '-c', 'mkdir -p /new/sub && echo x > /new/sub/f && echo y >> /bin/busybox.note; rm /bin/ls; echo z > /etc/motd-berth; touch /root/.ash_history_berth']);
    assert.equal(r.code, 0, r.stderr);
    const diff = await d.docker(['diff', name]);
    assert.equal(diff.code, 0, diff.stderr);
    const lines = diff.stdout.trim().split('\n');
    for (const want of ['A /new', 'A /new/sub', 'A /new/sub/f', 'C /bin', 'A /bin/busybox.note', 'D /bin/ls', 'C /etc', 'A /etc/motd-berth']) {
      assert.ok(lines.includes(want), `${want} missing from:\n${diff.stdout}`);
    }
    // Mount points of /proc, /sys, /dev and the etc files are not the user's changes.
    for (const l of lines) assert.doesNotMatch(l, /^[ACD] \/(proc|sys|dev|etc\/(hosts|hostname|resolv\.conf))$/);
    const api = (await d.api('GET', `/containers/${name}/changes`)).json();
    assert.deepEqual(api.find((c: { Path: string }) => c.Path === '/bin/ls'), { Path: '/bin/ls', Kind: 2 });
    await d.docker(['rm', name]);
  });

  it('is empty for a container that changed nothing, and 404 for an unknown one', async () => {
    const name = uniqueName('diff0');
    assert.equal((await d.docker(['run', '--name', name, image, 'true'])).code, 0);
    const r = await d.docker(['diff', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal((await d.api('GET', `/containers/${uniqueName('nosuch')}/changes`)).status, 404);
    await d.docker(['rm', name]);
  });
});

describe('docker port and --init', () => {
  it('docker port lists the published ports', async () => {
    const name = uniqueName('port');
    assert.equal((await d.docker(['run', '-d', '--name', name, '-p', '127.0.0.1::8080', image, 'sleep', '300'])).code, 0);
    const r = await d.docker(['port', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /^8080\/tcp -> 127\.0\.0\.1:\d+$/);
    await d.docker(['rm', '-f', name]);
  });

  it('--init runs docker-init (tini) as PID 1 with the command as its child, and forwards signals', async () => {
    const name = uniqueName('init');
    assert.equal((await d.docker(['run', '-d', '--init', '--name', name, image, 'sleep', '300'])).code, 0);
    const one = await d.docker(['exec', name, 'cat', '/proc/1/cmdline']);
    assert.equal(one.stdout.split('\0').filter(Boolean).join(' '), '/sbin/docker-init -- sleep 300');
    // Inspect still shows the user's command.
    assert.equal(await inspect(name, '{{.Path}} {{json .Args}}'), 'sleep ["300"]');
    assert.equal(await inspect(name, '{{.HostConfig.Init}}'), 'true');
    // sleep as PID 1 would ignore SIGTERM; under tini it dies of it at once.
    const stop = await d.docker(['stop', '-t', '30', name]);
    assert.equal(stop.code, 0);
    assert.equal(await inspect(name, '{{.State.ExitCode}}'), '143');
    await d.docker(['rm', name]);
  });
});
