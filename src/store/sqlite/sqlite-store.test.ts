import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { isKind } from '../../core/errors.ts';
import { SqliteStore } from './sqlite-store.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'berth-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('records are versioned and survive reopening', async () => {
  const file = path.join(dir, 'a.db');
  const s = new SqliteStore(file);
  const r1 = await s.put('container', 'abc', { n: 1 });
  const r2 = await s.put('container', 'abd', { n: 2 });
  assert.ok(r2 > r1);
  assert.deepEqual((await s.get('container', 'abc'))?.value, { n: 1 });
  assert.deepEqual((await s.list('container', 'ab')).map((x) => x.key), ['abc', 'abd']);
  await s.close();
  const reopened = new SqliteStore(file);
  assert.equal((await reopened.get('container', 'abd'))?.version, r2);
  await reopened.close();
});

test('conditional writes fail as a whole and leave nothing behind', async () => {
  const s = new SqliteStore(path.join(dir, 'b.db'));
  await s.put('name', 'web', 'id1', 0);
  await assert.rejects(
    s.txn([
      { op: 'put', kind: 'container', key: 'id2', value: {}, ifVersion: 0 },
      { op: 'put', kind: 'name', key: 'web', value: 'id2', ifVersion: 0 },
    ]),
    (err) => isKind(err, 'conflict'),
  );
  assert.equal(await s.get('container', 'id2'), undefined, 'the first operation of a failed transaction must be rolled back');
  assert.equal((await s.get('name', 'web'))?.value, 'id1');
  const v = (await s.get('name', 'web'))!.version;
  await assert.rejects(s.put('name', 'web', 'id3', v + 100), (err) => isKind(err, 'conflict'));
  await s.put('name', 'web', 'id3', v);
  assert.equal((await s.get('name', 'web'))?.value, 'id3');
  await s.close();
});

test('watchers see committed changes in order', async () => {
  const s = new SqliteStore(path.join(dir, 'c.db'));
  const seen: string[] = [];
  const stop = s.watch(0, (c) => seen.push(`${c.kind}/${c.key}:${c.value === undefined ? 'deleted' : 'put'}`));
  await s.put('image', 'x', 1);
  await s.delete('image', 'x');
  stop();
  await s.put('image', 'y', 1);
  assert.deepEqual(seen, ['image/x:put', 'image/x:deleted']);
  await s.close();
});

test('listed kinds answer from memory exactly as the database does, across commits, failed transactions and reopening', async () => {
  const file = path.join(dir, 'd.db');
  const s = new SqliteStore(file);
  await s.put('container', 'b', { n: 1 });
  assert.deepEqual((await s.list('container')).map((x) => x.key), ['b'], 'the first list loads the kind');
  await s.txn([
    { op: 'put', kind: 'container', key: 'a', value: { n: 2 } },
    { op: 'put', kind: 'container', key: 'c', value: { n: 3 } },
    { op: 'delete', kind: 'container', key: 'b' },
  ]);
  await assert.rejects(
    s.txn([
      { op: 'put', kind: 'container', key: 'd', value: {} },
      { op: 'put', kind: 'container', key: 'a', value: { n: 9 }, ifVersion: 12345 },
    ]),
    (err) => isKind(err, 'conflict'),
  );
  const fromMemory = await s.list<{ n: number }>('container');
  assert.deepEqual(fromMemory.map((x) => [x.key, x.value.n]), [['a', 2], ['c', 3]], 'committed writes only, in key order');
  assert.deepEqual((await s.get('container', 'a'))?.value, { n: 2 });
  assert.equal(await s.get('container', 'd'), undefined);
  // Callers may change what they got without touching what the store holds.
  fromMemory[0].value.n = 100;
  assert.deepEqual((await s.get('container', 'a'))?.value, { n: 2 });
  await s.close();
  const reopened = new SqliteStore(file);
  assert.deepEqual((await reopened.list('container')).map((x) => [x.key, x.version]), fromMemory.map((x) => [x.key, x.version]));
  await reopened.close();
});

test('listShared hands every caller the same frozen value until the record changes', async () => {
  const s = new SqliteStore(path.join(dir, 'shared.db'));
  await s.put('container', 'a', { n: 1, nested: { tags: ['x'] } });
  await s.put('container', 'b', { n: 2, nested: { tags: [] } });
  const first = await s.listShared<{ n: number; nested: { tags: string[] } }>('container');
  const again = await s.listShared<{ n: number; nested: { tags: string[] } }>('container');
  assert.deepEqual(first.map((x) => [x.key, x.value.n]), [['a', 1], ['b', 2]]);
  assert.equal(again[0].value, first[0].value, 'parsed once, shared');
  assert.throws(() => { first[0].value.n = 5; }, TypeError, 'a shared value cannot be changed');
  assert.throws(() => { first[0].value.nested.tags.push('y'); }, TypeError, 'nor anything inside it');
  assert.deepEqual((await s.get('container', 'a'))?.value, { n: 1, nested: { tags: ['x'] } }, 'get still gives a fresh copy');
  await s.put('container', 'a', { n: 3, nested: { tags: [] } });
  const after = await s.listShared<{ n: number }>('container', 'a');
  assert.deepEqual(after.map((x) => [x.key, x.value.n]), [['a', 3]], 'a write replaces the shared value');
  assert.equal((await s.listShared('container'))[1].value, first[1].value, 'an unchanged record keeps its value');
  await s.close();
});
