import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { isKind } from '../core/errors.ts';
import { applyChanges } from './dockerfile-changes.ts';
import { type TestEnv, collect, dockerArchive, load, makeTar, newEnv, sha, streamOf } from './test-support.ts';

async function readTar(buf: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  streamOf(buf).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    if (entry.header.type === 'file') files.set(entry.header.name, Buffer.concat(chunks));
  }
  return files;
}

describe('save', () => {
  let env: TestEnv;
  let other: TestEnv;
  beforeEach(async () => {
    env = await newEnv();
    other = await newEnv();
  });
  afterEach(async () => {
    await env.cleanup();
    await other.cleanup();
  });

  it('writes a docker-archive with an OCI index that loads back into another store', async () => {
    const l0 = await makeTar([{ name: 'bin/', type: 'directory' }, { name: 'bin/a', data: 'aaa', mode: 0o755 }]);
    const l1 = await makeTar([{ name: 'bin/.wh.a', data: '' }, { name: 'etc/b', data: 'bbb' }]);
    await load(env, await dockerArchive([
      { tags: ['app:1', 'app:2'], layers: [l0, l1] },
      { tags: ['base:latest'], layers: [l0] },
    ]));
    const app = await env.images.inspect('app:1');
    const out = collect();
    await env.images.save(['app', 'base'], out.stream);
    const files = await readTar(out.result());

    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    assert.equal(manifest.length, 2);
    const appEntry = manifest.find((m) => m.RepoTags.includes('app:1'))!;
    assert.deepEqual(appEntry.RepoTags.sort(), ['app:1', 'app:2']);
    assert.equal(appEntry.Config, `blobs/sha256/${app.id.slice(7)}`);
    assert.deepEqual(appEntry.Layers, [sha(l0), sha(l1)].map((d) => `blobs/sha256/${d.slice(7)}`));
    assert.ok(files.get(appEntry.Layers[1])!.equals(l1), 'layer tars are the original bytes');
    assert.equal(sha(files.get(appEntry.Config)!), app.id);
    const index = JSON.parse(files.get('index.json')!.toString()) as { manifests: { annotations: Record<string, string> }[] };
    assert.deepEqual(
      index.manifests.map((m) => m.annotations['io.containerd.image.name']).sort(),
      ['docker.io/library/app:1', 'docker.io/library/app:2', 'docker.io/library/base:latest'],
    );
    assert.ok(files.has('oci-layout'));
    assert.ok(files.has('repositories'));

    const { names } = await load(other, out.result());
    assert.deepEqual(names.sort(), ['app:1', 'app:2', 'base:latest']);
    assert.equal((await other.images.inspect('app:2')).id, app.id);
    const merged = await other.images.createRootfs('rt', 'app:1');
    try {
      assert.deepEqual(readdirSync(`${merged}/bin`), []);
      assert.equal(readFileSync(`${merged}/etc/b`, 'utf8'), 'bbb');
    } finally {
      await other.images.removeRootfs('rt');
    }

    // The same archive loaded as an OCI layout only (without manifest.json).
    const third = await newEnv();
    try {
      const ociOnly = await makeTar(
        [...files].filter(([n]) => n !== 'manifest.json' && n !== 'repositories').map(([name, data]) => ({ name, data })),
      );
      assert.deepEqual((await load(third, ociOnly)).names.sort(), ['app:1', 'app:2', 'base:latest']);
    } finally {
      await third.cleanup();
    }
  });

  it('saves by id without tags, and refuses unknown names', async () => {
    await load(env, await dockerArchive([{ tags: ['x:1'], layers: [] }]));
    const img = await env.images.inspect('x:1');
    const out = collect();
    await env.images.save([img.id.slice(7, 19)], out.stream);
    const manifest = JSON.parse((await readTar(out.result())).get('manifest.json')!.toString());
    assert.equal(manifest[0].RepoTags, null);
    await assert.rejects(env.images.save(['nope'], collect().stream), (err) => isKind(err, 'not-found') && err.message === 'No such image: nope:latest');
  });
});

