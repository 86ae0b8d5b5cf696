// End to end: container lifecycle through the real docker CLI.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage, STOPSIGNAL_EXIT_CODE } from './helpers/images.ts';

let d: Daemon;
let IMAGE: string;
let STOPSIG: string;

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
  STOPSIG = await loadTestImage(d, 'stopsignal');
});
after(() => d?.cleanup());

/** Runs docker and asserts success, returning trimmed stdout. */
const ok = async (args: string[], input?: string): Promise<string> => (await dockerOk(d, args, { input })).trim();

async function inspect(name: string): Promise<any> {
  return JSON.parse(await ok(['inspect', name]))[0];
}

describe('docker run', () => {
  test('prints the output of a foreground container, stdout and stderr apart', async () => {
    const r = await d.docker(['run', '--rm', IMAGE, 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.match(r.stderr, /^err$/m);
  });

  test('propagates the exit code', async () => {
    const r = await d.docker(['run', '--rm', IMAGE, 'sh', '-c', 'exit 3']);
    assert.equal(r.code, 3, r.stderr);
  });

  test('127 for a command that does not exist, 126 for one that cannot run, 125 for a missing image', async () => {
    const notFound = await d.docker(['run', '--rm', IMAGE, 'no-such-command']);
    assert.equal(notFound.code, 127, notFound.stderr);
    assert.match(notFound.stderr, /executable file not found/);
    const notExec = await d.docker(['run', '--rm', IMAGE, '/etc/passwd']);
    assert.equal(notExec.code, 126, notExec.stderr);
    const noImage = await d.docker(['run', '--rm', 'berth-test/does-not-exist', 'true']);
    assert.equal(noImage.code, 125, noImage.stderr);
    const badFlag = await d.docker(['run', '--rm', '--memory', '1k', IMAGE, 'true']);
    assert.equal(badFlag.code, 125);
    assert.match(badFlag.stderr, /Minimum memory limit allowed is 6MB/);
  });

  test('-e, --env-file, -w, -u, -h, --entrypoint and labels reach the process', async () => {
    const envFile = path.join(d.dir, uniqueName('env'));
    writeFileSync(envFile, 'FROM_FILE=yes\n# comment\n');
    const out = await ok([
      'run', '--rm', '-e', 'GREETING=hello', '--env-file', envFile, '-w', '/tmp', '-u', '1000:1000', '-h', 'berthhost',
      IMAGE, 'sh', '-c', 'echo $GREETING $FROM_FILE $(pwd) $(id -u):$(id -g) $(hostname)',
    ]);
    assert.equal(out, 'hello yes /tmp 1000:1000 berthhost');
    assert.equal(await ok(['run', '--rm', '-u', 'app', IMAGE, 'id', '-un']), 'app');
    assert.equal(await ok(['run', '--rm', '--entrypoint', 'echo', IMAGE, 'via', 'entrypoint']), 'via entrypoint');
    const name = uniqueName('labels');
    await ok(['create', '--name', name, '-l', 'tier=web', '--label', 'team=core', IMAGE, 'true']);
    assert.deepEqual((await inspect(name)).Config.Labels, { tier: 'web', team: 'core' });
    await ok(['rm', name]);
  });

  test('--read-only, --privileged, capabilities and no-new-privileges', async () => {
    const ro = await d.docker(['run', '--rm', '--read-only', IMAGE, 'touch', '/x']);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    const capEff = async (...flags: string[]) =>
      BigInt('0x' + (await ok(['run', '--rm', ...flags, IMAGE, 'sh', '-c', 'grep CapEff /proc/self/status'])).split(/\s+/)[1]);
    const defaults = await capEff();
    const CAP_NET_ADMIN = 1n << 12n;
    const CAP_CHOWN = 1n << 0n;
    assert.equal(defaults & CAP_NET_ADMIN, 0n, 'NET_ADMIN is not a default capability');
    assert.notEqual(defaults & CAP_CHOWN, 0n, 'CHOWN is a default capability');
    assert.notEqual((await capEff('--cap-add', 'NET_ADMIN')) & CAP_NET_ADMIN, 0n);
    assert.equal((await capEff('--cap-drop', 'CHOWN')) & CAP_CHOWN, 0n);
    assert.equal(await capEff('--cap-drop', 'ALL'), 0n);
    assert.ok((await capEff('--privileged')) > defaults);
    const nnp = await ok(['run', '--rm', '--security-opt', 'no-new-privileges', IMAGE, 'sh', '-c', 'grep NoNewPrivs /proc/self/status']);
    assert.match(nnp, /NoNewPrivs:\s+1/);
    const plain = await ok(['run', '--rm', IMAGE, 'sh', '-c', 'grep NoNewPrivs /proc/self/status']);
    assert.match(plain, /NoNewPrivs:\s+0/);
  });

  test('-m, --cpus, --pids-limit and --ulimit are applied', async () => {
    const name = uniqueName('limits');
    await ok(['run', '-d', '--name', name, '-m', '64m', '--cpus', '0.5', '--pids-limit', '42', '--ulimit', 'nofile=1000:2000', IMAGE, 'sleep', '60']);
    const c = await inspect(name);
    assert.equal(c.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(c.HostConfig.NanoCpus, 500_000_000);
    assert.equal(c.HostConfig.PidsLimit, 42);
    const nofile = await ok(['run', '--rm', '--ulimit', 'nofile=1000:2000', IMAGE, 'sh', '-c', 'ulimit -n; ulimit -Hn']);
    assert.deepEqual(nofile.split('\n'), ['1000', '2000']);
    const mem = await ok(['run', '--rm', '-m', '64m', IMAGE, 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max']);
    assert.equal(mem, String(64 * 1024 * 1024));
    const pids = await ok(['run', '--rm', '--pids-limit', '42', IMAGE, 'sh', '-c', 'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max']);
    assert.equal(pids, '42');
    const quota = await ok(['run', '--rm', '--cpus', '0.5', IMAGE, 'sh', '-c', 'cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max']);
    assert.equal(quota, '50000');
    await ok(['rm', '-f', name]);
  });

  test('--runtime picks a known runtime and rejects an unknown one', async () => {
    assert.equal(await ok(['run', '--rm', '--runtime', 'runc', IMAGE, 'echo', 'runc']), 'runc');
    const r = await d.docker(['run', '--rm', '--runtime', 'nonesuch', IMAGE, 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /unknown or invalid runtime name: nonesuch/);
  });

  test('--rm removes the container after it exits, -d returns the id at once', async () => {
    const name = uniqueName('rm');
    await ok(['run', '--rm', '--name', name, IMAGE, 'true']);
    const gone = await d.docker(['inspect', name]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /No such (object|container)/);
    const id = await ok(['run', '-d', '--rm', '--name', name, IMAGE, 'sleep', '0.5']);
    assert.match(id, /^[0-9a-f]{64}$/);
    const removed = await d.api('POST', `/containers/${id}/wait?condition=removed`);
    assert.equal(removed.status, 200, removed.text());
    assert.equal(removed.json().StatusCode, 0);
    assert.equal((await d.docker(['inspect', id])).code, 1, 'a --rm container is gone after it exits');
  });
});

describe('lifecycle', () => {
  test('create, start, stop with -t, restart, kill -s, wait', async () => {
    const name = uniqueName('life');
    // PID 1 gets only the signals it handles: trap USR1, leave TERM unhandled.
    const id = await ok(['create', '--name', name, IMAGE, 'sh', '-c', 'trap "exit 10" USR1; while true; do sleep 0.1; done']);
    assert.equal((await inspect(name)).State.Status, 'created');
    await ok(['start', name]);
    let s = (await inspect(id)).State;
    assert.equal(s.Status, 'running');
    assert.equal(s.Running, true);
    assert.ok(s.Pid > 0);
    // The shell as PID 1 ignores SIGTERM: stop must fall back to SIGKILL after -t.
    await ok(['stop', '-t', '1', name]);
    s = (await inspect(id)).State;
    assert.equal(s.Status, 'exited');
    assert.equal(s.ExitCode, 137);
    assert.ok(Date.parse(s.FinishedAt) >= Date.parse(s.StartedAt));
    await ok(['restart', '-t', '1', name]);
    assert.equal((await inspect(name)).State.Running, true);
    await ok(['kill', '-s', 'SIGUSR1', name]);
    assert.equal(await ok(['wait', name]), '10');
    await ok(['rm', name]);
  });

  test('stop uses the image StopSignal', async () => {
    const name = uniqueName('stopsig');
    await ok(['run', '-d', '--name', name, STOPSIG]);
    // The shell is PID 1: a SIGUSR1 before its trap is set is ignored. It says "ready" after.
    for (let i = 0; i < 200 && !(await ok(['logs', name])).includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    await ok(['stop', '-t', '20', name]);
    assert.equal((await inspect(name)).State.ExitCode, STOPSIGNAL_EXIT_CODE);
    await ok(['rm', name]);
  });

  test('wait with conditions', async () => {
    const name = uniqueName('wait');
    await ok(['create', '--name', name, IMAGE, 'sh', '-c', 'exit 5']);
    const next = d.api('POST', `/containers/${name}/wait?condition=next-exit`);
    await new Promise((r) => setTimeout(r, 100));
    await ok(['start', name]);
    const res = await next;
    assert.equal(res.status, 200);
    assert.equal(res.json().StatusCode, 5);
    const notRunning = await d.api('POST', `/containers/${name}/wait?condition=not-running`);
    assert.equal(notRunning.json().StatusCode, 5);
    const removed = d.api('POST', `/containers/${name}/wait?condition=removed`);
    await new Promise((r) => setTimeout(r, 100));
    await ok(['rm', name]);
    assert.equal((await removed).json().StatusCode, 5);
    await ok(['create', '--name', name, IMAGE, 'true']);
    const bad = await d.api('POST', `/containers/${name}/wait?condition=whenever`);
    assert.equal(bad.status, 400);
    await ok(['rm', name]);
  });

  test('rm refuses a running container without -f; rename; conflicts', async () => {
    const name = uniqueName('rmf');
    await ok(['run', '-d', '--name', name, IMAGE, 'sleep', '300']);
    const refused = await d.docker(['rm', name]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /container is running: stop the container before removing or force remove/);
    const dup = await d.docker(['create', '--name', name, IMAGE, 'true']);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /is already in use by container/);
    const dupRun = await d.docker(['run', '--name', name, IMAGE, 'true']);
    assert.equal(dupRun.code, 125, 'docker run reports its own failures with 125');
    const renamed = uniqueName('renamed');
    await ok(['rename', name, renamed]);
    assert.equal((await inspect(renamed)).Name, `/${renamed}`);
    assert.notEqual((await d.docker(['inspect', name])).code, 0);
    await ok(['rm', '-f', '-v', renamed]);
    assert.notEqual((await d.docker(['inspect', renamed])).code, 0);
  });
});

describe('docker ps', () => {
  test('lists with -a, -q, -n, -l, -s, --no-trunc, --format and filters', async () => {
    const tag = uniqueName('ps');
    const a = await ok(['run', '-d', '--name', `${tag}-a`, '-l', `grp=${tag}`, '-l', 'role=a', IMAGE, 'sleep', '300']);
    const b = await ok(['run', '--name', `${tag}-b`, '-l', `grp=${tag}`, IMAGE, 'sh', '-c', 'exit 2']).catch(async () => {
      return JSON.parse((await d.docker(['inspect', `${tag}-b`])).stdout)[0].Id as string;
    });
    const c = await ok(['create', '--name', `${tag}-c`, '-l', `grp=${tag}`, IMAGE, 'true']);
    const ids = async (...args: string[]) => (await ok(['ps', '-q', '--no-trunc', '--filter', `label=grp=${tag}`, ...args])).split('\n').filter(Boolean);
    assert.deepEqual(await ids(), [a]);
    assert.deepEqual(new Set(await ids('-a')), new Set([a, b, c]));
    assert.deepEqual(await ids('--filter', 'status=exited'), [b]);
    assert.deepEqual(await ids('--filter', 'exited=2'), [b]);
    assert.deepEqual(await ids('--filter', 'status=created'), [c]);
    assert.deepEqual(await ids('-a', '--filter', 'label=role=a'), [a]);
    assert.deepEqual(await ids('-a', '--filter', `name=${tag}-c`), [c]);
    assert.deepEqual(await ids('-a', '--filter', `id=${a.slice(0, 10)}`), [a]);
    assert.deepEqual(await ids('-a', '--filter', `ancestor=${IMAGE}`).then((l) => l.length), 3);
    assert.deepEqual(await ids('-a', '--filter', `before=${tag}-c`).then((l) => l.includes(c)), false);
    assert.deepEqual(await ids('-a', '--filter', `since=${tag}-a`).then((l) => new Set(l)), new Set([b, c]));
    assert.equal((await ok(['ps', '-l', '-q', '--no-trunc'])), c);
    assert.equal((await ok(['ps', '-n', '2', '-q'])).split('\n').length, 2);
    const short = await ok(['ps', '-a', '-q', '--filter', `name=${tag}-a`]);
    assert.equal(short, a.slice(0, 12));
    const formatted = await ok(['ps', '-a', '--filter', `name=${tag}-b`, '--format', '{{.Names}} {{.Status}} {{.Label "grp"}}']);
    assert.match(formatted, new RegExp(`^${tag}-b Exited \\(2\\) .* ago ${tag}$`));
    const sized = await ok(['ps', '-s', '--filter', `name=${tag}-a`, '--format', '{{.Size}}']);
    assert.match(sized, /B \(virtual /);
    const table = await ok(['ps', '--filter', `name=${tag}-a`]);
    assert.match(table, /CONTAINER ID\s+IMAGE\s+COMMAND/);
    assert.match(table, /Up /);
    await ok(['rm', '-f', a, b, c]);
  });

  test('container prune removes stopped containers only', async () => {
    const tag = uniqueName('prune');
    const running = await ok(['run', '-d', '-l', `grp=${tag}`, IMAGE, 'sleep', '300']);
    const stopped = await ok(['create', '-l', `grp=${tag}`, IMAGE, 'true']);
    const out = await ok(['container', 'prune', '-f', '--filter', `label=grp=${tag}`]);
    assert.match(out, new RegExp(stopped));
    assert.doesNotMatch(out, new RegExp(running));
    assert.equal((await d.docker(['inspect', stopped])).code, 1);
    await ok(['rm', '-f', running]);
  });
});

describe('docker inspect', () => {
  test('has State, Config, HostConfig, Mounts and NetworkSettings', async () => {
    const name = uniqueName('insp');
    await ok(['run', '--name', name, '-e', 'X=1', IMAGE, 'sh', '-c', 'exit 7']).catch(() => undefined);
    const c = await inspect(name);
    assert.equal(c.Name, `/${name}`);
    assert.equal(c.State.Status, 'exited');
    assert.equal(c.State.ExitCode, 7);
    assert.equal(c.State.Running, false);
    assert.equal(c.State.OOMKilled, false);
    assert.match(c.State.StartedAt, /^\d{4}-\d\d-\d\dT/);
    assert.match(c.State.FinishedAt, /^\d{4}-\d\d-\d\dT/);
    assert.equal(c.Path, 'sh');
    assert.deepEqual(c.Args, ['-c', 'exit 7']);
    assert.ok(c.Config.Env.includes('X=1'));
    assert.ok(c.Config.Env.some((e: string) => e.startsWith('PATH=')), 'image env is merged');
    assert.equal(c.Config.Image, IMAGE);
    assert.match(c.Image, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(c.Mounts, []);
    assert.equal(typeof c.NetworkSettings, 'object');
    assert.equal(await ok(['inspect', '-f', '{{.State.ExitCode}} {{.HostConfig.LogConfig.Type}}', name]), '7 json-file');
    await ok(['rm', name]);
  });
});
