import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { containerUid, hostGid, hostUid, type IdMap } from '../core/id-map.ts';
import { freeRange, subRange } from './userns-remap.ts';

describe('subordinate id ranges', () => {
  const text = 'alice:100000:65536\n# comment\n1001:165536:65536\nbob:0:0\nbob:231072:1000\n';

  it('finds the first usable range by name or by numeric id', () => {
    assert.deepEqual(subRange(text, { name: 'alice', id: 1000 }), { base: 100000, size: 65536 });
    assert.deepEqual(subRange(text, { name: 'carol', id: 1001 }), { base: 165536, size: 65536 });
    assert.deepEqual(subRange(text, { name: 'bob', id: 7 }), { base: 231072, size: 1000 }, 'an empty range is skipped');
    assert.equal(subRange(text, { name: 'dave', id: 9 }), undefined);
  });

  it('hands out a range past every range in use', () => {
    assert.deepEqual(freeRange(text), { base: 232072, size: 65536 });
    assert.deepEqual(freeRange(''), { base: 100000, size: 65536 });
  });
});

describe('id mapping', () => {
  const m: IdMap = { uid: { base: 300000, size: 65536 }, gid: { base: 400000, size: 1000 } };

  it('shifts container ids to host ids and back; unmapped host ids are the overflow id', () => {
    assert.equal(hostUid(m, 0), 300000);
    assert.equal(hostGid(m, 999), 400999);
    assert.equal(containerUid(m, 301234), 1234);
    assert.equal(containerUid(m, 0), 65534);
    assert.equal(hostUid(undefined, 5), 5);
  });

  it('refuses a container id outside the range', () => {
    assert.throws(() => hostGid(m, 1000), /cannot be mapped/);
    assert.throws(() => hostUid(m, -1), /cannot be mapped/);
  });
});
