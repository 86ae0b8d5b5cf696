// A daemon at rest hands back the garbage of its last burst of work. V8
// collects the old generation only when it has grown well past its live
// size (main.ts lets it grow to 3x, to save CPU during pulls), so after a
// few hundred containers came and went the heap may stay at several times
// what it holds until more work arrives. When no request has arrived or been
// in progress for a while (a long upload or an open stream keeps it busy)
// and the heap has grown since the last collection, one full collection
// runs (tens of milliseconds of an idle process's time).
import v8 from 'node:v8';
import vm from 'node:vm';

const CHECK_MS = 250;
const QUIET_MS = 500;
const MIN_GROWTH = 16 * 1024 * 1024;

/** The gc() that --expose-gc gives, without requiring the flag on the command line. */
function exposedGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** Starts watching the API (requests received so far, and in progress now); returns a stop function. */
export function collectWhenIdle(activity: () => { received: number; inProgress: number }): () => void {
  const gc = exposedGc();
  let seen = activity().received;
  let quietSince = Date.now();
  let afterLastGc = process.memoryUsage().heapUsed;
  const timer = setInterval(() => {
    const now = activity();
    if (now.received !== seen || now.inProgress > 0) {
      seen = now.received;
      quietSince = Date.now();
      return;
    }
    if (Date.now() - quietSince < QUIET_MS) return;
    if (process.memoryUsage().heapUsed - afterLastGc < MIN_GROWTH) return;
    gc();
    afterLastGc = process.memoryUsage().heapUsed;
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
