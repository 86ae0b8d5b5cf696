// docker exec without a TTY runs through berth-exec (src/runtime/native) in
// place of `runc exec`. Both must put the process in the same place: this
// runs one report (identity, capabilities, no_new_privs, seccomp and what
// it refuses, cgroups, namespaces, rlimits, oom score, directory,
// environment) through each, on one daemon with the helper and one started
// with --exec-helper none, for containers and exec options that change
// each of them, and compares the two; and it checks that each path really
// was the one taken.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

const run = promisify(execFile);

let helper: Daemon;
let runc: Daemon;
let image: string;
let dir: string;

const PROBES = ['unshare-user', 'clone3', 'mount', 'keyctl', 'socket-vsock', 'personality-exec', 'clock_settime', 'ptrace', 'socket-inet', 'getpid', 'nr-1000'];

// The report, with what differs between any two containers (ids, namespace
// inode numbers, the hostname) replaced by what it is relative to the
// container's init (pid 1).
const REPORT = [
  'id',
  "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status",
  // each test daemon has its own cgroup parent
  "sed -E 's/[0-9a-f]{64}/ID/; s#/berth-e2e-[^/]+/#/PARENT/#' /proc/self/cgroup",
  'cmp -s /proc/self/cgroup /proc/1/cgroup && echo cgroups: as init',
  'for n in ipc mnt net pid uts cgroup; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ] && echo "$n: as init" || echo "$n: not as init"; done',
  'ulimit -a',
  "grep 'Max open files' /proc/1/limits",
  'cat /proc/self/oom_score_adj',
  'pwd',
  'env | grep -v ^HOSTNAME= | sort',
  'mkdir /tmp/probe-dir 2>&1; echo mkdir=$?',
  `/probe/probe ${PROBES.join(' ')}`,
].join('; ');

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-exec-confinement-'));
  await chmod(dir, 0o755); // the probe runs as other users too
  await run('gcc', ['-static', '-O2', '-o', path.join(dir, 'probe'), path.join(import.meta.dirname, 'fixtures', 'syscall-probe.c')]);
  // seccomp=FILE: allow everything but mkdir, refused with EACCES.
  await writeFile(
    path.join(dir, 'no-mkdir.json'),
    JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }),
  );
  const started = await Promise.allSettled([startDaemon(), startDaemon({ args: ['--exec-helper', 'none'] })]);
  if (started[0].status === 'fulfilled') helper = started[0].value;
  if (started[1].status === 'fulfilled') runc = started[1].value;
  for (const s of started) if (s.status === 'rejected') throw s.reason;
  [image] = await Promise.all([loadTestImage(helper, 'busybox'), loadTestImage(runc, 'busybox')]);
});
after(async () => {
  await Promise.all([helper?.cleanup(), runc?.cleanup()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function report(d: Daemon, runOpts: string[], execOpts: string[]): Promise<string> {
  const name = uniqueName('exec-conf');
  const started = await d.docker(['run', '-d', '--name', name, '-v', `${dir}:/probe:ro`, ...runOpts, image, 'sleep', '300']);
  assert.equal(started.code, 0, started.stderr);
  try {
    const r = await d.docker(['exec', ...execOpts, name, 'sh', '-c', REPORT]);
    assert.equal(r.code, 0, `exec ${execOpts.join(' ')} in a container run with ${runOpts.join(' ')}: ${r.stderr}`);
    return r.stdout;
  } finally {
    await d.docker(['rm', '-f', name]);
  }
}

/** The command name of the parent of a process the exec started, seen from the host. */
async function execParent(d: Daemon): Promise<string> {
  const name = uniqueName('exec-parent');
  assert.equal((await d.docker(['run', '-d', '--name', name, image, 'sleep', '300'])).code, 0);
  try {
    assert.equal((await d.docker(['exec', '-d', name, 'sleep', '123'])).code, 0);
    for (let i = 0; i < 100; i++) {
      const top = await d.docker(['top', name, '-o', 'pid,ppid,args']);
      const line = top.stdout.split('\n').find((l) => / sleep 123$/.test(l));
      if (line) {
        const ppid = line.trim().split(/\s+/)[1];
        return (await readFile(`/proc/${ppid}/comm`, 'utf8')).trim();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the exec process never showed in docker top');
  } finally {
    await d.docker(['rm', '-f', name]);
  }
}

// Privileged processes get every capability the host's bounding set has.
const HOST_CAPS = /^CapBnd:\t([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1];

const CASES: { title: string; run: string[]; exec: string[]; expect: RegExp[]; hostPid?: boolean }[] = [
  { title: 'defaults', run: [], exec: [], expect: [/^uid=0\(root\)/m, /^CapEff:\t00000000a80425fb$/m, /^Seccomp:\t2$/m, /^mount=EPERM$/m, /^nr-1000=ENOSYS$/m, /^cgroups: as init$/m, /^mnt: as init$/m] },
  {
    title: 'exec --privileged -u -w -e',
    run: [],
    exec: ['--privileged', '-u', '1000:1000', '-w', '/tmp', '-e', 'EXTRA=1'],
    expect: [/^uid=1000\(\w+\) gid=1000/m, new RegExp(`^CapBnd:\t${HOST_CAPS}$`, 'm'), /^CapEff:\t0000000000000000$/m, /^\/tmp$/m, /^EXTRA=1$/m],
  },
  { title: 'cap-drop ALL, cap-add', run: ['--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', '--cap-add', 'CHOWN'], exec: [], expect: [/^CapEff:\t0000000000001001$/m] },
  {
    title: 'no-new-privileges, user, groups, ulimits, oom score',
    run: ['--security-opt', 'no-new-privileges', '--user', '1000:1000', '--group-add', '2000', '--ulimit', 'nofile=1024:2048', '--ulimit', 'nproc=500:600', '--oom-score-adj', '100'],
    exec: [],
    expect: [/^NoNewPrivs:\t1$/m, /groups=.*2000/m, /^open files\s+\(-n\) 1024$/m, /^max user processes\s+\(-u\) 500$/m, /^100$/m],
  },
  { title: 'seccomp=unconfined, memory and pids limits', run: ['--security-opt', 'seccomp=unconfined', '--memory', '64m', '--pids-limit', '50'], exec: [], expect: [/^Seccomp:\t0$/m, /^keyctl=(?!EPERM)/m] },
  { title: 'seccomp=FILE', run: [], exec: [], expect: [/^mkdir: .*Permission denied/m, /^mkdir=1$/m] },
  { title: '--privileged', run: ['--privileged'], exec: [], expect: [new RegExp(`^CapEff:\t${HOST_CAPS}$`, 'm'), /^Seccomp:\t0$/m] },
  // (pid 1 is then the host's init, whose namespaces the container may not read)
  { title: 'host network, pid and ipc', run: ['--network', 'host', '--pid', 'host', '--ipc', 'host'], exec: [], expect: [/^Seccomp:\t2$/m], hostPid: true },
];
// seccomp=FILE needs the path on the host, known once `dir` is made.
const withProfile = (c: (typeof CASES)[number]) => (c.title === 'seccomp=FILE' ? ['--security-opt', `seccomp=${path.join(dir, 'no-mkdir.json')}`] : c.run);

describe('docker exec through berth-exec', () => {
  it('takes the helper where it is built and runc exec with --exec-helper none', async () => {
    assert.equal(await execParent(helper), 'berth-exec');
    assert.equal(await execParent(runc), 'runc');
  });

  for (const c of CASES) {
    it(`puts the process where runc exec does: ${c.title}`, async () => {
      const runOpts = withProfile(c);
      const [viaHelper, viaRunc] = await Promise.all([report(helper, runOpts, c.exec), report(runc, runOpts, c.exec)]);
      // runc 1.1 (Go 1.19) raises the exec's soft open-files limit to the hard
      // one; berth-exec keeps the container's, as its init has it.
      const nofile = /^open files .*$/m;
      assert.equal(viaHelper.replace(nofile, ''), viaRunc.replace(nofile, ''));
      const soft = (text: string) => nofile.exec(text)?.[0].split(/\s+/).pop();
      // (with --pid host, pid 1 is the host's init: the soft limit must then equal runc's, soft and hard being the same)
      const init = c.hostPid ? soft(viaRunc) : /^Max open files\s+(\d+)/m.exec(viaHelper)?.[1];
      assert.equal(soft(viaHelper), init, viaHelper);
      for (const re of c.expect) assert.match(viaHelper, re);
    });
  }

  it('enters a working directory the user could not reach, as runc does (as root first)', async () => {
    for (const d of [helper, runc]) {
      const name = uniqueName('exec-cwd');
      assert.equal((await d.docker(['run', '-d', '--name', name, image, 'sleep', '300'])).code, 0);
      try {
        assert.equal((await d.docker(['exec', name, 'sh', '-c', 'mkdir -p /secret/inner && chmod 700 /secret && chmod 755 /secret/inner'])).code, 0);
        const r = await d.docker(['exec', '-u', '1000', '-w', '/secret/inner', name, 'sh', '-c', 'pwd; id -u; ls /secret 2>&1 >/dev/null | grep -c "Permission denied"']);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(r.stdout, '/secret/inner\n1000\n1\n');
      } finally {
        await d.docker(['rm', '-f', name]);
      }
    }
  });

  it('fails the way runc exec does: unknown command, missing directory, not executable', async () => {
    for (const d of [helper, runc]) {
      const name = uniqueName('exec-fail');
      assert.equal((await d.docker(['run', '-d', '--name', name, image, 'sleep', '300'])).code, 0);
      try {
        // Docker writes the runtime's error into the exec's output stream.
        const missing = await d.docker(['exec', name, 'no-such-command']);
        assert.equal(missing.code, 126, missing.stderr);
        assert.match(missing.stdout, /^OCI runtime exec failed: .*exec: "no-such-command": executable file not found in \$PATH/);
        const cwd = await d.docker(['exec', '-w', '/no/such/dir', name, 'true']);
        assert.equal(cwd.code, 126, cwd.stderr);
        assert.match(cwd.stdout, /chdir to cwd \("\/no\/such\/dir"\) set in config.json failed: no such file or directory/i);
        const notExec = await d.docker(['exec', name, '/etc/passwd']);
        assert.equal(notExec.code, 126, notExec.stderr);
        assert.match(notExec.stdout, /permission denied/i);
      } finally {
        await d.docker(['rm', '-f', name]);
      }
    }
  });
});
