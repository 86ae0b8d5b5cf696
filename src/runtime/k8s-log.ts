// conmon's "k8s-file" log format, one record a line:
//   <RFC 3339 local time with ns and offset> <stdout|stderr> <F|P> <bytes>
// "F" records end a line (the bytes are followed by the line's own "\n");
// "P" records are pieces of a longer line (conmon adds a "\n" that is not
// part of the output). conmon writes this format to ctr.log; for Docker's
// "json-file" driver it is only a staging buffer that json-log/ converts.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { LogEntry, LogOptions } from '../agent/agent-api.ts';
import { LineFileReader, type FilePosition } from './line-reader.ts';
import { parseRfc3339Ns, rfc3339FromNs, secondsToNs, nowNs } from './time.ts';

export interface K8sRecord {
  timeNs: bigint;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  /** The bytes the process wrote ("F": with its newline; "P": without). */
  data: Buffer;
}

const SPACE = 0x20;
const NEWLINE = 0x0a;

/** Parses one line of the file (without the line's final "\n"). */
export function parseK8sLine(line: Buffer): K8sRecord | undefined {
  const s1 = line.indexOf(SPACE);
  if (s1 < 0) return undefined;
  const s2 = line.indexOf(SPACE, s1 + 1);
  if (s2 < 0) return undefined;
  const timeNs = parseRfc3339Ns(line.subarray(0, s1).toString('latin1'));
  const stream = line.subarray(s1 + 1, s2).toString('latin1');
  if (timeNs === undefined || (stream !== 'stdout' && stream !== 'stderr')) return undefined;
  const tag = line[s2 + 1];
  const partial = tag === 0x50; // "P"
  if (!partial && tag !== 0x46) return undefined; // "F"
  const body = line.subarray(Math.min(line.length, s2 + 3));
  const data = partial ? Buffer.from(body) : Buffer.concat([body, Buffer.from([NEWLINE])]);
  return { timeNs, stream, partial, data };
}

/** Joins "P" pieces with the record that completes them, per stream. */
export class PartialJoiner {
  private readonly pending = new Map<string, { timeNs: bigint; parts: Buffer[]; since: number }>();

  push(r: K8sRecord, out: LogEntry[]): void {
    const p = this.pending.get(r.stream);
    if (r.partial) {
      if (p) p.parts.push(r.data);
      else this.pending.set(r.stream, { timeNs: r.timeNs, parts: [r.data], since: Date.now() });
      return;
    }
    if (p) {
      this.pending.delete(r.stream);
      out.push({ stream: r.stream, time: rfc3339FromNs(p.timeNs), data: Buffer.concat([...p.parts, r.data]) });
    } else {
      out.push({ stream: r.stream, time: rfc3339FromNs(r.timeNs), data: r.data });
    }
  }

  /** Emits pieces still waiting (older than minAgeMs) as entries without a newline. */
  flush(out: LogEntry[], minAgeMs = 0): void {
    const now = Date.now();
    for (const [stream, p] of [...this.pending]) {
      if (now - p.since < minAgeMs) continue;
      this.pending.delete(stream);
      out.push({ stream: stream as 'stdout' | 'stderr', time: rfc3339FromNs(p.timeNs), data: Buffer.concat(p.parts) });
    }
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }
}

/**
 * Reads a log file incrementally, following conmon's rotation (with
 * --log-size-max it writes a new file and renames it over the old one).
 */
export class K8sLogReader {
  private readonly lines: LineFileReader;

  constructor(file: string, resumeAt?: FilePosition) {
    this.lines = new LineFileReader(file, resumeAt);
  }

  /** Complete records written since the last call (unparseable lines are skipped). */
  async read(): Promise<K8sRecord[]> {
    return (await this.readWithPositions()).map((p) => p.record);
  }