describe('import', () => {
  let env: TestEnv;
  beforeEach(async () => {
    env = await newEnv();
  });
  afterEach(async () => {
    await env.cleanup();
  });

  it('imports a gzip rootfs tarball with changes as a one-layer image', async () => {
    const rootfs = await makeTar([{ name: './', type: 'directory' }, { name: './bin/', type: 'directory' }, { name: './bin/hello', data: 'hi', mode: 0o755 }]);
    const img = await env.images.import(streamOf(gzipSync(rootfs)), {
      repo: 'imported',
      tag: 'v1',
      message: 'from a test',
      changes: [
        'ENV PATH=/usr/bin:/bin GREETING="hello world"',
        'ENV SECOND $GREETING again',
        'CMD ["/bin/hello", "--loud"]',
        'ENTRYPOINT /bin/sh -c',
        'WORKDIR /srv',
        'WORKDIR app',
        'USER 1000:1000',
        'EXPOSE 80 53/udp',
        'LABEL org.example.a=1 "b c"="d e"',
        'VOLUME ["/data", "/logs"]',
        'STOPSIGNAL SIGINT',
      ],
    });
    assert.deepEqual(img.repoTags, ['imported:v1']);
    assert.deepEqual(img.config.rootfs.diff_ids, [sha(rootfs)]);
    const c = img.config.config!;
    assert.deepEqual(c.Env, ['PATH=/usr/bin:/bin', 'GREETING=hello world', 'SECOND=hello world again']);
    assert.deepEqual(c.Cmd, ['/bin/hello', '--loud'], 'CMD given before ENTRYPOINT is kept');
    assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c', '/bin/sh -c']);
    assert.equal(c.WorkingDir, '/srv/app');
    assert.equal(c.User, '1000:1000');
    assert.deepEqual(c.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
    assert.deepEqual(c.Labels, { 'org.example.a': '1', 'b c': 'd e' });
    assert.deepEqual(c.Volumes, { '/data': {}, '/logs': {} });
    assert.equal(c.StopSignal, 'SIGINT');
    assert.equal(img.config.history?.[0].comment, 'from a test');
    const history = await env.images.history('imported:v1');
    assert.equal(history.length, 1);
    assert.equal(history[0].Id, img.id);
    assert.equal(history[0].Size, 2);
    assert.deepEqual(history[0].Tags, ['imported:v1']);
    const merged = await env.images.createRootfs('imp', img.id);
    try {
      assert.equal(readFileSync(`${merged}/bin/hello`, 'utf8'), 'hi');
    } finally {
      await env.images.removeRootfs('imp');
    }
  });

  it('refuses unknown change instructions before reading anything', async () => {
    await assert.rejects(
      env.images.import(streamOf(await makeTar([])), { changes: ['RUN rm -rf /'] }),
      (err) => isKind(err, 'invalid') && err.message === 'run is not a valid change command',
    );
    assert.deepEqual(await env.images.list(), []);
  });

  it('refuses a truncated import', async () => {
    const rootfs = gzipSync(await makeTar([{ name: 'f', data: 'x'.repeat(10000) }]));
    await assert.rejects(env.images.import(streamOf(rootfs.subarray(0, 40)), {}), (err) => isKind(err, 'invalid'));
    assert.deepEqual(await env.images.list(), []);
  });
});

describe('dockerfile changes', () => {
  it('handles shell and exec forms, legacy ENV and defaults', () => {
    const c = applyChanges({ Env: ['HOME=/root'] }, [
      'CMD echo $HOME',
      'ENV A ${HOME:-x}/sub',
      'ENV B=${UNSET:-fallback} C=${HOME:+set}',
      'EXPOSE 8000-8002/tcp',
      "LABEL quoted='$HOME' plain=$HOME",
    ]);
    assert.deepEqual(c.Cmd, ['/bin/sh', '-c', 'echo $HOME']);
    assert.deepEqual(c.Env, ['HOME=/root', 'A=/root/sub', 'B=fallback', 'C=set']);
    assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), ['8000/tcp', '8001/tcp', '8002/tcp']);
    assert.deepEqual(c.Labels, { quoted: '$HOME', plain: '/root' });
    assert.deepEqual(applyChanges({ Cmd: ['x'] }, ['ENTRYPOINT ["/init"]']).Cmd, null, 'ENTRYPOINT resets CMD');
    assert.throws(() => applyChanges({}, ['FROM busybox']), /from is not a valid change command/);
    assert.throws(() => applyChanges({}, ['EXPOSE eighty']), /invalid containerPort/);
  });
});
