// End-to-end tests of ConmonRuntime with the real conmon and runc on a tiny
// busybox root filesystem. Run: node --test src/runtime/
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExitInfo, LogEntry, LogOptions } from '../agent/agent-api.ts';
import type { ContainerRecord } from '../core/types.ts';
import { BerthError } from '../core/errors.ts';
import { ConmonRuntime } from './conmon-runtime.ts';
import { cgroupDirs, readCgroupFile, removeCgroup } from './cgroups.ts';
import { makeBusyboxRootfs, record, tempDir, testId } from './test-fixtures.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let rootfs: string;
let rt: ConmonRuntime;
const cgroupParent = `berth-test-${testId().slice(0, 10)}`;
const exits: { id: string; exit: ExitInfo }[] = [];
const runtimes: ConmonRuntime[] = [];

function newRuntime(base = dir): ConmonRuntime {
  const r = new ConmonRuntime({
    root: path.join(base, 'data', 'runtime'),
    runRoot: path.join(base, 'run'),
    runtimes: { runc: 'runc' },
    defaultRuntime: 'runc',
    cgroupParent,
  });
  runtimes.push(r);
  return r;
}

before(() => {
  dir = tempDir();
  rootfs = makeBusyboxRootfs(dir);
  rt = newRuntime();
  rt.onExit((id, exit) => exits.push({ id, exit }));
});

after(async () => {
  for (const base of [dir, path.join(dir, 'restart')]) {
    const r = newRuntime(base);
    for (const id of await r.known()) await r.delete(id).catch((err) => console.error('cleanup', id, err));
  }
  for (const x of runtimes) x.close();
  await removeCgroup(`/${cgroupParent}`).catch((err) => console.error('cgroup cleanup', err));
  await fs.rm(dir, { recursive: true, force: true });
});

async function run(c: ContainerRecord): Promise<{ pid: number; startedAt: string }> {
  await rt.create(c, rootfs, {});
  return rt.start(c);
}

async function waitExit(id: string, timeoutMs = 10_000): Promise<ExitInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = exits.find((x) => x.id === id);
    if (e) return e.exit;
    if (Date.now() > deadline) throw new Error(`container ${id} did not exit`);
    await sleep(20);
  }
}

const allLogs: LogOptions = { follow: false, stdout: true, stderr: true, since: 0, until: 0, tail: -1 };

async function collect(c: ContainerRecord, opts: Partial<LogOptions> = {}): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of rt.logs(c, { ...allLogs, ...opts })) out.push(e);
  return out;
}

const text = (entries: LogEntry[]) => entries.map((e) => e.data.toString()).join('');

