// releaseExecFifo against the real runc: it starts a created container as
// `runc start` does, and gives up (instead of hanging) when the container's
// init process died before it could be started.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, openSync, closeSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { ConmonRuntime } from './conmon-runtime.ts';
import { removeCgroup } from './cgroups.ts';
import { execFifoPath, releaseExecFifo } from './exec-fifo.ts';
import { makeBusyboxRootfs, record, tempDir, testId } from './test-fixtures.ts';

let dir: string;
let rootfs: string;
let runcRoot: string;
let rt: ConmonRuntime;
const cgroupParent = `berth-test-${testId().slice(0, 10)}`;
const created: string[] = [];

before(() => {
  dir = tempDir('berth-fifo-');
  rootfs = makeBusyboxRootfs(dir);
  runcRoot = path.join(dir, 'runc');
  // Only to write OCI bundles; runc is driven directly below.
  rt = new ConmonRuntime({ root: path.join(dir, 'bundles'), runRoot: path.join(dir, 'run'), runtimes: { runc: 'runc' }, defaultRuntime: 'runc', cgroupParent });
});

after(async () => {
  for (const id of created) {
    try {
      execFileSync('runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  await removeCgroup(`/${cgroupParent}`).catch(() => undefined);
  await fs.rm(dir, { recursive: true, force: true });
});

/** `runc create` of cmd; returns the id and the init process's pid. */
async function runcCreate(cmd: string[]): Promise<{ id: string; pid: number }> {
  const c = record({ cmd });
  await rt.create(c, rootfs, {});
  const id = c.Id;
  const bundle = path.join(dir, 'bundles', id);
  const pidFile = path.join(dir, `${id}.pid`);
  // Never pipes: the container would inherit them (see HOST-NOTES).
  const devNull = openSync('/dev/null', 'r+');
  try {
    execFileSync('runc', ['--root', runcRoot, 'create', '--bundle', bundle, '--pid-file', pidFile, id], { stdio: [devNull, devNull, devNull] });
  } finally {
    closeSync(devNull);
  }
  created.push(id);
  return { id, pid: Number((await fs.readFile(pidFile, 'utf8')).trim()) };
}

function runcStatus(id: string): string {
  return (JSON.parse(execFileSync('runc', ['--root', runcRoot, 'state', id], { encoding: 'utf8' })) as { status: string }).status;
}

test('starts a created container the way runc start does', async () => {
  const marker = `ran-${testId().slice(0, 8)}`;
  const { id, pid } = await runcCreate(['sh', '-c', `touch /tmp/${marker}; exec sleep 60`]);
  assert.equal(runcStatus(id), 'created');
  assert.equal(await releaseExecFifo(execFifoPath(runcRoot, id), pid), true);
  assert.equal(existsSync(execFifoPath(runcRoot, id)), false, 'the fifo is removed, as runc start does');
  assert.equal(runcStatus(id), 'running');
  // The process really ran past the fifo.
  for (let i = 0; !existsSync(path.join(rootfs, 'tmp', marker)); i++) {
    assert.ok(i < 500, `the container never ran its command`);
    await new Promise((r) => setTimeout(r, 10));
  }
});

test('a process that exits at once is still reported as started', async () => {
  const { id, pid } = await runcCreate(['true']);
  assert.equal(await releaseExecFifo(execFifoPath(runcRoot, id), pid), true);
  assert.equal(existsSync(execFifoPath(runcRoot, id)), false);
});

test('gives up when the init process died before the start', { timeout: 60_000 }, async () => {
  const { id, pid } = await runcCreate(['true']);
  process.kill(pid, 'SIGKILL');
  assert.equal(await releaseExecFifo(execFifoPath(runcRoot, id), pid, 50_000), false);
  assert.equal(existsSync(execFifoPath(runcRoot, id)), true, 'left for runc to report on');
});

test('no fifo (not created, or started already): false', async () => {
  assert.equal(await releaseExecFifo(path.join(dir, 'no-such-container', 'exec.fifo'), 1), false);
});
