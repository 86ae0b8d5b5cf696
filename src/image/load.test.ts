import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { isKind } from '../core/errors.ts';
import { Gate } from './load.ts';
import {
  type TestEnv,
  dockerArchive,
  getfattr,
  imageConfig,
  listTree,
  load,
  makeTar,
  newEnv,
  ociLayout,
  sha,
} from './test-support.ts';

const base = () =>
  makeTar([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/tool', data: '#!/bin/sh\necho hi\n', mode: 0o4755, uid: 1000, gid: 1001 },
    { name: 'bin/tool-link', type: 'link', linkname: 'bin/tool' },
    { name: 'bin/sh', type: 'symlink', linkname: '/bin/tool' },
    { name: 'etc/', type: 'directory', mode: 0o750, mtime: new Date('2020-05-06T07:08:09Z') },
    { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
    { name: 'etc/gone', data: 'remove me' },
    { name: 'etc/keep', data: 'keep me' },
    { name: 'opt/', type: 'directory' },
    { name: 'opt/old-1', data: '1' },
    { name: 'opt/sub/old-2', data: '2' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'run/fifo', type: 'fifo', mode: 0o600 },
  ]);

const top = () =>
  makeTar([
    { name: 'etc/', type: 'directory', mode: 0o750, mtime: new Date('2020-05-06T07:08:09Z') },
    { name: 'etc/.wh.gone', data: '' },
    { name: 'opt/', type: 'directory' },
    { name: 'opt/.wh..wh..opq', data: '' },
    { name: 'opt/new', data: 'new' },
    { name: 'etc/added', data: 'added' },
    { name: 'etc/tagged', data: 't', pax: { 'SCHILY.xattr.user.origin': 'layer-2', 'SCHILY.xattr.trusted.overlay.redirect': '/x' } },
  ]);

describe('load', () => {
  let env: TestEnv;
  beforeEach(async () => {
    env = await newEnv();
  });
  afterEach(async () => {
    await env.cleanup();
  });

  it('loads a legacy docker-archive and mounts its layers with whiteouts and opaque dirs through overlayfs', async () => {
    const layers = [await base(), await top()];
    const { names, messages } = await load(env, await dockerArchive([{ tags: ['busybox:latest', 'example.com/team/app:1'], layers }]));
    assert.deepEqual(names, ['busybox:latest', 'example.com/team/app:1']);
    assert.deepEqual(messages, ['Loaded image: busybox:latest', 'Loaded image: example.com/team/app:1']);
    const img = await env.images.inspect('busybox');
    assert.equal(img.id, imageConfig({ layers }).id);
    assert.deepEqual(img.repoTags, ['busybox:latest', 'example.com/team/app:1']);
    assert.ok(img.size > 0);

    // The upper layer is stored in overlay form.
    const chain1 = sha(`${sha(layers[0])} ${sha(layers[1])}`);
    const diff1 = path.join(env.root, 'layers', chain1.slice(7), 'diff');
    const wh = lstatSync(path.join(diff1, 'etc/gone'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(getfattr(path.join(diff1, 'opt'), 'trusted.overlay.opaque'), 'y');

    const merged = await env.images.createRootfs('c1', img.id);
    try {
      assert.equal(readFileSync(path.join(merged, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
      assert.equal(existsSync(path.join(merged, 'etc/gone')), false, 'whiteout hides the lower file');
      assert.equal(readFileSync(path.join(merged, 'etc/keep'), 'utf8'), 'keep me');
      assert.equal(readFileSync(path.join(merged, 'etc/added'), 'utf8'), 'added');
      assert.equal(getfattr(path.join(merged, 'etc/tagged'), 'user.origin'), 'layer-2', 'user xattrs kept');
      assert.equal(getfattr(path.join(diff1, 'etc/tagged'), 'trusted.overlay.redirect'), undefined, 'overlay xattrs never taken from a tar');
      assert.deepEqual(readdirSync(path.join(merged, 'opt')), ['new'], 'opaque dir hides lower entries');
      const tool = statSync(path.join(merged, 'bin/tool'));
      assert.equal(tool.mode & 0o7777, 0o4755);
      assert.equal(tool.uid, 1000);
      assert.equal(tool.gid, 1001);
      assert.equal(tool.mtime.toISOString(), '2024-01-02T03:04:05.000Z');
      assert.equal(statSync(path.join(merged, 'bin/tool-link')).ino, tool.ino, 'hard link kept');
      assert.equal(readlinkSync(path.join(merged, 'bin/sh')), '/bin/tool');
      const etc = statSync(path.join(merged, 'etc'));
      assert.equal(etc.mode & 0o7777, 0o750);
      const dev = lstatSync(path.join(merged, 'dev/null'));
      assert.ok(dev.isCharacterDevice());
      assert.equal(dev.rdev, (1 << 8) | 3);
      assert.ok(lstatSync(path.join(merged, 'run/fifo')).isFIFO());

      // Writes land in the container's upper layer.
      writeFileSync(path.join(merged, 'etc/new-file'), '12345');
      assert.equal(await env.images.rootfsSize('c1'), 5);
      assert.equal(readFileSync(path.join(env.root, 'containers/c1/upper/etc/new-file'), 'utf8'), '12345');
      // Idempotent: a second call finds the mount.
      assert.equal(await env.images.createRootfs('c1', img.id), merged);
    } finally {
      await env.images.removeRootfs('c1');
    }
    assert.equal(existsSync(path.join(env.root, 'containers/c1')), false);
    // (the unmount finishes in the background)
    await env.images.settled();
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(env.root));
  });

  it('mounts an image without layers on an empty lower dir', async () => {
    const { names } = await load(env, await dockerArchive([{ tags: ['scratch-ish:1'], layers: [] }]));
    assert.deepEqual(names, ['scratch-ish:1']);
    const merged = await env.images.createRootfs('empty1', 'scratch-ish:1');
    assert.deepEqual(readdirSync(merged), []);
    await env.images.removeRootfs('empty1');
  });

  it('loads the blobs/sha256 layout, gzip-compressed as a whole and per layer, sharing layers between images', async () => {
    const l0 = await base();
    const l1 = await top();
    const archive = await dockerArchive(
      [
        { tags: ['one:1'], layers: [l0], compress: 'gzip' },
        { tags: ['two:2'], layers: [l0, l1], compress: 'gzip' },
      ],
      'blobs',
    );
    const { names } = await load(env, gzipSync(archive));
    assert.deepEqual(names, ['one:1', 'two:2']);
    assert.equal(readdirSync(path.join(env.root, 'layers')).length, 2, 'the shared bottom layer is unpacked once');
    const one = await env.images.inspect('one:1');
    const two = await env.images.inspect('two:2');
    assert.ok(two.size > one.size);
  });

  it('loads an OCI layout (zstd archive, zstd layers, nested index, containerd and OCI ref names)', async () => {
    const layers = [await base()];
    const nested = await ociLayout([{ tags: ['oci:nested'], layers, compress: 'zstd' }], { nested: true });
    assert.deepEqual((await load(env, zstdCompressSync(nested))).names, ['oci:nested']);
    const refName = await ociLayout([{ tags: ['quay.io/x/y:2'], layers: [await top()], compress: 'gzip' }], { refName: 'oci' });
    assert.deepEqual((await load(env, refName)).names, ['quay.io/x/y:2']);
    const untagged = await ociLayout([{ layers: [], config: { Cmd: ['x'] } }]);
    const r = await load(env, untagged);
    assert.match(r.messages[0], /^Loaded image ID: sha256:[a-f0-9]{64}$/);
  });

  it('moves a tag to the new image and leaves the old one dangling', async () => {
    await load(env, await dockerArchive([{ tags: ['app:latest'], layers: [await base()] }]));
    const old = await env.images.inspect('app');
    const { messages } = await load(env, await dockerArchive([{ tags: ['app:latest'], layers: [await top()] }]));
    assert.equal(messages[0], `The image app:latest already exists, renaming the old one with ID ${old.id} to empty string`);
    assert.deepEqual((await env.images.inspect(old.id)).repoTags, []);
    assert.notEqual((await env.images.inspect('app:latest')).id, old.id);
  });

  it('refuses a layer whose content does not match its diff id, leaving nothing behind', async () => {
    const good = await base();
    const archive = await dockerArchive([{ tags: ['bad:1'], layers: [good] }]);
    // Same archive, with a different layer under the same name.
    const tampered = await makeTar([
      { name: `${sha(good).slice(7)}/layer.tar`, data: await top() },
      { name: `${imageConfig({ layers: [good] }).id.slice(7)}.json`, data: imageConfig({ tags: [], layers: [good] }).bytes },
      { name: 'manifest.json', data: JSON.stringify([{ Config: `${imageConfig({ layers: [good] }).id.slice(7)}.json`, RepoTags: ['bad:1'], Layers: [`${sha(good).slice(7)}/layer.tar`] }]) },
    ]);
    assert.ok(archive.length > 0);
    const before = listTree(env.root);
    await assert.rejects(load(env, tampered), (err) => isKind(err, 'invalid') && /diff id/.test(err.message));
    assert.deepEqual(listTree(env.root), before);
    assert.deepEqual(await env.images.list(), []);
  });

  it('refuses garbage and truncated archives with an invalid error and no leftovers', async () => {
    const good = await dockerArchive([{ tags: ['t:1'], layers: [await base()] }]);
    for (const [what, data] of [
      ['garbage', Buffer.from('this is not a tarball at all, not even close'.repeat(40))],
      ['truncated', good.subarray(0, Math.floor(good.length / 2))],
      ['truncated gzip', gzipSync(good).subarray(0, 200)],
      ['empty', Buffer.alloc(0)],
    ] as const) {
      const before = listTree(env.root);
      await assert.rejects(load(env, data), (err) => isKind(err, 'invalid'), what);
      assert.deepEqual(listTree(env.root), before, what);
    }
    assert.deepEqual(await env.images.list(), []);
  });
});

describe('the gate that bounds layer unpacks', () => {
  it('runs at most its size at once, every one of them, in the order given', async () => {
    const gate = new Gate(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const jobs = Array.from({ length: 7 }, (_, i) =>
      gate.run(async () => {
        started.push(i);
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 5 + (i % 3)));
        running--;
        if (i === 3) throw new Error('job 3 failed');
        return i;
      }),
    );
    const results = await Promise.allSettled(jobs);
    assert.equal(most, 2);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed')), [0, 1, 2, 'failed', 4, 5, 6], 'a failure frees its slot too');
  });
});
