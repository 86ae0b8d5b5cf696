// Removing a container's rootfs: the directory goes at once (renamed into
// trash/), its mount and files right behind it, and trash a crash left
// behind (mounted or not) is emptied when the store opens again.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { ImageStore } from './image-store.ts';
import { dockerArchive, load, makeTar, newEnv, type TestEnv } from './test-support.ts';

async function emptied(dir: string): Promise<boolean> {
  for (let i = 0; i < 1000; i++) {
    if (readdirSync(dir).length === 0) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

describe('rootfs removal', () => {
  let env: TestEnv;
  beforeEach(async () => {
    env = await newEnv();
  });
  afterEach(async () => {
    await env.cleanup();
  });

  it('removes the directory at once, the mount and files right after', async () => {
    const layer = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/hostname', data: 'img\n' }]);
    await load(env, await dockerArchive([{ tags: ['one:1'], layers: [layer] }]));
    const merged = await env.images.createRootfs('c1', 'one:1');
    mkdirSync(path.join(merged, 'data/deep/er'), { recursive: true });
    for (let i = 0; i < 50; i++) writeFileSync(path.join(merged, 'data/deep/er', `f${i}`), 'x'.repeat(1000));
    await env.images.removeRootfs('c1');
    assert.equal(existsSync(path.join(env.root, 'containers/c1')), false);
    assert.ok(await emptied(path.join(env.root, 'trash')), 'the writable layer is deleted');
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(env.root), 'the mount is gone');
    // The same id can be used again at once.
    const again = await env.images.createRootfs('c1', 'one:1');
    assert.equal(readFileSync(path.join(again, 'etc/hostname'), 'utf8'), 'img\n');
    assert.equal(existsSync(path.join(again, 'data')), false);
    await env.images.removeRootfs('c1');
  });

  it('unmounts and empties a removed rootfs a crash left mounted in trash', async () => {
    const layer = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/hostname', data: 'img\n' }]);
    await load(env, await dockerArchive([{ tags: ['one:1'], layers: [layer] }]));
    const merged = await env.images.createRootfs('c2', 'one:1');
    writeFileSync(path.join(merged, 'etc/extra'), 'x');
    // What a crash between the rename and the unmount leaves.
    renameSync(path.join(env.root, 'containers/c2'), path.join(env.root, 'trash', 'c2-0badf00d'));
    const store = new SqliteStore(path.join(env.base, 'second.db'));
    try {
      const images = new ImageStore({ root: env.root, store });
      await images.list(); // opened
      assert.ok(await emptied(path.join(env.root, 'trash')));
      assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(env.root), 'the mount is gone');
      // The image's layer was never touched through the mount.
      const again = await env.images.createRootfs('c3', 'one:1');
      assert.equal(readFileSync(path.join(again, 'etc/hostname'), 'utf8'), 'img\n');
      assert.equal(existsSync(path.join(again, 'etc/extra')), false);
      await env.images.removeRootfs('c3');
    } finally {
      await store.close();
    }
  });

  it('empties trash left by a crash when the store opens', async () => {
    const leftover = path.join(env.root, 'trash', 'c9-deadbeef', 'upper', 'a', 'b');
    mkdirSync(leftover, { recursive: true });
    writeFileSync(path.join(leftover, 'file'), 'left');
    const store = new SqliteStore(path.join(env.base, 'second.db'));
    try {
      const images = new ImageStore({ root: env.root, store });
      await images.list(); // opened
      assert.ok(await emptied(path.join(env.root, 'trash')));
    } finally {
      await store.close();
    }
  });

  it('removing a rootfs that does not exist is fine', async () => {
    await env.images.removeRootfs('never-made');
  });
});
