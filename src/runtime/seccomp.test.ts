import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_CAPABILITIES } from './capabilities.ts';
import { defaultSeccompProfile } from './seccomp.ts';
import { kernelVersion, parseProfile, resolveProfile } from './seccomp-profile.ts';

const allowed = (p: ReturnType<typeof defaultSeccompProfile>, name: string) =>
  p.syscalls.filter((r) => r.names.includes(name) && r.action === 'SCMP_ACT_ALLOW');

describe('default seccomp profile', () => {
  const amd64 = { arch: 'amd64', kernel: [6, 1] as [number, number] };

  test('an allow list: anything unnamed fails with EPERM', () => {
    const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, amd64);
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(p.defaultErrnoRet, 1);
    assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    for (const name of ['read', 'openat', 'execve', 'arch_prctl', 'chroot', 'ptrace']) assert.ok(allowed(p, name).length, name);
    for (const name of ['mount', 'unshare', 'keyctl', 'add_key', 'kexec_load', 'clock_settime', 'io_uring_setup', 'reboot', 'bpf', 'userfaultfd', 'set_tls']) {
      assert.equal(allowed(p, name).length, 0, name);
    }
  });

  test('capabilities, architecture and kernel version decide the conditional rules', () => {
    const admin = defaultSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_TIME'], amd64);
    for (const name of ['mount', 'unshare', 'setns', 'clock_settime']) assert.ok(allowed(admin, name).length, name);
    // With CAP_SYS_ADMIN clone is unconditional and clone3 is no longer ENOSYS.
    assert.deepEqual(allowed(admin, 'clone').map((r) => r.args), [undefined]);
    assert.equal(admin.syscalls.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO'), false);
    const plain = defaultSeccompProfile(DEFAULT_CAPABILITIES, amd64);
    assert.deepEqual(allowed(plain, 'clone').map((r) => r.args), [[{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]]);
    assert.deepEqual(plain.syscalls.find((r) => r.names.includes('clone3')), { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    assert.deepEqual(allowed(plain, 'personality').map((r) => r.args![0].value), [0, 8, 0x20000, 0x20008, 0xffffffff]);
    const s390 = defaultSeccompProfile(DEFAULT_CAPABILITIES, { arch: 's390x', kernel: [6, 1] });
    assert.deepEqual(allowed(s390, 'clone').map((r) => r.args![0].index), [1]);
    const arm = defaultSeccompProfile(DEFAULT_CAPABILITIES, { arch: 'arm64', kernel: [6, 1] });
    assert.ok(allowed(arm, 'set_tls').length);
    assert.equal(allowed(arm, 'arch_prctl').length, 0);
    const old = defaultSeccompProfile(DEFAULT_CAPABILITIES, { arch: 'amd64', kernel: [4, 4] });
    assert.equal(allowed(old, 'ptrace').length, 0);
  });

  test('socket(2): every family but AF_ALG and AF_VSOCK', () => {
    const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, amd64);
    assert.deepEqual(allowed(p, 'socket').map((r) => [r.args![0].op, r.args![0].value]), [['SCMP_CMP_LT', 38], ['SCMP_CMP_EQ', 39], ['SCMP_CMP_GT', 40]]);
  });
});

describe('client profiles', () => {
  test('name or names, archMap or architectures, Docker wording for conflicts', () => {
    const p = resolveProfile(parseProfile('{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":13}]}'), { capabilities: [], arch: 'amd64' });
    assert.deepEqual(p, { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] });
    assert.throws(() => resolveProfile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['x'], archMap: [{ architecture: 'x', subArchitectures: null }] }, { capabilities: [] }), /both 'architectures' and 'archMap'/);
    assert.throws(() => parseProfile('{'), /Decoding seccomp profile failed/);
    assert.throws(() => parseProfile('{"syscalls":[{"names":["a"]}]}'), /needs an action/);
    assert.equal(resolveProfile(parseProfile('{}'), { capabilities: [] }), undefined);
  });

  test('kernel versions', () => {
    assert.deepEqual(kernelVersion('6.18.44-fc-v669'), [6, 18]);
    assert.deepEqual(kernelVersion('bogus'), [0, 0]);
  });
});
