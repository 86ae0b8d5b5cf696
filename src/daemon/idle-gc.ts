// A daemon at rest hands back the memory of its last burst of work. During a
// burst V8 grows the young generation (up to tens of MiB of semi-spaces) and
// lets the old one grow to 3x its live size (main.ts, to save CPU during
// pulls); a plain full collection frees the objects but keeps those pages
// committed, and only V8's memory reducer, seconds later, gives them back.
// So once no request has arrived or been in progress for a while (a long
// upload or an open stream keeps the daemon busy), and requests came since
// the last time, a heap holding much more than it uses gets one collection
// of the kind that also shrinks the heap (tens of milliseconds of an idle
// process's time). Between a quiet spell's look and the next request the
// watch sleeps: a daemon at rest wakes for nothing.
import v8 from 'node:v8';
import vm from 'node:vm';

const CHECK_MS = 100;
const QUIET_MS = 500;
/** Committed but unused heap worth handing back. */
const MIN_SLACK = 16 * 1024 * 1024;

type Gc = (opts: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** The gc() that --expose-gc gives, without requiring the flag on the command line. */
function exposedGc(): Gc {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as Gc;
}

export interface IdleCollector {
  /** A request arrived: watch again until the daemon is quiet. */
  wake(): void;
  stop(): void;
}

/** Watches the API (requests received so far, and in progress now) from now until quiet, and again after each wake(). */
export function collectWhenIdle(activity: () => { received: number; inProgress: number }): IdleCollector {
  const gc = exposedGc();
  let seen = activity().received;
  let quietSince = Date.now();
  let collectedAfter = -1;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // One look at the API; false once this quiet spell is dealt with.
  const check = (): boolean => {
    const now = activity();
    if (now.received !== seen || now.inProgress > 0) {
      seen = now.received;
      quietSince = Date.now();
      return true;
    }
    if (collectedAfter === seen) return false;
    if (Date.now() - quietSince < QUIET_MS) return true;
    // One look per quiet spell: a heap that stays roomy must not cost a collection every check.
    collectedAfter = seen;
    const { heapTotal, heapUsed } = process.memoryUsage();
    // "last-resort" is V8's memory-reducing full collection: it also shrinks the young generation.
    if (heapTotal - heapUsed >= MIN_SLACK) gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    return false;
  };
  const arm = () => {
    if (timer || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (check()) arm();
    }, CHECK_MS);
    timer.unref();
  };
  arm();
  return {
    wake: arm,
    stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
