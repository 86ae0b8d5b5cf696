// Secure defaults, driven by the real docker CLI: the default seccomp profile
// refuses what Docker's refuses (a static probe issues the calls and prints
// each errno; without a filter the kernel answers something else, so each
// EPERM is the filter's), seccomp=unconfined / seccomp=FILE / --privileged
// behave as in Docker, ordinary programs still run, and the device
// controller keeps containers off host devices unless --device grants one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';
import { buildDebianImage } from '../scripts/build-debian-image.ts';

const run = promisify(execFile);

let d: Daemon;
let image: string;
let dir: string;

// Calls Docker's default profile refuses, each with the answer the filter gives.
const BLOCKED: Record<string, string> = {
  'unshare-user': 'EPERM',
  'clone-user': 'EPERM',
  clone3: 'ENOSYS',
  mount: 'EPERM',
  keyctl: 'EPERM',
  add_key: 'EPERM',
  request_key: 'EPERM',
  kexec_load: 'EPERM',
  clock_settime: 'EPERM',
  'personality-exec': 'EPERM',
  'socket-vsock': 'EPERM',
  'socket-alg': 'EPERM',
  io_uring_setup: 'EPERM',
};
// Calls it lets through (ptrace: the kernel is newer than 4.8, so ESRCH for a process we do not trace).
const ALLOWED: Record<string, string> = {
  'clone-plain': '0',
  'personality-query': '0',
  'personality-linux32': '0',
  'socket-inet': '0',
  ptrace: 'ESRCH',
  getpid: '0',
};
const PROBES = [...Object.keys(BLOCKED), ...Object.keys(ALLOWED)];

