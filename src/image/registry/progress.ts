// Docker's JSON progress messages (what `docker pull` and `docker push`
// render as progress bars): {"id": "<short>", "status": "...", "progressDetail": {...}}.
import type { ProgressMessage } from '../../agent/agent-api.ts';

export type Progress = (m: ProgressMessage) => void;

/** The 12 hex digits Docker shows for a layer. */
export const shortDigest = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

/** Progress of one layer, throttled to about 10 updates a second per layer. */
export function layerProgress(progress: Progress, id: string, status: string, total: number): (current: number) => void {
  let last = 0;
  return (current) => {
    const now = Date.now();
    if (now - last < 100 && current < total) return;
    last = now;
    progress({ id, status, progressDetail: { current, total } });
  };
}

/** Runs tasks with at most `limit` at a time; every task runs even when one fails, the first error wins. */
export async function limited<T>(tasks: (() => Promise<T>)[], limit: number, onQueued?: (index: number) => void): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  let firstError: unknown;
  for (let i = limit; i < tasks.length; i++) onQueued?.(i);
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      try {
        results[i] = await tasks[i]();
      } catch (err) {
        firstError ??= err;
        next = tasks.length; // start nothing new
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (firstError !== undefined) throw firstError;
  return results;
}
