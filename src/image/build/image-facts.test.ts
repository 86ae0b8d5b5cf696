// BoundedMemo keeps what was used last and forgets the rest beyond its bound.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedMemo } from './image-facts.ts';

describe('BoundedMemo', () => {
  it('answers what it was told, including false', () => {
    const m = new BoundedMemo<boolean>(4);
    m.set('a', false);
    assert.equal(m.get('a'), false);
    assert.equal(m.get('b'), undefined);
  });

  it('forgets the least recently used entry beyond its bound', () => {
    const m = new BoundedMemo<number>(2);
    m.set('a', 1);
    m.set('b', 2);
    assert.equal(m.get('a'), 1); // a is now the most recent
    m.set('c', 3);
    assert.equal(m.get('b'), undefined);
    assert.equal(m.get('a'), 1);
    assert.equal(m.get('c'), 3);
    assert.equal(m.size, 2);
  });

  it('replaces a value without growing', () => {
    const m = new BoundedMemo<string>(2);
    m.set('a', 'x');
    m.set('a', 'y');
    assert.equal(m.get('a'), 'y');
    assert.equal(m.size, 1);
  });
});
