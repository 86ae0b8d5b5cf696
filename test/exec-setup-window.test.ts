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
  for (const name of ['proc-root-peek', 'proc-exe-peek']) await run('gcc', ['-static', '-O2', '-o', path.join(dir, name), path.join(import.meta.dirname, 'fixtures', `${name}.c`)]);
  await writeFile(path.join(dir, 'host-only'), 'host secret\n');
  d = await startDaemon();
  image = await loadTestImage(d, 'busybox');
});
after(async () => {
  await d?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `peek` in a container that may ptrace while execs run there, and returns its output. */
async function peekDuringExecs(peek: string[]): Promise<string> {
  const name = uniqueName('exec-window');
  const r = await d.docker(['run', '-d', '--name', name, '--cap-add', 'SYS_PTRACE', '-v', `${dir}:/probe:ro`, image, 'sleep', '300']);
  assert.equal(r.code, 0, r.stderr);
  try {
    // The reader gives up after 20 s (it must not outlive the execs below).
    const running = d.docker(['exec', name, ...peek, '20']);
    // (the reader's own exec takes one pid: let it start spinning)
    await new Promise((res) => setTimeout(res, 300));
    let peekDone = false;
    const execs = (async () => {
      for (let i = 0; i < 150 && !peekDone; i++) assert.equal((await d.docker(['exec', name, 'true'])).code, 0);
    })();
    const out = await running;
    peekDone = true;
    await execs;
    assert.equal(out.code, 0, out.stderr);
    return out.stdout;
  } finally {
    await d.docker(['rm', '-f', name]);
  }
}

it('never shows the host root through /proc/PID/root of a process being exec-ed', async () => {
  // The host directory is mounted elsewhere: only the host's root has it at `dir`.
  assert.doesNotMatch(await peekDuringExecs(['/probe/proc-root-peek', path.join(dir, 'host-only')]), /ESCAPED/);
});

it('never lets the container write the helper binary through /proc/PID/exe (CVE-2019-5736)', async () => {
  // It catches the process before it executes the command: that must be a
  // sealed copy in memory, not a file of the host's (which only ETXTBSY
  // guards while some helper runs it).
  const out = await peekDuringExecs(['/probe/proc-exe-peek']);
  assert.doesNotMatch(out, /WRITABLE/);
  assert.match(out, /^held [1-9]\d* \(\/memfd:berth-exec/m);
});
