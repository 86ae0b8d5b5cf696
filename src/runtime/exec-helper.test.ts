// berth-exec refuses a plan whose pid is not the container's process any
// more (a pid file naming a number the host has since reused): it must not
// join that process's namespaces or run anything. A host `sleep` stands in
// for the process that took the number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HelperLauncher, helperPlan } from './exec-helper.ts';
import type { OciProcess, OciSpec } from './oci-types.ts';

const helper = fileURLToPath(new URL('../../build/native/berth-exec', import.meta.url));

test('berth-exec runs nothing when the pid is not in the container cgroup', { skip: !existsSync(helper) && 'berth-exec is not built' }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-exec-pid-'));
  const marker = path.join(dir, 'ran');
  const host = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const proc: OciProcess = {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/bin/touch', marker],
      env: ['PATH=/usr/bin:/bin'],
      cwd: '/',
      capabilities: { bounding: [], effective: [], permitted: [] },
      rlimits: [],
      noNewPrivileges: false,
    };
    const spec = {
      process: proc,
      linux: { namespaces: [{ type: 'mount' }], cgroupsPath: '/berth-no-such-parent/0123456789abcdef', resources: { devices: [] } },
    } as unknown as OciSpec;
    const plan = helperPlan(spec, proc, host.pid!, []);
    assert.ok(plan, 'a plan for a plain process');
    const session = new HelperLauncher(helper).exec(plan, { stdin: false, detach: false });
    for await (const _ of session.output) void _;
    const { exitCode, error } = await session.exited;
    assert.equal(exitCode, 126);
    assert.match(error ?? '', /container process \d+ is gone/);
    assert.equal(existsSync(marker), false, 'the command ran in the host process namespaces');
  } finally {
    host.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('berth-exec passes more than 4096 environment variables (as runc does)', { skip: !existsSync(helper) && 'berth-exec is not built' }, async () => {
  // A host process stands in for the container's init: its own cgroup and
  // namespaces, so the command runs on the host, without capabilities.
  const host = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const cgroup = readFileSync(`/proc/${host.pid}/cgroup`, 'utf8').split('\n')[0].split(':').slice(2).join(':');
    const env = ['PATH=/usr/bin:/bin', ...Array.from({ length: 5000 }, (_, i) => `V${i}=x`)];
    const proc: OciProcess = {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['sh', '-c', 'env | grep -c ^V'],
      env,
      cwd: '/',
      capabilities: { bounding: [], effective: [], permitted: [] },
      rlimits: [],
      noNewPrivileges: true,
    };
    const spec = { process: proc, linux: { namespaces: [], cgroupsPath: cgroup, resources: { devices: [] } } } as unknown as OciSpec;
    const plan = helperPlan(spec, proc, host.pid!, []);
    assert.ok(plan);
    const session = new HelperLauncher(helper).exec(plan, { stdin: false, detach: false });
    let out = '';
    for await (const o of session.output) out += o.data.toString();
    const { exitCode, error } = await session.exited;
    assert.equal(error, undefined);
    assert.equal(exitCode, 0);
    assert.equal(out.trim(), '5000');
  } finally {
    host.kill('SIGKILL');
  }
});
