// End to end: docker build with a local registry. FROM an image that is not
// here pulls it (progress in the build's output), --pull pulls a present one
// again, credentials from `docker login` reach the build's pull
// (X-Registry-Config), and a multi-stage build with RUN is pushed and then
// pulled and run on a second daemon.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';
import { freePort } from './helpers/ports.ts';
import { startRegistry, type Registry } from './helpers/registry.ts';

let d: Daemon;
let reg: Registry;
let IMAGE: string;

before(async () => {
  reg = await startRegistry();
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});
after(async () => {
  await d?.cleanup();
  await reg?.stop();
});

const ok = async (args: string[], input?: string, on: Daemon = d): Promise<string> => dockerOk(on, args, { input, timeoutMs: 180_000 });

/** Pushes the busybox test image as `repo:tag` on the registry and removes that tag here. */
async function seed(registry: Registry, tag = 'v1'): Promise<string> {
  const ref = `${registry.host}/${uniqueName('base')}:${tag}`;
  await ok(['tag', IMAGE, ref]);
  await ok(['push', ref]);
  await ok(['rmi', ref]);
  return ref;
}

describe('build pulls its base image', () => {
  test('FROM a missing image pulls it with progress; a present one is used as is; --pull pulls again', async () => {
    const base = await seed(reg);
    assert.notEqual((await d.docker(['image', 'inspect', base])).code, 0, 'the base is not here before the build');
    const dockerfile = `FROM ${base}\nRUN echo built-on-pulled > /msg\nCMD ["cat", "/msg"]\n`;
    const tag = uniqueName('bp');
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const first = await ok(['build', '-t', tag, '-'], dockerfile);
    assert.match(first, /Step 1\/3 : FROM /);
    assert.match(first, /v1: Pulling from /);
    assert.match(first, /Status: Downloaded newer image for /);
    assert.equal((await ok(['run', '--rm', tag])).trim(), 'built-on-pulled');
    await ok(['image', 'inspect', base]);
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const events = await ok(['events', '--since', since, '--until', until, '--filter', 'event=pull', '--format', '{{.Actor.ID}}']);
    assert.ok(events.split('\n').includes(base), `a pull event names the base: ${events}`);

    const second = await ok(['build', '-t', tag, '-'], dockerfile);
    assert.doesNotMatch(second, /Pulling from/, 'a present base is not pulled');
    assert.match(second, /Using cache/);

    const forced = await ok(['build', '--pull', '-t', tag, '-'], dockerfile);
    assert.match(forced, /v1: Pulling from /);
    assert.match(forced, /Status: Image is up to date for /);
    assert.match(forced, /Using cache/, 'the same base keeps the cache');
    await ok(['rmi', tag, base]);
  });

  test('-q keeps the pull progress out; only the image id is printed', async () => {
    const base = await seed(reg, 'quiet');
    const out = await ok(['build', '-q', '-'], `FROM ${base}\nLABEL quiet=yes\n`);
    assert.match(out.trim(), /^sha256:[a-f0-9]{64}$/);
    await ok(['rmi', out.trim(), base]);
  });

  test('a base that no registry has fails the build with the registry\'s answer and tags nothing', async () => {
    const tag = uniqueName('nobase');
    const missing = `${reg.host}/${uniqueName('nosuch')}:1`;
    const r = await d.docker(['build', '-t', tag, '-'], { input: `FROM ${missing}\nRUN true\n` });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /manifest unknown|not found/);
    assert.notEqual((await d.docker(['image', 'inspect', tag])).code, 0);

    const port = await freePort();
    const unreachable = await d.docker(['build', '-t', tag, '-'], { input: `FROM 127.0.0.1:${port}/nothing:1\n` });
    assert.notEqual(unreachable.code, 0);
    assert.match(unreachable.stderr, /127\.0\.0\.1:\d+/);
  });
});

describe('build with a private registry', () => {
  let priv: Registry;
  before(async () => {
    priv = await startRegistry({ htpasswd: { bob: 'build-pw' } });
  });
  after(() => priv?.stop());

  test('after docker login the build pulls a private base; after logout it is denied', async () => {
    await ok(['login', '-u', 'bob', '--password-stdin', priv.host], 'build-pw');
    const base = await seed(priv, 'private');
    const tag = uniqueName('pv');
    await ok(['build', '-t', tag, '-'], `FROM ${base}\nRUN echo private-ok > /p\n`);
    assert.equal((await ok(['run', '--rm', tag, 'cat', '/p'])).trim(), 'private-ok');
    await ok(['rmi', tag, base]);

    await ok(['logout', priv.host]);
    const denied = await d.docker(['build', '-'], { input: `FROM ${base}\n` });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /pull access denied|unauthorized|authentication required/);
  });
});

describe('multi-stage build through the registry', () => {
  test('a multi-stage build with RUN is pushed, pulled on a second daemon and run there', async () => {
    const base = await seed(reg, 'ms');
    const dockerfile = [
      `FROM ${base} AS build`,
      'RUN mkdir /out && echo compiled > /out/artifact && echo $((6 * 7)) > /out/answer',
      `FROM ${base}`,
      'COPY --from=build /out/ /app/',
      'RUN cat /app/artifact /app/answer > /app/report',
      'CMD ["cat", "/app/report"]',
      '',
    ].join('\n');
    const ref = `${reg.host}/${uniqueName('app')}:1`;
    await ok(['build', '-t', ref, '-'], dockerfile);
    const pushed = await ok(['push', ref]);
    assert.match(pushed, /1: digest: sha256:[a-f0-9]{64}/);
    const layers = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref])) as string[];

    const other = await startDaemon();
    try {
      const pulled = await ok(['pull', ref], undefined, other);
      assert.match(pulled, /Status: Downloaded newer image for /);
      assert.deepEqual(JSON.parse(await ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref], undefined, other)), layers);
      assert.equal((await ok(['run', '--rm', ref], undefined, other)).trim(), 'compiled\n42');
    } finally {
      await other.cleanup();
    }
    await ok(['rmi', ref, base]);
  });
});
