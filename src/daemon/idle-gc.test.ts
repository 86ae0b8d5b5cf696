import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import { collectWhenIdle } from './idle-gc.ts';

const MiB = 1024 * 1024;

/** Committed size of the young generation, which V8 grows during bursts of allocation. */
const youngMiB = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size / MiB;

/** Objects that survive a few scavenges, as the work of a burst of requests does: V8 grows the young generation. */
function burst(activity: { received: number }): void {
  let keep: unknown[] = [];
  for (let round = 0; round < 5; round++) {
    activity.received++;
    keep = [];
    for (let i = 0; i < 1_000_000; i++) keep.push({ i, s: `x${i}` });
  }
  keep.length = 0;
}

/** How many major collections ran while fn ran. */
async function majorGcsDuring(fn: () => Promise<void>): Promise<number> {
  let n = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) n++;
  });
  obs.observe({ entryTypes: ['gc'] });
  try {
    await fn();
    await sleep(50); // gc entries arrive asynchronously
  } finally {
    obs.disconnect();
  }
  return n;
}

test('after a burst of requests a quiet daemon hands its heap back, once, and not while a request is in progress', async () => {
  const activity = { received: 0, inProgress: 0 };
  const idle = collectWhenIdle(() => activity);
  try {
    burst(activity);
    const grown = youngMiB();
    assert.ok(grown >= 32, `the burst should have grown the young generation (${grown} MiB): the test proves nothing otherwise`);
    await sleep(1200); // 0.5 s quiet, checked every 0.1 s
    assert.ok(youngMiB() <= 8, `the young generation stayed committed: ${grown} MiB after the burst, ${youngMiB()} MiB after a quiet second`);
    // Still quiet: no further collections, however the heap looks.
    assert.equal(await majorGcsDuring(() => sleep(800)), 0, 'an idle daemon must not collect over and over');

    // A request in progress keeps the daemon busy however long it takes.
    activity.inProgress = 1;
    idle.wake(); // (the server wakes it as a request arrives)
    burst(activity);
    const busy = youngMiB();
    await sleep(1200);
    assert.equal(youngMiB(), busy, 'the heap was shrunk while a request was in progress');
    activity.inProgress = 0;
    await sleep(1200);
    assert.ok(youngMiB() <= 8, `once the request ended and the daemon was quiet: ${youngMiB()} MiB`);

    // At rest the watch sleeps: it looks again only when a request wakes it.
    burst(activity);
    const unseen = youngMiB();
    assert.ok(unseen >= 32, `the burst should have grown the young generation (${unseen} MiB)`);
    await sleep(1200);
    assert.equal(youngMiB(), unseen, 'a sleeping watch collected without being woken');
    idle.wake();
    await sleep(1200);
    assert.ok(youngMiB() <= 8, `woken, then quiet: ${youngMiB()} MiB`);
  } finally {
    idle.stop();
  }
});
