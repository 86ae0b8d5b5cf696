// docker exec through the real CLI: output and exit codes, -i input, -it under
// a real pty, -d, -e, -u, -w, --privileged, exec inspect, resize, errors.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let image: string;
let box: string;

before(async () => {
  d = await startDaemon();
  image = await loadTestImage(d, 'busybox');
  box = uniqueName('exec');
  const r = await d.docker(['run', '-d', '--name', box, '-e', 'FROM_RUN=1', image, 'sleep', '1000']);
  assert.equal(r.code, 0, r.stderr);
});
after(() => d?.cleanup());

function underPty(args: string[], input: string[], timeoutMs = 30_000): Promise<{ out: string; code: number }> {
  const cmd = ['docker', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', `stty cols 101 rows 31; exec ${cmd}`, '/dev/null'], {
    env: { ...process.env, DOCKER_HOST: d.host, DOCKER_CLI_HINTS: 'false', TERM: 'xterm' },
  });
  let out = '';
  let step = 0;
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString('utf8');
    // Each input line goes once the previous one was echoed back.
    if (step < input.length && (step === 0 || out.includes(input[step - 1].trim()))) child.stdin.write(input[step++]);
  });
  child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out; terminal showed:\n${out}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ out, code: code ?? -1 });
    });
  });
}

describe('docker exec', () => {
  it('runs a command and returns its output and exit code', async () => {
    const ok = await d.docker(['exec', box, 'sh', '-c', 'echo out; echo err >&2; echo $FROM_RUN']);
    assert.equal(ok.code, 0);
    assert.equal(ok.stdout, 'out\n1\n');
    assert.equal(ok.stderr, 'err\n');
    const failing = await d.docker(['exec', box, 'sh', '-c', 'exit 7']);
    assert.equal(failing.code, 7);
  });

  it('-e, -u and -w set the environment, user and directory', async () => {
    const r = await d.docker(['exec', '-e', 'A=b', '-e', 'FROM_RUN=2', '-u', 'nobody', '-w', '/tmp', box, 'sh', '-c', 'echo $A $FROM_RUN $(id -u) $(pwd)']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'b 2 65534 /tmp\n');
  });

  it('--privileged grants all capabilities, plain exec the default set', async () => {
    const plain = await d.docker(['exec', box, 'sh', '-c', 'grep CapEff /proc/self/status']);
    const priv = await d.docker(['exec', '--privileged', box, 'sh', '-c', 'grep CapEff /proc/self/status']);
    assert.equal(plain.stdout.trim(), 'CapEff:\t00000000a80425fb');
    assert.notEqual(priv.stdout.trim(), plain.stdout.trim());
    assert.ok(BigInt('0x' + priv.stdout.trim().split('\t')[1]) > 0xa80425fbn);
  });

  it('-i passes stdin through and closes it at its end', async () => {
    const r = await d.docker(['exec', '-i', box, 'sh', '-c', 'cat; echo end'], { input: 'a\nb\n' });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'a\nb\nend\n');
  });

  it('-it runs under a terminal of the client size', async () => {
    const r = await underPty(['exec', '-it', box, 'sh'], ['stty size; tty\r', 'exit 5\r']);
    assert.equal(r.code, 5, r.out);
    assert.match(r.out, /31 101/);
    assert.match(r.out, /\/dev\/pts\/\d+/);
  });

  it('-d runs in the background; exec inspect reports the exit code', async () => {
    const create = await d.api('POST', `/containers/${box}/exec`, { Cmd: ['sh', '-c', 'touch /tmp/detached; exit 4'] });
    assert.equal(create.status, 201, create.text());
    const id = create.json().Id as string;
    const start = await d.api('POST', `/exec/${id}/start`, { Detach: true });
    assert.equal(start.status, 200, start.text());
    let info: any;
    for (let i = 0; i < 100; i++) {
      info = (await d.api('GET', `/exec/${id}/json`)).json();
      if (!info.Running && info.ExitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(info.ExitCode, 4);
    assert.equal(info.ContainerID.length, 64);
    assert.deepEqual(info.ProcessConfig.arguments, ['-c', 'touch /tmp/detached; exit 4']);
    assert.equal((await d.docker(['exec', box, 'ls', '/tmp/detached'])).code, 0);
    const again = await d.api('POST', `/exec/${id}/start`, { Detach: true });
    assert.equal(again.status, 409);
    const cli = await d.docker(['exec', '-d', box, 'sh', '-c', 'echo hi > /tmp/cli-detached']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout, '');
  });

  it('errors: unknown container, unknown command, stopped and paused containers, bad resize', async () => {
    const unknown = await d.docker(['exec', 'no-such-container-xyz', 'true']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /No such container: no-such-container-xyz/);

    const missing = await d.docker(['exec', box, 'no-such-binary']);
    assert.equal(missing.code, 126);
    assert.match(missing.stdout + missing.stderr, /executable file not found/);

    const stopped = uniqueName('exec-stopped');
    await d.docker(['create', '--name', stopped, image, 'true']);
    const r1 = await d.docker(['exec', stopped, 'true']);
    assert.notEqual(r1.code, 0);
    assert.match(r1.stderr, /is not running/);

    const paused = uniqueName('exec-paused');
    assert.equal((await d.docker(['run', '-d', '--name', paused, image, 'sleep', '1000'])).code, 0);
    assert.equal((await d.docker(['pause', paused])).code, 0);
    const r2 = await d.docker(['exec', paused, 'true']);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /is paused, unpause the container before exec/);
    assert.equal((await d.docker(['unpause', paused])).code, 0);
    assert.equal((await d.docker(['exec', paused, 'true'])).code, 0);

    const noExec = await d.api('POST', '/exec/0123456789abcdef/resize?h=10&w=10');
    assert.equal(noExec.status, 404);
    assert.match(noExec.json().message, /No such exec instance/);
    const create = await d.api('POST', `/containers/${box}/exec`, { Cmd: [] });
    assert.equal(create.status, 400);
    // The daemon still serves.
    assert.equal((await d.docker(['exec', box, 'true'])).code, 0);
    await d.docker(['rm', '-f', stopped, paused]);
  });
});
