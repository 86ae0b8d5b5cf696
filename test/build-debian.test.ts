// End to end, slow on the first run: a build on the Debian test image
// (debootstrap, cached between runs) whose RUN step installs a package from
// Debian's archive through the default bridge's NAT; the result runs the
// program it installed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadDebianImage } from './helpers/debian.ts';

let d: Daemon;
let DEBIAN: string;

before(async () => {
  d = await startDaemon();
  DEBIAN = await loadDebianImage(d);
}, { timeout: 900_000 });
after(() => d?.cleanup());

test('RUN apt-get install reaches Debian through the bridge; the image runs the installed program', { timeout: 600_000 }, async () => {
  const tag = uniqueName('deb');
  const dockerfile = [
    `FROM ${DEBIAN}`,
    'RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*',
    'CMD ["hello", "-g", "built by berth"]',
    '',
  ].join('\n');
  const r = await d.docker(['build', '-t', tag, '-'], { input: dockerfile, timeoutMs: 540_000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /Setting up hello/);
  const out = await d.docker(['run', '--rm', tag]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout.trim(), 'built by berth');
  // The package came from the archive: dpkg knows it, the base image did not have it.
  const base = await d.docker(['run', '--rm', DEBIAN, 'sh', '-c', 'command -v hello || echo absent']);
  assert.equal(base.stdout.trim(), 'absent');
  const dpkg = await d.docker(['run', '--rm', tag, 'dpkg-query', '-W', '-f', '${Status}', 'hello']);
  assert.equal(dpkg.stdout.trim(), 'install ok installed');
  await d.docker(['rmi', tag]);
});