describe('ConmonRuntime', () => {
  test('runs echo, keeps stdout and stderr apart, reports exit 0', async () => {
    const c = record({ cmd: ['sh', '-c', 'echo hi; echo oops >&2'] });
    const { pid, startedAt } = await run(c);
    assert.ok(pid > 0);
    assert.match(startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const exit = await waitExit(c.Id);
    assert.equal(exit.exitCode, 0);
    assert.equal(exit.oomKilled, false);
    assert.ok(exit.finishedAt >= startedAt, `${exit.finishedAt} >= ${startedAt}`);
    assert.deepEqual((await collect(c, { stderr: false })).map((e) => [e.stream, e.data.toString()]), [['stdout', 'hi\n']]);
    assert.deepEqual((await collect(c, { stdout: false })).map((e) => [e.stream, e.data.toString()]), [['stderr', 'oops\n']]);
    assert.equal((await collect(c)).length, 2);
    const st = await rt.state(c.Id);
    assert.equal(st.status, 'exited');
    assert.equal(st.exitCode, 0);
    assert.equal(st.finishedAt, exit.finishedAt);
  });

  test('states() of many containers agrees with state() of each, from one runtime list', async () => {
    const created = record({ cmd: ['true'] });
    await rt.create(created, rootfs, {});
    const running = record({ cmd: ['sleep', '30'] });
    await run(running);
    const exited = record({ cmd: ['sh', '-c', 'exit 4'] });
    await run(exited);
    await waitExit(exited.Id);
    const unknown = testId();
    const ids = [created.Id, running.Id, exited.Id];
    const all = await rt.states([...ids, unknown]);
    assert.deepEqual([...all.keys()].sort(), [...ids].sort(), 'an id without runtime state is left out');
    for (const id of ids) assert.deepEqual(all.get(id), await rt.state(id), `states() and state() of ${id}`);
    assert.equal(all.get(running.Id)?.status, 'running');
    assert.equal(all.get(exited.Id)?.exitCode, 4);
    assert.deepEqual(all.get(created.Id), { status: 'created', pid: 0 }, 'created but never started');
    for (const id of ids) await rt.delete(id);
  });

  test('propagates exit codes, reports each exit once, and can start again', async () => {
    const c = record({ cmd: ['sh', '-c', 'echo run; exit 3'] });
    await run(c);
    assert.equal((await waitExit(c.Id)).exitCode, 3);
    assert.equal((await rt.state(c.Id)).exitCode, 3);
    await sleep(2500); // a rescan of the exit dir must not report it again
    assert.equal(exits.filter((x) => x.id === c.Id).length, 1);
    // A second run of the same container is a new exit.
    await rt.start(c);
    const deadline = Date.now() + 10_000;
    while (exits.filter((x) => x.id === c.Id).length < 2 && Date.now() < deadline) await sleep(20);
    assert.equal(exits.filter((x) => x.id === c.Id).length, 2);
    assert.equal(text(await collect(c)), 'run\nrun\n');
  });

  test('a missing executable fails start with the runtime message, and leaves nothing behind', async () => {
    const c = record({ cmd: ['nosuchprogram', 'arg'] });
    await rt.create(c, rootfs, {});
    for (let i = 0; i < 2; i++) {
      await assert.rejects(rt.start(c), (err: unknown) => {
        assert.ok(err instanceof BerthError);
        assert.equal(err.kind, 'invalid');
        assert.match(err.message, /exec: "nosuchprogram": executable file not found in \$PATH/);
        return true;
      });
      assert.equal((await rt.state(c.Id)).status, 'created');
    }
    assert.deepEqual(await cgroupDirs(`/${cgroupParent}/${c.Id}`), []);
  });

  test('a file that is not executable gives "permission denied"', async () => {
    const c = record({ cmd: ['/bin/notexec'] });
    await rt.create(c, rootfs, {});
    await assert.rejects(rt.start(c), /permission denied/);
  });

  test('kill with SIGTERM, TERM, 15 and SIGKILL', async () => {
    const trapping = ['sh', '-c', 'trap "exit 42" TERM; echo ready; while true; do sleep 0.05; done'];
    for (const sig of ['SIGTERM', 'TERM', '15']) {
      const c = record({ cmd: trapping });
      await run(c);
      // wait for the trap to be installed
      const deadline = Date.now() + 5000;
      while (!text(await collect(c)).includes('ready') && Date.now() < deadline) await sleep(20);
      assert.equal((await rt.state(c.Id)).status, 'running');
      await rt.kill(c.Id, sig);
      assert.equal((await waitExit(c.Id)).exitCode, 42, sig);
    }
    const c = record({ cmd: ['sleep', '100'] });
    const { pid } = await run(c);
    const st = await rt.state(c.Id);
    assert.equal(st.status, 'running');
    assert.equal(st.pid, pid);
    await rt.kill(c.Id, 'SIGKILL');
    assert.equal((await waitExit(c.Id)).exitCode, 137);
    await assert.rejects(rt.kill(c.Id, 'SIGKILL'), (err: unknown) => {
      assert.ok(err instanceof BerthError);
      assert.equal(err.kind, 'conflict');
      assert.equal(err.message, `container ${c.Id} is not running`);
      return true;
    });
    await assert.rejects(rt.kill(c.Id, 'SIGNOPE'), /Invalid signal/);
  });

  test('memory, pids and cpu limits land in the container cgroup', async () => {
    const c = record({
      cmd: ['sleep', '100'],
      hostConfig: { Memory: 64 * 1024 * 1024, PidsLimit: 42, NanoCpus: 500_000_000, CpuShares: 512 },
    });
    await run(c);
    const cg = `/${cgroupParent}/${c.Id}`;
    assert.equal(await readCgroupFile(cg, 'memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
    assert.equal(await readCgroupFile(cg, 'memory', 'memory.memsw.limit_in_bytes'), String(128 * 1024 * 1024));
    assert.equal(await readCgroupFile(cg, 'pids', 'pids.max'), '42');
    assert.equal(await readCgroupFile(cg, 'cpu', 'cpu.cfs_quota_us'), '50000');
    assert.equal(await readCgroupFile(cg, 'cpu', 'cpu.cfs_period_us'), '100000');
    assert.equal(await readCgroupFile(cg, 'cpu', 'cpu.shares'), '512');
    // delete kills it and removes its cgroup from every hierarchy (v1 controllers, name=systemd, unified)
    assert.ok((await cgroupDirs(cg)).length >= 3);
    await rt.delete(c.Id);
    assert.deepEqual(await cgroupDirs(cg), []);
    assert.equal(existsSync(path.join(dir, 'data', 'runtime', c.Id)), false);
    assert.ok(!(await rt.known()).includes(c.Id));
    await assert.rejects(rt.state(c.Id), (err: unknown) => err instanceof BerthError && err.kind === 'not-found');
  });

  test('delete after the process exited leaves no runc state, cgroup or files (and runc agrees)', async () => {
    const c = record({ cmd: ['sh', '-c', 'sleep 0.2; exit 4'], hostConfig: { PidsLimit: 50 } });
    await run(c);
    const cg = `/${cgroupParent}/${c.Id}`;
    assert.ok((await cgroupDirs(cg)).length >= 3);
    assert.equal((await waitExit(c.Id)).exitCode, 4);
    await rt.delete(c.Id);
    assert.deepEqual(await cgroupDirs(cg), []);
    assert.equal(existsSync(path.join(dir, 'run', 'runc', c.Id)), false);
    const listed = await new Promise<string>((resolve, reject) => {
      const p = spawn('runc', ['--root', path.join(dir, 'run', 'runc'), 'list', '-q'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.on('error', reject);
      p.on('close', () => resolve(out));
    });
    assert.ok(!listed.split('\n').includes(c.Id), 'runc no longer lists it');
    assert.equal(existsSync(path.join(dir, 'data', 'runtime', c.Id)), false);
  });

  test('an out-of-memory kill is reported as oomKilled', async () => {
    const c = record({
      cmd: ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'],
      hostConfig: { Memory: 8 * 1024 * 1024, MemorySwap: 8 * 1024 * 1024 },
    });
    await run(c);
    const exit = await waitExit(c.Id);
    assert.equal(exit.oomKilled, true);
    assert.equal(exit.exitCode, 137);
    assert.equal((await rt.state(c.Id)).oomKilled, true);
    assert.doesNotMatch(text(await collect(c)), /survived/);
  });

  test('open files: the highest limit this host allows by default, Ulimits when given', async () => {
    const hostHard = Number(/^Max open files\s+\S+\s+(\S+)/m.exec(await fs.readFile('/proc/self/limits', 'utf8'))?.[1] ?? 1048576);
    const c = record({ cmd: ['sh', '-c', 'ulimit -n; ulimit -Hn'] });
    await run(c);
    await waitExit(c.Id);
    const want = String(Math.min(1048576, hostHard));
    assert.equal(text(await collect(c)), `${want}\n${want}\n`);
    const u = record({ cmd: ['sh', '-c', 'ulimit -n; ulimit -Hn'], hostConfig: { Ulimits: [{ Name: 'nofile', Soft: 1000, Hard: 2000 }] } });
    await run(u);
    await waitExit(u.Id);
    assert.equal(text(await collect(u)), '1000\n2000\n');
  });

  test('read-only root filesystem', async () => {
    const c = record({ cmd: ['sh', '-c', 'touch /newfile || exit 9'], hostConfig: { ReadonlyRootfs: true } });
    await run(c);
    assert.equal((await waitExit(c.Id)).exitCode, 9);
    assert.match(text(await collect(c, { stdout: false })), /Read-only file system/);
  });

  test('user switching: names, numbers, supplementary groups, unknown user', async () => {
    const cases: [string, string][] = [
      ['app', 'uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)'],
      ['1000:2000', 'uid=1000(app) gid=2000(extra) groups=2000(extra)'],
      ['app:root', 'uid=1000(app) gid=0(root) groups=0(root)'],
      ['4242', 'uid=4242 gid=0(root) groups=0(root)'],
      ['', 'uid=0(root) gid=0(root) groups=0(root)'],
    ];
    for (const [user, want] of cases) {
      const c = record({ cmd: ['sh', '-c', 'id; echo $HOME'], config: { User: user } });
      await run(c);
      assert.equal((await waitExit(c.Id)).exitCode, 0);
      const [idLine, home] = text(await collect(c)).split('\n');
      assert.equal(idLine, want, `user ${JSON.stringify(user)}`);
      if (user === 'app') assert.equal(home, '/home/app');
    }
    const bad = record({ cmd: ['id'], config: { User: 'nosuchuser' } });
    await assert.rejects(rt.create(bad, rootfs, {}), /unable to find user nosuchuser: no matching entries in passwd file/);
    assert.ok(!(await rt.known()).includes(bad.Id));
  });

  test('environment, hostname, working directory, /etc files', async () => {
    const c = record({
      cmd: ['sh', '-c', 'echo "$FOO $BAR $HOSTNAME $PATH"; pwd; hostname; cat /etc/hostname; grep -c localhost /etc/hosts; grep -c nameserver /etc/resolv.conf'],
      config: { Env: ['BAR=container'], Hostname: 'boxy', WorkingDir: '/tmp' },
    });
    await rt.create(c, rootfs, { Env: ['FOO=image', 'BAR=image'] });
    await rt.start(c);
    await waitExit(c.Id);
    const lines = text(await collect(c)).split('\n');
    assert.equal(lines[0], 'image container boxy /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    assert.deepEqual(lines.slice(1, 4), ['/tmp', 'boxy', 'boxy']);
    assert.ok(Number(lines[4]) >= 1);
    assert.ok(Number(lines[5]) >= 1);
  });

  test('tty output and the "none" log driver', async () => {
    const t = record({ cmd: ['sh', '-c', 'test -t 1 && echo tty'], config: { Tty: true } });
    await run(t);
    assert.equal((await waitExit(t.Id)).exitCode, 0);
    assert.equal(text(await collect(t)).replace(/\r/g, ''), 'tty\n');

    const n = record({ cmd: ['echo', 'nothing kept'], hostConfig: { LogConfig: { Type: 'none' } } });
    await run(n);
    assert.equal((await waitExit(n.Id)).exitCode, 0);
    await assert.rejects(collect(n), /does not support reading/);
  });

  test('follow streams lines until the container exits', async () => {
    const c = record({ cmd: ['sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.2; done; printf partial'] });
    await run(c);
    const got: string[] = [];
    for await (const e of rt.logs(c, { ...allLogs, follow: true })) got.push(e.data.toString());
    assert.deepEqual(got, ['line1\n', 'line2\n', 'line3\n', 'partial']);
    // tail after the fact
    assert.deepEqual((await collect(c, { tail: 2 })).map((e) => e.data.toString()), ['line3\n', 'partial']);
  });

  test('follow ends when the signal aborts', async () => {
    const c = record({ cmd: ['sh', '-c', 'echo first; sleep 100'] });
    await run(c);
    const ac = new AbortController();
    const got: string[] = [];
    setTimeout(() => ac.abort(), 600);
    const t0 = Date.now();
    for await (const e of rt.logs(c, { ...allLogs, follow: true, signal: ac.signal })) got.push(e.data.toString());
    assert.deepEqual(got, ['first\n']);
    assert.ok(Date.now() - t0 < 3000);
    await rt.delete(c.Id);
  });

  test('a new runtime after the daemon died sees running containers and exits that happened meanwhile', async () => {
    // A separate Node process creates and starts two containers, then is SIGKILLed.
    const ids = [testId(), testId()];
    const child = spawn(
      process.execPath,
      [path.join(here, 'test-daemon-child.ts'), path.join(dir, 'restart'), rootfs, cgroupParent, ...ids],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: string) => {
        out += d;
        if (out.includes('started\n')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)));
    });
    const pids = JSON.parse(out.split('\n')[0]) as number[];
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    await sleep(1500); // the second container ("sleep 0.5; exit 7") ends while no daemon runs
    const rt2 = newRuntime(path.join(dir, 'restart'));
    const seen: { id: string; exit: ExitInfo }[] = [];
    rt2.onExit((id, exit) => seen.push({ id, exit }));
    assert.ok((await rt2.known()).includes(ids[0]));
    const running = await rt2.state(ids[0]);
    assert.equal(running.status, 'running');
    assert.equal(running.pid, pids[0]);
    const exited = await rt2.state(ids[1]);
    assert.equal(exited.status, 'exited');
    assert.equal(exited.exitCode, 7);
    assert.match(exited.finishedAt ?? '', /Z$/);
    // The exit nobody heard of is reported once.
    const deadline = Date.now() + 5000;
    while (!seen.some((s) => s.id === ids[1]) && Date.now() < deadline) await sleep(20);
    assert.equal(seen.filter((s) => s.id === ids[1]).length, 1);
    assert.equal(seen.find((s) => s.id === ids[1])?.exit.exitCode, 7);
    // And the running one can be controlled by the new instance.
    await rt2.kill(ids[0], 'KILL');
    while (!seen.some((s) => s.id === ids[0]) && Date.now() < deadline + 5000) await sleep(20);
    assert.equal(seen.find((s) => s.id === ids[0])?.exit.exitCode, 137);
  });
});
