// A container process that may ptrace (--cap-add SYS_PTRACE) can open
// /proc/PID/root of any process in its pid namespace. berth-exec's process
// must therefore already be in the container's mount namespace when it first
// appears there (as runc's is): else, for a moment, /proc/PID/root is the
// host's root. This spins a reader on the next pids of the container while
// execs run and checks that it never reaches a file only the host has.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, it } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

const run = promisify(execFile);
let d: Daemon;
let image: string;
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-exec-window-'));
  await chmod(dir, 0o755);
  await run('gcc', ['-static', '-O2', '-o', path.join(dir, 'peek'), path.join(import.meta.dirname, 'fixtures', 'proc-root-peek.c')]);
  await writeFile(path.join(dir, 'host-only'), 'host secret\n');
  d = await startDaemon();
  image = await loadTestImage(d, 'busybox');
});
after(async () => {
  await d?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('never shows the host root through /proc/PID/root of a process being exec-ed', async () => {
  const name = uniqueName('exec-window');
  // The host directory is mounted elsewhere: only the host's root has it at `dir`.
  const r = await d.docker(['run', '-d', '--name', name, '--cap-add', 'SYS_PTRACE', '-v', `${dir}:/probe:ro`, image, 'sleep', '300']);
  assert.equal(r.code, 0, r.stderr);
  try {
    // The reader gives up after 20 s (it must not outlive the execs below).
    const peek = d.docker(['exec', name, '/probe/peek', path.join(dir, 'host-only'), '20']);
    // (the reader's own exec takes one pid: let it start spinning)
    await new Promise((res) => setTimeout(res, 300));
    let peekDone = false;
    const execs = (async () => {
      for (let i = 0; i < 150 && !peekDone; i++) assert.equal((await d.docker(['exec', name, 'true'])).code, 0);
    })();
    const out = await peek;
    peekDone = true;
    await execs;
    assert.equal(out.code, 0, out.stderr);
    assert.doesNotMatch(out.stdout, /ESCAPED/);
  } finally {
    await d.docker(['rm', '-f', name]);
  }
});
