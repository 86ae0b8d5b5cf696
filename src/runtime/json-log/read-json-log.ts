// `docker logs` over a json-file set: rotated files oldest first, then the
// current one. Same semantics as the k8s-file reader: tail counts the last
// entries of the whole set, then since/until and the stream selection
// filter; with follow, new entries stream until the container is done, the
// `until` time passes, or the signal aborts. Each entry is one json line, as
// Docker has it (a partial line is an entry without its "\n").
import { promises as fs } from 'node:fs';
import type { LogEntry, LogOptions } from '../../agent/agent-api.ts';
import { LineFileReader } from '../line-reader.ts';
import { nowNs, secondsToNs } from '../time.ts';
import { decodeJsonLine } from './json-line.ts';

export interface JsonFollowHooks {
  /** Whether more output may come. */
  running: () => Promise<boolean>;
  /** Converts whatever the container wrote so far. */
  catchUp: () => Promise<void>;
  /** Calls wake when new entries were written; returns the unsubscribe. */
  subscribe: (wake: () => void) => () => void;
  pollMs?: number;
}

type Decoded = LogEntry & { timeNs: bigint };

function decodeAll(text: Buffer): Decoded[] {
  const out: Decoded[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf(0x0a, start);
    if (nl < 0) break;
    const e = decodeJsonLine(text.subarray(start, nl));
    if (e) out.push(e);
    start = nl + 1;
  }
  return out;
}

/** files: oldest first, the current (written) file last. */
export async function* readJsonLog(files: string[], opts: LogOptions, hooks: JsonFollowHooks): AsyncGenerator<LogEntry> {
  const sinceNs = opts.since > 0 ? secondsToNs(opts.since) : undefined;
  const untilNs = opts.until > 0 ? secondsToNs(opts.until) : undefined;
  const pollMs = hooks.pollMs ?? 250;
  const signal = opts.signal;
  let pastUntil = false;

  const filter = function* (entries: Decoded[]): Generator<LogEntry> {
    for (const e of entries) {
      if (untilNs !== undefined && e.timeNs > untilNs) {
        pastUntil = true;
        return;
      }
      if (sinceNs !== undefined && e.timeNs < sinceNs) continue;
      if (e.stream === 'stdout' ? opts.stdout : opts.stderr) yield { stream: e.stream, time: e.time, data: e.data };
    }
  };

  // Woken by the converter, by the poll, or by abort.
  let dirty = false;
  let wake: (() => void) | undefined;
  const unsubscribe = opts.follow
    ? hooks.subscribe(() => {
        dirty = true;
        wake?.();
      })
    : () => undefined;
  const current = new LineFileReader(files[files.length - 1]);
  try {
    let done = opts.follow ? !(await hooks.running()) : true;
    await hooks.catchUp();
    // Rotated files are complete; each is at most max-size.
    const tail = opts.tail;
    let kept: Decoded[] = [];
    const keep = (entries: Decoded[]) => {
      if (tail === 0) return;
      for (const e of entries) kept.push(e);
      if (tail > 0 && kept.length > 2 * tail + 1024) kept = kept.slice(-tail);
    };
    for (const f of files.slice(0, -1)) {
      const text = await fs.readFile(f).catch(() => undefined);
      if (text) keep(decodeAll(text));
    }
    keep(decodeLines(await current.read()));
    if (tail > 0) kept = kept.slice(-tail);
    yield* filter(kept);
    kept = [];
    if (!opts.follow || done || pastUntil || signal?.aborted) return;

    for (;;) {
      if (!dirty) {
        await new Promise<void>((resolve) => {
          const finish = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', finish);
            opts.followUntil?.removeEventListener('abort', finish);
            wake = undefined;
            resolve();
          };
          const timer = setTimeout(finish, pollMs);
          signal?.addEventListener('abort', finish, { once: true });
          opts.followUntil?.addEventListener('abort', finish, { once: true });
          wake = finish;
        });
      }
      dirty = false;
      if (signal?.aborted) return;
      done = !(await hooks.running());
      if (done) await hooks.catchUp(); // whatever it wrote before it ended
      yield* filter(decodeLines(await current.read()));
      if (done || pastUntil) return;
      if (untilNs !== undefined && nowNs() > untilNs) return;
    }
  } finally {
    unsubscribe();
    await current.close();
  }
}

function decodeLines(lines: { data: Buffer }[]): Decoded[] {
  const out: Decoded[] = [];
  for (const l of lines) {
    const e = decodeJsonLine(l.data);
    if (e) out.push(e);
  }
  return out;
}