  /** Like read(), each record with the file position just after it. */
  async readWithPositions(): Promise<{ record: K8sRecord; end: FilePosition }[]> {
    const out: { record: K8sRecord; end: FilePosition }[] = [];
    for (const line of await this.lines.read()) {
      const record = parseK8sLine(line.data);
      if (record) out.push({ record, end: line.end });
    }
    return out;
  }

  get consumed(): FilePosition {
    return this.lines.consumed;
  }

  close(): Promise<void> {
    return this.lines.close();
  }
}

export interface FollowHooks {
  /** Whether the container still runs (more output may come). */
  running: () => Promise<boolean>;
  pollMs?: number;
}

/**
 * Docker's `logs` semantics: tail counts the last lines of the file (all
 * streams), then since/until and the stream selection filter; with follow,
 * new lines are streamed until the container exits and the file is drained,
 * `until` passes, or the signal aborts.
 */
export async function* readK8sLog(file: string, opts: LogOptions, hooks: FollowHooks): AsyncGenerator<LogEntry> {
  const sinceNs = opts.since > 0 ? secondsToNs(opts.since) : undefined;
  const untilNs = opts.until > 0 ? secondsToNs(opts.until) : undefined;
  const pollMs = hooks.pollMs ?? 250;
  const wanted = (e: LogEntry) => (e.stream === 'stdout' ? opts.stdout : opts.stderr);
  const reader = new K8sLogReader(file);
  const joiner = new PartialJoiner();
  const signal = opts.signal;
  let pastUntil = false;

  const filter = function* (entries: LogEntry[]): Generator<LogEntry> {
    for (const e of entries) {
      const t = parseRfc3339Ns(e.time)!;
      if (untilNs !== undefined && t > untilNs) {
        pastUntil = true;
        return;
      }
      if (sinceNs !== undefined && t < sinceNs) continue;
      if (wanted(e)) yield e;
    }
  };

  try {
    // What is there now.
    let done = opts.follow ? !(await hooks.running()) : true;
    let entries: LogEntry[] = [];
    for (const r of await reader.read()) joiner.push(r, entries);
    if (done) joiner.flush(entries);
    if (opts.tail >= 0) entries = opts.tail === 0 ? [] : entries.slice(-opts.tail);
    yield* filter(entries);
    if (!opts.follow || done || pastUntil || signal?.aborted) return;

    // Follow.
    const waker = new Waker(path.dirname(file), pollMs);
    try {
      for (;;) {
        await waker.wait(signal, opts.followUntil); // the end of a followUntil wakes at once, not at the next poll
        if (signal?.aborted) return;
        done = !(await hooks.running()); // before reading: whatever it wrote is in the file now
        const batch: LogEntry[] = [];
        const records = await reader.read();
        for (const r of records) joiner.push(r, batch);
        if (done) joiner.flush(batch);
        else if (records.length === 0) joiner.flush(batch, pollMs); // an unfinished line, idle: show it
        yield* filter(batch);
        if (done || pastUntil) return;
        if (untilNs !== undefined && nowNs() > untilNs) return;
      }
    } finally {
      waker.close();
    }
  } finally {
    await reader.close();
  }
}

/** Resolves on a change in a directory, after pollMs, or on abort, whichever comes first. */
class Waker {
  private watcher: FSWatcher | undefined;
  private wake: (() => void) | undefined;
  private dirty = false;
  private readonly pollMs: number;

  constructor(dir: string, pollMs: number) {
    this.pollMs = pollMs;
    try {
      this.watcher = watch(dir, { persistent: false }, () => {
        this.dirty = true;
        this.wake?.();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      this.watcher = undefined;
    }
  }

  wait(signal?: AbortSignal, until?: AbortSignal): Promise<void> {
    if (this.dirty || until?.aborted) {
      this.dirty = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        until?.removeEventListener('abort', done);
        this.wake = undefined;
        this.dirty = false;
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      signal?.addEventListener('abort', done, { once: true });
      until?.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  close(): void {
    this.watcher?.close();
  }
}
