// Interactive streams through the real docker CLI: stdin piped into run -i,
// TTY sessions under a real pseudo-terminal (util-linux `script`), attach
// with detach keys, start -ai, and resize.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let image: string;

before(async () => {
  d = await startDaemon();
  image = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

/**
 * Runs the docker CLI under a pty made by `script`; `steps` write to the
 * terminal once the output so far matches. Resolves with everything the
 * terminal showed and the CLI's exit code.
 */
function underPty(args: string[], steps: { waitFor: RegExp; send: string }[], timeoutMs = 30_000): Promise<{ out: string; code: number }> {
  const cmd = ['docker', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', `stty cols 91 rows 27; exec ${cmd}`, '/dev/null'], {
    env: { ...process.env, DOCKER_HOST: d.host, DOCKER_CLI_HINTS: 'false', TERM: 'xterm' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let step = 0;
  const advance = () => {
    while (step < steps.length && steps[step].waitFor.test(out)) {
      child.stdin.write(steps[step].send);
      step++;
    }
  };
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString('utf8');
    advance();
  });
  child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out at step ${step}; terminal showed:\n${out}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ out, code: code ?? -1 });
    });
  });
}

describe('interactive containers', () => {
  it('echo hi | docker run -i IMAGE cat prints hi and exits 0', async () => {
    const r = await d.docker(['run', '--rm', '-i', image, 'cat'], { input: 'hi\n' });
    assert.equal(r.stdout, 'hi\n', r.stderr);
    assert.equal(r.code, 0);
  });

  it('run -i passes large input through and closes stdin at its end', async () => {
    const input = Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join('');
    const r = await d.docker(['run', '--rm', '-i', image, 'sh', '-c', 'wc -l; echo done'], { input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split(/\s+/).join(' '), '20000 done');
  });

  it('run -a stdout shows stdout only', async () => {
    const r = await d.docker(['run', '--rm', '-a', 'stdout', image, 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, '');
  });

  it('run -it gives the process a terminal of the client size, in raw mode', async () => {
    const r = await underPty(['run', '--rm', '-it', image, 'sh', '-c', 'tty; stty size; read x; echo "got:$x"'], [{ waitFor: /\d+ \d+/, send: 'abc\r' }]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\/dev\/pts\/\d+/);
    assert.match(r.out, /27 91/);
    assert.match(r.out, /got:abc/);
  });

  it('docker attach with detach keys leaves the container running; attach again works', async () => {
    const name = uniqueName('attach');
    const run = await d.docker(['run', '-dit', '--name', name, image, 'sh']);
    assert.equal(run.code, 0, run.stderr);
    const first = await underPty(['attach', name], [
      { waitFor: /^/, send: 'echo one-$((40+2))\r' },
      { waitFor: /one-42/, send: '\x10\x11' },
    ]);
    assert.match(first.out, /one-42/);
    assert.equal((await d.docker(['inspect', '-f', '{{.State.Running}}', name])).stdout.trim(), 'true');
    const second = await underPty(['attach', '--detach-keys', 'ctrl-x', name], [
      { waitFor: /^/, send: 'echo two-$((40+3))\r' },
      { waitFor: /two-43/, send: '\x18' },
    ]);
    assert.match(second.out, /two-43/);
    assert.equal((await d.docker(['inspect', '-f', '{{.State.Running}}', name])).stdout.trim(), 'true');
    await d.docker(['rm', '-f', name]);
  });

  it('docker start -ai attaches to a created container with input', async () => {
    const name = uniqueName('startai');
    assert.equal((await d.docker(['create', '-i', '--name', name, image, 'sh', '-c', 'read x; echo "in:$x"; exit 3'])).code, 0);
    const r = await d.docker(['start', '-ai', name], { input: 'hello\n' });
    assert.equal(r.stdout, 'in:hello\n');
    assert.equal(r.code, 3);
    await d.docker(['rm', '-f', name]);
  });

  it('resize changes the TTY size of a running container', async () => {
    const name = uniqueName('resize');
    assert.equal((await d.docker(['run', '-dt', '--name', name, image, 'sh', '-c', 'while :; do stty size; sleep 0.1; done'])).code, 0);
    const r = await d.api('POST', `/containers/${name}/resize?h=33&w=77`);
    assert.equal(r.status, 200, r.text());
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('33 77'); i++) {
      await sleep(100);
      logs = (await d.docker(['logs', name])).stdout;
    }
    assert.match(logs, /33 77/);
    const bad = await d.api('POST', `/containers/${name}/resize?h=-1&w=10`);
    assert.equal(bad.status, 400);
    await d.docker(['rm', '-f', name]);
  });
});
