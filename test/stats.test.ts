// docker stats, top, pause and unpause through the real CLI.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let image: string;

before(async () => {
  d = await startDaemon();
  image = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

describe('observing and controlling containers', () => {
  it('stats --no-stream shows memory limit, pids and CPU of a busy container', async () => {
    const name = uniqueName('stats');
    assert.equal((await d.docker(['run', '-d', '--name', name, '--memory', '64m', '--pids-limit', '50', image, 'sh', '-c', 'while :; do :; done'])).code, 0);
    const r = await d.docker(['stats', '--no-stream', '--format', '{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}', name]);
    assert.equal(r.code, 0, r.stderr);
    const [n, mem, pids, cpuPerc] = r.stdout.trim().split('|');
    assert.equal(n, name);
    assert.match(mem, /\/ 64MiB$/);
    assert.equal(pids, '1');
    assert.ok(Number.parseFloat(cpuPerc) > 10, `a spinning shell uses CPU: ${cpuPerc}`);
    const api = (await d.api('GET', `/containers/${name}/stats?stream=false`)).json();
    assert.equal(api.memory_stats.limit, 64 * 1024 * 1024);
    assert.equal(api.pids_stats.limit, 50);
    assert.ok(api.cpu_stats.cpu_usage.total_usage > api.precpu_stats.cpu_usage.total_usage);
    await d.docker(['rm', '-f', name]);
  });

  it('top lists the container processes only, with ps options', async () => {
    const name = uniqueName('top');
    assert.equal((await d.docker(['run', '-d', '--name', name, image, 'sh', '-c', 'sleep 1001 & sleep 1002'])).code, 0);
    // run -d returns once the process may run: for a moment it can still be runc's init, before the exec of the command.
    let r = await d.docker(['top', name]);
    for (let i = 0; i < 50 && r.code === 0 && !(/sleep 1001/.test(r.stdout) && /sleep 1002/.test(r.stdout)); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      r = await d.docker(['top', name]);
    }
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^UID\s+PID\s+PPID/);
    assert.match(r.stdout, /sleep 1001/);
    assert.match(r.stdout, /sleep 1002/);
    // header and the two sleeps (sh execs its last command)
    assert.equal(r.stdout.trim().split('\n').length, 3);
    const custom = await d.docker(['top', name, '-o', 'pid,comm']);
    assert.equal(custom.code, 0, custom.stderr);
    assert.match(custom.stdout, /^\s*PID\s+COMMAND/);
    await d.docker(['rm', '-f', name]);
  });

  it('pause freezes and unpause thaws; state shows in inspect and ps', async () => {
    const name = uniqueName('pause');
    assert.equal((await d.docker(['run', '-d', '--name', name, image, 'sh', '-c', 'while :; do date +%s%N > /tmp/t; done'])).code, 0);
    assert.equal((await d.docker(['pause', name])).code, 0);
    assert.equal((await d.docker(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', name])).stdout.trim(), 'paused true');
    const freezer = await d.docker(['ps', '--filter', `name=${name}`, '--format', '{{.Status}}']);
    assert.match(freezer.stdout, /Paused/);
    const again = await d.docker(['pause', name]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already paused/);
    assert.equal((await d.docker(['unpause', name])).code, 0);
    assert.equal((await d.docker(['inspect', '-f', '{{.State.Status}}', name])).stdout.trim(), 'running');
    assert.equal((await d.docker(['exec', name, 'cat', '/tmp/t'])).code, 0);
    const notPaused = await d.docker(['unpause', name]);
    assert.match(notPaused.stderr, /is not paused/);
    await d.docker(['rm', '-f', name]);
  });
});
