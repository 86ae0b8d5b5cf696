import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isKind } from '../core/errors.ts';
import { type TarEntry, type TestEnv, dockerArchive, listTree, load, makeTar, newEnv, streamOf } from './test-support.ts';

describe('hostile tarballs', () => {
  let env: TestEnv;
  let outside: string;
  beforeEach(async () => {
    env = await newEnv();
    outside = path.join(env.base, 'outside');
    mkdirSync(outside);
  });
  afterEach(async () => {
    await env.cleanup();
  });

  const cases: [string, (outside: string) => TarEntry[], RegExp][] = [
    ['a ".." component', () => [{ name: '../../../escaped', data: 'x' }], /"\.\." component/],
    ['a ".." component in the middle', () => [{ name: 'a/../../escaped', data: 'x' }], /"\.\." component/],
    ['an absolute path', (o) => [{ name: `${o}/abs`, data: 'x' }], /absolute path/],
    ['a symlink climbing out of the layer', () => [{ name: 'a/link', type: 'symlink', linkname: '../../../../../../etc' }], /points outside the layer/],
    [
      'a write through an absolute symlink planted earlier',
      (o) => [
        { name: 'd', type: 'symlink', linkname: o },
        { name: 'd/pwned', data: 'x' },
      ],
      /written through the symlink d/,
    ],
    [
      'a write through a relative symlink planted earlier',
      () => [
        { name: 'real/', type: 'directory' },
        { name: 'd', type: 'symlink', linkname: 'real' },
        { name: 'd/file', data: 'x' },
      ],
      /written through the symlink d/,
    ],
    [
      'a directory entry through a symlink',
      (o) => [
        { name: 'd', type: 'symlink', linkname: o },
        { name: 'd/sub/', type: 'directory' },
      ],
      /written through the symlink d/,
    ],
    ['a hard link climbing out', () => [{ name: 'h', type: 'link', linkname: '../../../../etc/passwd' }], /points outside the layer/],
    ['a hard link to an absolute path', () => [{ name: 'h', type: 'link', linkname: '/etc/passwd' }], /points outside the layer/],
    ['a hard link to a file not in the layer', () => [{ name: 'h', type: 'link', linkname: 'etc/shadow' }], /not a file in this layer/],
    [
      'a hard link through a symlink',
      (o) => [
        { name: 'd', type: 'symlink', linkname: path.dirname(o) },
        { name: 'h', type: 'link', linkname: 'd/state.db' },
      ],
      /not a file in this layer/,
    ],
    [
      'a whiteout through a symlink',
      (o) => [
        { name: 'd', type: 'symlink', linkname: o },
        { name: 'd/.wh.x', data: '' },
      ],
      /written through the symlink d/,
    ],
  ];

  for (const [what, entries, message] of cases) {
    it(`refuses a layer with ${what}`, async () => {
      const good = await makeTar([{ name: 'ok', data: 'fine' }]);
      const evil = await makeTar(entries(outside));
      // The hostile layer comes second, after a good image: the whole load is refused.
      const archive = await dockerArchive([
        { tags: ['good:1'], layers: [good] },
        { tags: ['evil:1'], layers: [good, evil] },
      ]);
      const before = listTree(env.root);
      await assert.rejects(load(env, archive), (err) => isKind(err, 'invalid') && message.test(err.message));
      assert.deepEqual(readdirSync(outside), [], 'nothing written outside');
      assert.deepEqual(listTree(env.root), before, 'nothing left behind');
      assert.deepEqual(await env.images.list(), []);
    });
  }

  it('refuses the same hostile content through import', async () => {
    const evil = await makeTar([
      { name: 'd', type: 'symlink', linkname: outside },
      { name: 'd/pwned', data: 'x' },
    ]);
    const before = listTree(env.root);
    await assert.rejects(env.images.import(streamOf(evil), { repo: 'evil' }), (err) => isKind(err, 'invalid'));
    assert.deepEqual(readdirSync(outside), []);
    assert.deepEqual(listTree(env.root), before);
  });

  it('refuses archives whose own entries climb out', async () => {
    const layer = await makeTar([{ name: 'ok', data: 'fine' }]);
    for (const entries of [
      [{ name: '../manifest.json', data: '[]' }],
      [{ name: 'manifest.json', type: 'symlink' as const, linkname: '../../../etc/hostname' }],
      [
        { name: 'x/layer.tar', data: layer },
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['a:1'], Layers: ['../../x/layer.tar'] }]) },
        { name: 'c.json', data: '{"rootfs":{"type":"layers","diff_ids":[]}}' },
      ],
    ]) {
      const before = listTree(env.root);
      await assert.rejects(load(env, await makeTar(entries)), (err) => isKind(err, 'invalid'));
      assert.deepEqual(listTree(env.root), before);
    }
  });
});
