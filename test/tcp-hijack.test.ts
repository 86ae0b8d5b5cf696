// The hijacked attach/exec protocol over a TCP listener (--insecure-tcp, a
// test-only plain-HTTP listener until TLS arrives), driven by the real CLI.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let image: string;
let tcp: Record<string, string>;

before(async () => {
  d = await startDaemon({ args: ['--insecure-tcp', '127.0.0.1:0'] });
  image = await loadTestImage(d, 'busybox');
  const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(d.logs());
  assert.ok(m, `the daemon did not say where it listens: ${d.logs()}`);
  tcp = { DOCKER_HOST: `tcp://127.0.0.1:${m[1]}` };
});
after(() => d?.cleanup());

describe('hijacked streams over TCP', () => {
  it('run -i pipes stdin and exec -i answers, through the TCP listener', async () => {
    const r = await d.docker(['run', '--rm', '-i', image, 'cat'], { input: 'over tcp\n', env: tcp });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'over tcp\n');
    const name = uniqueName('tcp');
    assert.equal((await d.docker(['run', '-d', '--name', name, image, 'sleep', '300'], { env: tcp })).code, 0);
    const e = await d.docker(['exec', '-i', name, 'sh', '-c', 'tr a-z A-Z; exit 5'], { input: 'shout\n', env: tcp });
    assert.equal(e.code, 5);
    assert.equal(e.stdout, 'SHOUT\n');
    await d.docker(['rm', '-f', name], { env: tcp });
  });
});
