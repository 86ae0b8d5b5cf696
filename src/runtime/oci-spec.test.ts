// Unit tests of the pure parts: spec generation, capabilities, signals, users, sizes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { buildOciSpec, mergeEnv, type SpecInputs } from './oci-spec.ts';
import { capabilitiesFromMask, capabilitySet, DEFAULT_CAPABILITIES } from './capabilities.ts';
import { parseSignal } from './signals.ts';
import { parseByteSize, logSettings } from './log-config.ts';
import { resolveUser } from './user.ts';
import { hostsFile, resolvConfFile } from './etc-files.ts';
import { record, tempDir } from './test-fixtures.ts';
import { parseRfc3339Ns, rfc3339FromNs } from './time.ts';

function spec(over: Partial<Parameters<typeof record>[0]> = {}, inputs: Partial<SpecInputs> = {}) {
  const c = record({ cmd: ['sh', '-c', 'true'], ...over });
  return buildOciSpec({
    container: c,
    rootfs: '/r',
    image: {},
    user: { uid: 0, gid: 0, additionalGids: [0], home: '/root' },
    bundleDir: '/b',
    defaultNofile: 1024,
    cgroupParent: 'berth',
    seccomp: true,
    ...inputs,
  });
}

describe('OCI spec', () => {
  test('defaults follow Docker', () => {
    const s = spec();
    assert.deepEqual(s.process.args, ['sh', '-c', 'true']);
    assert.equal(s.process.cwd, '/');
    assert.deepEqual(s.process.capabilities.bounding, DEFAULT_CAPABILITIES);
    assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }]);
    assert.equal(s.root.readonly, false);
    assert.match(s.linux.cgroupsPath, /^\/berth\/[0-9a-f]{64}$/);
    assert.deepEqual(s.linux.namespaces.map((n) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
    const shm = s.mounts.find((m) => m.destination === '/dev/shm');
    assert.ok(shm?.options?.includes('size=67108864'));
    for (const d of ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) {
      assert.ok(s.mounts.some((m) => m.destination === d), d);
    }
    assert.ok(s.linux.maskedPaths?.includes('/proc/kcore'));
    assert.ok(s.linux.readonlyPaths?.includes('/proc/sys'));
    assert.ok(s.linux.seccomp);
    assert.equal(s.process.noNewPrivileges, false);
    assert.equal(s.hostname, s.linux.cgroupsPath.split('/')[2].slice(0, 12));
  });

  test('resources', () => {
    const s = spec({ hostConfig: { Memory: 100, NanoCpus: 1_500_000_000, CpuShares: 256, PidsLimit: 10, ShmSize: 1000 } });
    assert.deepEqual(s.linux.resources.memory, { limit: 100, swap: 200 });
    assert.deepEqual(s.linux.resources.cpu, { period: 100000, quota: 150000, shares: 256 });
    assert.deepEqual(s.linux.resources.pids, { limit: 10 });
    assert.ok(s.mounts.find((m) => m.destination === '/dev/shm')?.options?.includes('size=1000'));
    assert.equal(spec({ hostConfig: { Memory: 100, MemorySwap: -1 } }).linux.resources.memory?.swap, -1);
    assert.equal(spec({ hostConfig: { Memory: 100, MemorySwap: 300 } }).linux.resources.memory?.swap, 300);
    assert.throws(() => spec({ hostConfig: { Memory: 100, MemorySwap: 50 } }), /memoryswap/);
    assert.equal(spec({ hostConfig: { PidsLimit: -1 } }).linux.resources.pids, undefined);
  });

  test('privileged, read-only, no-new-privileges, seccomp=unconfined', () => {
    const p = spec({ hostConfig: { Privileged: true } }, { hostDevices: [{ path: '/dev/sda', type: 'b', major: 8, minor: 0 }] });
    assert.equal(p.linux.maskedPaths, undefined);
    assert.equal(p.linux.readonlyPaths, undefined);
    assert.equal(p.linux.seccomp, undefined);
    assert.deepEqual(p.linux.devices?.map((d) => d.path), ['/dev/sda']);
    assert.deepEqual(p.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
    assert.ok(p.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
    assert.ok(!p.mounts.find((m) => m.destination === '/sys')?.options?.includes('ro'));
    assert.equal(spec({ hostConfig: { ReadonlyRootfs: true } }).root.readonly, true);
    assert.equal(spec({ hostConfig: { SecurityOpt: ['no-new-privileges'] } }).process.noNewPrivileges, true);
    assert.equal(spec({ hostConfig: { SecurityOpt: ['no-new-privileges:true'] } }).process.noNewPrivileges, true);
    assert.equal(spec({ hostConfig: { SecurityOpt: ['no-new-privileges=true'] } }).process.noNewPrivileges, true);
    assert.equal(spec({ hostConfig: { SecurityOpt: ['no-new-privileges:false'] } }).process.noNewPrivileges, false);
    assert.equal(spec({ hostConfig: { SecurityOpt: ['seccomp=unconfined'] } }).linux.seccomp, undefined);
    assert.throws(() => spec({ hostConfig: { SecurityOpt: ['bogus'] } }), /security-opt/);
  });

  test('host network, binds and tmpfs', () => {
    const s = spec({ hostConfig: { NetworkMode: 'host', Binds: ['/srv/data:/data:ro', 'named:/vol'], Tmpfs: { '/run': 'size=1m' } } });
    assert.ok(!s.linux.namespaces.some((n) => n.type === 'network' || n.type === 'uts'));
    assert.equal(s.hostname, undefined);
    const bind = s.mounts.find((m) => m.destination === '/data');
    assert.deepEqual(bind, { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro', 'rprivate'] });
    assert.ok(!s.mounts.some((m) => m.destination === '/vol'));
    assert.deepEqual(s.mounts.find((m) => m.destination === '/run')?.options, ['nosuid', 'nodev', 'noexec', 'size=1m']);
  });

  test('environment merge', () => {
    const env = mergeEnv({ image: ['PATH=/img', 'A=1', 'B=2'], container: ['B=3', 'C=4', 'A'], hostname: 'h', home: '/root', tty: true });
    assert.deepEqual(env, ['PATH=/img', 'HOSTNAME=h', 'TERM=xterm', 'B=3', 'C=4', 'HOME=/root']);
    assert.deepEqual(mergeEnv({ hostname: 'h', home: '/', tty: false }), [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOSTNAME=h',
      'HOME=/',
    ]);
  });
});

describe('capabilities', () => {
  test('add, drop, ALL, prefixes', () => {
    assert.ok(capabilitySet({ capAdd: ['NET_ADMIN'] }).includes('CAP_NET_ADMIN'));
    assert.ok(!capabilitySet({ capDrop: ['cap_chown'] }).includes('CAP_CHOWN'));
    assert.deepEqual(capabilitySet({ capDrop: ['ALL'], capAdd: ['KILL'] }), ['CAP_KILL']);
    assert.equal(capabilitySet({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] }).includes('CAP_SYS_ADMIN'), false);
    assert.throws(() => capabilitySet({ capAdd: ['NOPE'] }), /unknown capability/);
    const available = capabilitiesFromMask('000001fffeffffff');
    assert.equal(available.includes('CAP_SYS_RESOURCE'), false);
    assert.equal(capabilitySet({ privileged: true, available }).includes('CAP_SYS_RESOURCE'), false);
    assert.throws(() => capabilitySet({ capAdd: ['SYS_RESOURCE'], available }), /not available/);
  });
});

describe('signals', () => {
  test('names, short names, numbers, real-time', () => {
    assert.equal(parseSignal('SIGTERM'), 15);
    assert.equal(parseSignal('TERM'), 15);
    assert.equal(parseSignal('15'), 15);
    assert.equal(parseSignal('kill'), 9);
    assert.equal(parseSignal('SIGRTMIN+3'), 37);
    assert.equal(parseSignal('RTMAX'), 64);
    assert.throws(() => parseSignal('SIGFOO'), /Invalid signal/);
    assert.throws(() => parseSignal('0'), /Invalid signal/);
  });
});

describe('misc', () => {
  test('sizes and log settings', () => {
    assert.equal(parseByteSize('10m'), 10 * 1024 * 1024);
    assert.equal(parseByteSize('1k'), 1024);
    assert.equal(parseByteSize('100'), 100);
    assert.deepEqual(logSettings({}), { driver: 'json-file', maxSize: 0, maxFile: 1 });
    assert.deepEqual(logSettings({ LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '3' } } }), { driver: 'json-file', maxSize: 1_000_000, maxFile: 3 });
    assert.deepEqual(logSettings({ LogConfig: { Type: 'k8s-file', Config: { 'max-size': '1k' } } }), { driver: 'k8s-file', maxSize: 1000, maxFile: 1 });
    assert.deepEqual(logSettings({ LogConfig: { Type: 'none' } }), { driver: 'none', maxSize: 0, maxFile: 1 });
    assert.throws(() => logSettings({ LogConfig: { Type: 'json-file', Config: { 'max-file': '0' } } }), /max-file cannot be less than 1/);
    assert.throws(() => logSettings({ LogConfig: { Type: 'syslog' } }), /no log driver named/);
  });

  test('time', () => {
    const ns = parseRfc3339Ns('2024-05-01T14:00:00.123456789+02:00')!;
    assert.equal(rfc3339FromNs(ns), '2024-05-01T12:00:00.123456789Z');
    assert.equal(rfc3339FromNs(parseRfc3339Ns('2024-05-01T12:00:00Z')!), '2024-05-01T12:00:00.000000000Z');
  });

  test('etc files', async () => {
    const hosts = hostsFile({ hostname: 'h', extraHosts: ['db:10.0.0.2', 'v6:[::1]'] });
    assert.match(hosts, /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(hosts, /^10\.0\.0\.2\tdb$/m);
    assert.match(hosts, /^::1\tv6$/m);
    const dir = tempDir();
    try {
      await fs.writeFile(path.join(dir, 'r'), 'nameserver 127.0.0.53\nsearch example.com\noptions edns0\n');
      assert.equal(await resolvConfFile({ hostResolvConf: path.join(dir, 'r') }), 'search example.com\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n');
      assert.equal(await resolvConfFile({ hostResolvConf: path.join(dir, 'r'), dns: ['1.1.1.1'] }), 'search example.com\nnameserver 1.1.1.1\noptions edns0\n');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('users resolve inside the rootfs, symlinks stay inside', async () => {
    const dir = tempDir();
    try {
      const root = path.join(dir, 'root');
      await fs.mkdir(path.join(root, 'etc'), { recursive: true });
      await fs.writeFile(path.join(dir, 'host-passwd'), 'evil:x:0:0::/:/bin/sh\n');
      // /etc/passwd -> an absolute link: must resolve inside root, not on the host
      await fs.mkdir(path.join(root, 'data'));
      await fs.writeFile(path.join(root, 'data', 'passwd'), 'web:x:33:33::/var/www:/bin/sh\n');
      await fs.symlink('/data/passwd', path.join(root, 'etc', 'passwd'));
      await fs.writeFile(path.join(root, 'etc', 'group'), 'web:x:33:\nadm:x:4:web\n');
      assert.deepEqual(await resolveUser(root, 'web'), { uid: 33, gid: 33, additionalGids: [33, 4], home: '/var/www' });
      assert.deepEqual(await resolveUser(root, 'web', ['adm', '99']), { uid: 33, gid: 33, additionalGids: [33, 4, 99], home: '/var/www' });
      await assert.rejects(resolveUser(root, 'evil'), /unable to find user evil: no matching entries in passwd file/);
      await assert.rejects(resolveUser(root, 'web:nogroup'), /unable to find group nogroup: no matching entries in group file/);
      assert.deepEqual(await resolveUser(root, '5:6'), { uid: 5, gid: 6, additionalGids: [6], home: '/' });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
