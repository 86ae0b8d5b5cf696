// The probe schedule: early probes come before the regular one, never right
// on its heels, and stop when early probing is over.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EARLY_FIRST_MS, nextEarlyGap, nextProbe } from './health.ts';

describe('nextProbe', () => {
  const now = 1_000_000;

  it('runs an early probe a gap from now while the regular one is far off', () => {
    assert.deepEqual(nextProbe(now, now + 3_600_000, EARLY_FIRST_MS), { at: now + EARLY_FIRST_MS, early: true });
  });

  it('leaves it to the regular probe when that comes within a first gap of the early one', () => {
    assert.deepEqual(nextProbe(now, now + 2 * EARLY_FIRST_MS - 1, EARLY_FIRST_MS), { at: now + 2 * EARLY_FIRST_MS - 1, early: false });
    assert.deepEqual(nextProbe(now, now + 50, EARLY_FIRST_MS), { at: now + 50, early: false });
  });

  it('runs only regular probes once early probing is over', () => {
    assert.deepEqual(nextProbe(now, now + 3_600_000, undefined), { at: now + 3_600_000, early: false });
  });

  it('spaces early probes further apart each time, about twenty in a 30 s interval', () => {
    let gap = EARLY_FIRST_MS;
    let t = now;
    let count = 0;
    for (let plan = nextProbe(t, now + 30_000, gap); plan.early; plan = nextProbe(t, now + 30_000, gap)) {
      t = plan.at;
      const next = nextEarlyGap(gap);
      assert.ok(next > gap);
      gap = next;
      count++;
    }
    assert.ok(count >= 15 && count <= 25, `${count} early probes in 30 s`);
  });
});