async function probe(opts: string[], probes = PROBES): Promise<Record<string, string>> {
  const r = await d.docker(['run', '--rm', '-v', `${dir}:/probe:ro`, ...opts, image, '/probe/probe', ...probes]);
  assert.equal(r.code, 0, r.stderr);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-security-'));
  const source = path.join(import.meta.dirname, 'fixtures', 'syscall-probe.c');
  await run('gcc', ['-static', '-O2', '-o', path.join(dir, 'probe'), source]);
  d = await startDaemon();
  image = await loadTestImage(d, 'busybox');
});
after(async () => {
  await d?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('seccomp', () => {
  it('the default profile refuses what Docker refuses and allows the rest', async () => {
    const got = await probe([]);
    for (const [name, want] of Object.entries({ ...BLOCKED, ...ALLOWED })) assert.equal(got[name], want, `${name}: ${JSON.stringify(got)}`);
    // docker exec runs under the container's filter too.
    const name = uniqueName('seccomp-exec');
    assert.equal((await d.docker(['run', '-d', '--name', name, '-v', `${dir}:/probe:ro`, image, 'sleep', '300'])).code, 0);
    const e = await d.docker(['exec', name, '/probe/probe', 'keyctl', 'mount', 'getpid']);
    assert.equal(e.stdout, 'keyctl=EPERM\nmount=EPERM\ngetpid=0\n', e.stderr);
    await d.docker(['rm', '-f', name]);
  });

  it('seccomp=unconfined lifts the filter: the same calls reach the kernel', async () => {
    const got = await probe(['--security-opt', 'seccomp=unconfined']);
    for (const name of Object.keys(BLOCKED)) assert.notEqual(got[name], BLOCKED[name], `${name} still filtered: ${JSON.stringify(got)}`);
    assert.equal(got.mount, 'ENOENT');
    assert.equal(got.keyctl, '0');
    assert.equal(got['personality-exec'], '0');
  });

  it('--privileged runs without the filter; capabilities open their calls (CAP_SYS_ADMIN: mount, unshare)', async () => {
    const priv = await probe(['--privileged'], ['mount', 'keyctl', 'clone3']);
    assert.deepEqual(priv, { mount: 'ENOENT', keyctl: '0', clone3: 'EINVAL' });
    const admin = await probe(['--cap-add', 'SYS_ADMIN'], ['mount', 'unshare-user', 'clone3', 'keyctl']);
    // SYS_ADMIN opens the mount API and namespaces, never the keyrings.
    assert.deepEqual(admin, { mount: 'ENOENT', 'unshare-user': '0', clone3: 'EINVAL', keyctl: 'EPERM' });
    const r = await d.docker(['run', '--rm', '--cap-add', 'SYS_ADMIN', image, 'sh', '-c', 'mkdir /m && mount -t tmpfs none /m && echo mounted']);
    assert.equal(r.stdout.trim(), 'mounted', r.stderr);
    const denied = await d.docker(['run', '--rm', image, 'sh', '-c', 'mkdir /m && mount -t tmpfs none /m']);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr + denied.stdout, /operation not permitted|permission denied/i);
  });

  it('seccomp=FILE: the CLI sends the profile and the daemon applies it, conditions and errno included', async () => {
    const file = path.join(dir, 'profile.json');
    await writeFile(
      file,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
        syscalls: [
          { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
          // Dropped: the container lacks CAP_SYS_ADMIN.
          { names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, includes: { caps: ['CAP_SYS_ADMIN'] } },
          // Kept: the container lacks CAP_SYS_PTRACE.
          { name: 'keyctl', action: 'SCMP_ACT_ERRNO', errnoRet: 95, excludes: { caps: ['CAP_SYS_PTRACE'] } },
        ],
      }),
    );
    const opt = ['--security-opt', `seccomp=${file}`];
    const got = await probe(opt, ['keyctl', 'add_key', 'getpid', 'personality-exec']);
    assert.deepEqual(got, { keyctl: 'EOPNOTSUPP', add_key: '0', getpid: '0', 'personality-exec': '0' });
    const r = await d.docker(['run', '--rm', ...opt, image, 'mkdir', '/tmp/x']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Permission denied/);
    // Privileged with a profile of the client's: Docker applies the profile, filtered by the full capability set.
    const priv = await d.docker(['run', '--rm', '--privileged', ...opt, '-v', `${dir}:/probe:ro`, image, 'sh', '-c', '/probe/probe keyctl; mkdir /tmp/x']);
    assert.equal(priv.stdout, 'keyctl=0\n');
    assert.match(priv.stderr, /Permission denied/);
    // Valid JSON (the CLI checks that much) that is not a valid profile: Docker's messages.
    await writeFile(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ALLOW' }] }));
    const bad = await d.docker(['run', '--rm', ...opt, image, 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'/);
    await writeFile(file, JSON.stringify({ defaultAction: 7 }));
    const wrongType = await d.docker(['run', '--rm', ...opt, image, 'true']);
    assert.match(wrongType.stderr, /Decoding seccomp profile failed/);
  });

  it('ordinary programs work under the default profile (shell, files, processes, chroot, linux32)', async () => {
    const script = [
      'set -e',
      'mkdir -p /tmp/a/b && echo hi > /tmp/a/b/f && ln -s f /tmp/a/b/l && cat /tmp/a/b/l',
      'chmod 600 /tmp/a/b/f && chown 1:1 /tmp/a/b/f && stat -c %u:%a /tmp/a/b/f',
      'sleep 0.1 & wait && echo wait-ok',
      'ps -o comm | grep -qx ps && echo ps-ok',
      'date +%Y > /dev/null && echo date-ok',
      'chroot / true && echo chroot-ok',
      'top -b -n 1 > /dev/null && echo top-ok',
      'linux32 uname -m',
    ].join('\n');
    const r = await d.docker(['run', '--rm', image, 'sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['hi', '1:600', 'wait-ok', 'ps-ok', 'date-ok', 'chroot-ok', 'top-ok', 'i686']);
  });
});

describe('seccomp with a Debian userland', () => {
  it('bash, perl, coreutils, dpkg and apt run under the default profile; perl sees the same refusals', async () => {
    const img = await buildDebianImage();
    const ref = `berth-test/debian-security:${img.key}`;
    const imp = await d.docker(['import', img.archive, ref], { timeoutMs: 300_000 });
    assert.equal(imp.code, 0, imp.stderr);
    const script = [
      'set -e',
      'echo "$BASH_VERSION" | grep -q . && echo bash-ok',
      'find /usr/bin -type f | sort | head -1 > /dev/null && echo coreutils-ok',
      'dpkg -s bash | grep -q "Status: install ok installed" && echo dpkg-ok',
      'apt-cache policy bash > /dev/null && echo apt-ok',
      // 250 is keyctl(2) on x86_64 (these hosts): EPERM from the filter, read back through perl's $!.
      'perl -e \'print getpwuid(0) . "\\n"; my $r = syscall(250, 0, -3, 0); print(($r < 0 ? "keyctl $!" : "keyctl allowed"), "\\n")\'',
    ].join('\n');
    const r = await d.docker(['run', '--rm', ref, 'bash', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['bash-ok', 'coreutils-ok', 'dpkg-ok', 'apt-ok', 'root', 'keyctl Operation not permitted']);
    await d.docker(['rmi', ref]);
  });
});

describe('devices', () => {
  it('a node made with mknod cannot be used: the device controller denies it', async () => {
    const r = await d.docker(['run', '--rm', image, 'sh', '-c', 'mknod /dev/sda b 8 0 && echo made && cat /dev/sda']);
    assert.match(r.stdout, /^made$/m, r.stderr);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cat: can't open '\/dev\/sda': Operation not permitted/);
    // The default devices work.
    const ok = await d.docker(['run', '--rm', image, 'sh', '-c', 'head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok']);
    assert.deepEqual(ok.stdout.trim().split(/\s+/), ['4', '4', 'null-ok']);
  });

  it('--device adds a host device with its permissions; --privileged allows all', async () => {
    const dev = ['--device', '/dev/loop7:/dev/xvda:r'];
    const r = await d.docker(['run', '--rm', ...dev, image, 'sh', '-c', 'stat -c "%F %t:%T" /dev/xvda; dd if=/dev/xvda of=/dev/null count=1 2>/dev/null && echo read-ok; echo x > /dev/xvda || echo write-denied']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['block special file 7:7', 'read-ok', 'write-denied']);
    assert.match(r.stderr, /Operation not permitted/);
    // Without the mapping the same node is refused.
    const none = await d.docker(['run', '--rm', image, 'sh', '-c', 'mknod /dev/xvda b 7 7 && dd if=/dev/xvda of=/dev/null count=1']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /Operation not permitted/);
    const priv = await d.docker(['run', '--rm', '--privileged', image, 'sh', '-c', 'mknod /tmp/xvda b 7 7 && dd if=/tmp/xvda of=/dev/null count=1 2>/dev/null && echo priv-ok']);
    assert.equal(priv.stdout.trim(), 'priv-ok', priv.stderr);
    // Berth resolves devices when it writes the bundle (at create): Docker's message, earlier.
    const missing = await d.docker(['run', '--rm', '--device', '/dev/berth-no-such-device', image, 'true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /error gathering device information while adding custom device "\/dev\/berth-no-such-device": no such file or directory/);
  });

  it('--device with a directory maps the devices below it; directories outside /dev are refused', async () => {
    const r = await d.docker(['run', '--rm', '--device', '/dev/net:/dev/berth-net', image, 'stat', '-c', '%F %t:%T', '/dev/berth-net/tun']);
    assert.equal(r.stdout.trim(), 'character special file a:c8', r.stderr);
    const bad = await d.docker(['run', '--rm', '--device', '/proc', image, 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /a directory of devices must be under \/dev/);
  });

  it('--device-cgroup-rule opens a device by number', async () => {
    const r = await d.docker(['run', '--rm', '--device-cgroup-rule', 'b 7:7 r', image, 'sh', '-c', 'mknod /dev/xvda b 7 7 && dd if=/dev/xvda of=/dev/null count=1 2>/dev/null && echo rule-ok']);
    assert.equal(r.stdout.trim(), 'rule-ok', r.stderr);
    const bad = await d.docker(['run', '--rm', '--device-cgroup-rule', 'x 1:2 rwm', image, 'true']);
    assert.notEqual(bad.code, 0);
  });
});

describe('API socket', () => {
  it('is not world-accessible', async () => {
    const { stdout } = await run('stat', ['-c', '%a %U', d.socket]);
    assert.equal(stdout.trim(), '600 root');
  });
});
