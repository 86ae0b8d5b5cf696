import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ImageUsage } from '../agent/agent-api.ts';
import { isKind } from '../core/errors.ts';
import { type TestEnv, dockerArchive, load, makeTar, newEnv, noUsage, sha } from './test-support.ts';

const CONTAINER = '0123abcd4567ef890123abcd4567ef890123abcd4567ef890123abcd4567ef89';

describe('remove, prune, history, lookup', () => {
  let env: TestEnv;
  let layer: Buffer;
  beforeEach(async () => {
    env = await newEnv();
    layer = await makeTar([{ name: 'file', data: 'content' }]);
  });
  afterEach(async () => {
    await env.cleanup();
  });

  const usedBy = (id: string, running: boolean): ImageUsage => (imageId) => (imageId === id ? { containerId: CONTAINER, running } : undefined);
  const blobsAndLayers = () => [readdirSync(path.join(env.root, 'blobs/sha256')).length, readdirSync(path.join(env.root, 'layers')).length];

  it('untags one of several tags, then deletes the image and its layers by id', async () => {
    await load(env, await dockerArchive([{ tags: ['app:1', 'app:2'], layers: [layer] }]));
    const img = await env.images.inspect('app:1');
    assert.deepEqual(await env.images.remove('app:1', { force: false, noPrune: false, usage: noUsage }), [{ Untagged: 'app:1' }]);
    assert.deepEqual((await env.images.inspect(img.id)).repoTags, ['app:2']);
    await assert.rejects(env.images.inspect('app:1'), (err) => isKind(err, 'not-found') && err.message === 'No such image: app:1');
    const removed = await env.images.remove(img.id.slice(7, 19), { force: false, noPrune: false, usage: noUsage });
    assert.deepEqual(removed, [{ Untagged: 'app:2' }, { Deleted: img.id }, { Deleted: sha(layer) }]);
    assert.deepEqual(blobsAndLayers(), [0, 0]);
    assert.deepEqual(await env.images.list(), []);
  });

  it('refuses to delete by id an image tagged in several repositories unless forced', async () => {
    await load(env, await dockerArchive([{ tags: ['a:1', 'b:1'], layers: [layer] }]));
    const img = await env.images.inspect('a:1');
    const short = img.id.slice(7, 19);
    await assert.rejects(
      env.images.remove(short, { force: false, noPrune: false, usage: noUsage }),
      (err) => isKind(err, 'conflict') && err.message === `conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`,
    );
    const removed = await env.images.remove(short, { force: true, noPrune: false, usage: noUsage });
    assert.deepEqual(removed, [{ Untagged: 'a:1' }, { Untagged: 'b:1' }, { Deleted: img.id }, { Deleted: sha(layer) }]);
  });

  it('protects images used by containers, as Docker does', async () => {
    await load(env, await dockerArchive([{ tags: ['x:1'], layers: [layer] }]));
    const img = await env.images.inspect('x:1');
    const short = img.id.slice(7, 19);
    await assert.rejects(
      env.images.remove('x:1', { force: false, noPrune: false, usage: usedBy(img.id, false) }),
      (err) =>
        isKind(err, 'conflict') &&
        err.message === `conflict: unable to remove repository reference "x:1" (must force) - container 0123abcd4567 is using its referenced image ${short}`,
    );
    await assert.rejects(
      env.images.remove(img.id, { force: true, noPrune: false, usage: usedBy(img.id, true) }),
      (err) => isKind(err, 'conflict') && err.message === `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container 0123abcd4567`,
    );
    // Forced removal of the tag of an image a running container uses only untags it.
    assert.deepEqual(await env.images.remove('x:1', { force: true, noPrune: false, usage: usedBy(img.id, true) }), [{ Untagged: 'x:1' }]);
    await assert.rejects(
      env.images.remove(img.id, { force: false, noPrune: false, usage: usedBy(img.id, false) }),
      (err) => isKind(err, 'conflict') && err.message === `conflict: unable to delete ${short} (must be forced) - image is being used by stopped container 0123abcd4567`,
    );
  });

  it('keeps layers a container still mounts after its image is force-removed', async () => {
    await load(env, await dockerArchive([{ tags: ['x:1'], layers: [layer] }]));
    const img = await env.images.inspect('x:1');
    const merged = await env.images.createRootfs(CONTAINER, img.id);
    const removed = await env.images.remove('x:1', { force: true, noPrune: false, usage: usedBy(img.id, false) });
    assert.deepEqual(removed, [{ Untagged: 'x:1' }, { Deleted: img.id }]);
    assert.equal(readFileSync(path.join(merged, 'file'), 'utf8'), 'content');
    await env.images.removeRootfs(CONTAINER);
    assert.deepEqual(blobsAndLayers(), [0, 0]);
    assert.equal(existsSync(merged), false);
  });

  it('prunes dangling images only, or all unused ones, honouring label and until filters', async () => {
    const other = await makeTar([{ name: 'other', data: 'o' }]);
    await load(env, await dockerArchive([{ tags: ['keep:1'], layers: [layer], config: { Labels: { tier: 'web' } } }]));
    await load(env, await dockerArchive([{ tags: ['keep:1'], layers: [other], config: { Labels: { tier: 'db' } } }]));
    const dangling = (await env.images.list()).find((i) => i.repoTags.length === 0)!;
    assert.ok(dangling);
    await load(env, await dockerArchive([{ tags: ['used:1'], layers: [], config: { Cmd: ['used'] } }]));
    const used = await env.images.inspect('used:1');

    const none = await env.images.prune({ all: false, usage: noUsage, filters: { label: ['tier=web'], 'label!': ['tier'] } });
    assert.deepEqual(none, { ImagesDeleted: null, SpaceReclaimed: 0 });
    const old = await env.images.prune({ all: false, usage: noUsage, filters: { until: ['2000-01-01T00:00:00Z'] } });
    assert.equal(old.ImagesDeleted, null, 'images created after "until" are kept');

    const r = await env.images.prune({ all: false, usage: noUsage, filters: { label: ['tier=web'] } });
    assert.deepEqual(r.ImagesDeleted, [{ Deleted: dangling.id }, { Deleted: sha(layer) }]);
    assert.equal(r.SpaceReclaimed, 7);

    const all = await env.images.prune({ all: true, usage: usedBy(used.id, false), filters: {} });
    assert.deepEqual(all.ImagesDeleted?.map((d) => d.Untagged ?? d.Deleted?.slice(0, 7)), ['keep:1', 'sha256:', 'sha256:']);
    assert.deepEqual((await env.images.list()).map((i) => i.repoTags), [['used:1']]);
    await assert.rejects(env.images.prune({ all: false, usage: noUsage, filters: { bogus: ['1'] } }), (err) => isKind(err, 'invalid'));
  });

  it('shows history newest first with layer sizes matched to non-empty entries', async () => {
    const l2 = await makeTar([{ name: 'big', data: 'x'.repeat(100) }]);
    await load(env, await dockerArchive([
      {
        tags: ['h:1'],
        layers: [layer, l2],
        history: [
          { created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:abc in /' },
          { created: '2024-01-01T00:00:01Z', created_by: '/bin/sh -c #(nop) ENV A=1', empty_layer: true },
          { created: '2024-01-01T00:00:02Z', created_by: 'RUN make big', comment: 'c' },
        ],
      },
    ]));
    const img = await env.images.inspect('h:1');
    const history = await env.images.history('h:1');
    assert.deepEqual(history, [
      { Id: img.id, Created: 1704067202, CreatedBy: 'RUN make big', Tags: ['h:1'], Size: 100, Comment: 'c' },
      { Id: '<missing>', Created: 1704067201, CreatedBy: '/bin/sh -c #(nop) ENV A=1', Tags: null, Size: 0, Comment: '' },
      { Id: '<missing>', Created: 1704067200, CreatedBy: '/bin/sh -c #(nop) ADD file:abc in /', Tags: null, Size: 7, Comment: '' },
    ]);
  });

  it('finds images by id, prefix and name; ambiguous or unknown ones are not found', async () => {
    await load(env, await dockerArchive([{ tags: ['docker.io/library/busybox:latest'], layers: [layer] }]));
    const img = await env.images.inspect('busybox');
    assert.equal((await env.images.inspect(img.id)).id, img.id);
    assert.equal((await env.images.inspect(img.id.slice(7))).id, img.id);
    assert.equal((await env.images.inspect(img.id.slice(0, 12))).id, img.id);
    assert.equal((await env.images.inspect('index.docker.io/library/busybox:latest')).id, img.id);
    await assert.rejects(env.images.inspect('busybox:1'), (err) => isKind(err, 'not-found') && err.message === 'No such image: busybox:1');
    await assert.rejects(env.images.inspect('Upper'), (err) => isKind(err, 'not-found'));
    await env.images.tag('busybox', 'mine/bb:v2');
    assert.deepEqual((await env.images.inspect('mine/bb:v2')).repoTags, ['busybox:latest', 'mine/bb:v2']);
    await assert.rejects(env.images.tag('busybox', 'x@sha256:' + 'a'.repeat(64)), (err) => isKind(err, 'invalid'));
    await assert.rejects(env.images.tag('nope', 'x:1'), (err) => isKind(err, 'not-found') && err.message === 'No such image: nope:latest');
  });
});
