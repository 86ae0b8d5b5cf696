// The head's event bus: every container, image, network and volume event goes
// through here to `docker events` subscribers and waiters. The last events
// are kept in memory and appended to a JSON-lines file so that `--since`
// answers across a daemon restart (a bounded window: the last KEEP events).
import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import type { ContainerRecord } from '../core/types.ts';

export type EventType = 'container' | 'image' | 'network' | 'volume' | 'daemon';

export interface BerthEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  /** Unix seconds. */
  time: number;
  /** Unix nanoseconds: a bigint, as a Number cannot hold it exactly. */
  timeNano: bigint;
}

/** How many events the history holds (Docker keeps 256, in memory only). */
export const KEEP = 1000;

export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly file: string | undefined;
  private readonly keep: number;
  private readonly recent: BerthEvent[] = [];
  private lastNano = 0n;
  /** Lines in the file; compacted to `keep` once it holds twice that. */
  private lines = 0;

  constructor(opts: { file?: string; keep?: number } = {}) {
    this.emitter.setMaxListeners(0);
    this.file = opts.file;
    this.keep = opts.keep ?? KEEP;
    if (this.file) this.load(this.file);
  }

  private load(file: string): void {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const e = parseEvent(line);
        this.recent.push(e);
        this.lines += 1;
        if (e.timeNano > this.lastNano) this.lastNano = e.timeNano;
      } catch {
        // a torn last line after a crash: skip it
      }
    }
    this.recent.splice(0, Math.max(0, this.recent.length - this.keep));
  }

  emit(type: 'container', action: string, c: ContainerRecord, extra: Record<string, string> = {}): void {
    // Docker's container attributes: its labels, then image and name (extra wins).
    this.publish(type, action, c.Id, { ...(c.Config.Labels ?? {}), image: c.Config.Image ?? c.Image, name: c.Name, ...extra });
  }

  emitImage(action: string, id: string, name: string, labels: Record<string, string> = {}): void {
    this.publish('image', action, id, { ...labels, name });
  }

  /** Network, volume and daemon events (and anything else with its own attributes). */
  publish(type: EventType, action: string, id: string, attributes: Record<string, string>): BerthEvent {
    const event: BerthEvent = { Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local', time: 0, timeNano: this.nextNano() };
    event.time = Number(event.timeNano / 1_000_000_000n);
    this.record(event);
    this.emitter.emit('event', event);
    return event;
  }

  /** Strictly increasing, so that since/until bounds and ordering never tie. */
  private nextNano(): bigint {
    const micros = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
    let nano = micros * 1000n;
    if (nano <= this.lastNano) nano = this.lastNano + 1n;
    this.lastNano = nano;
    return nano;
  }

  private record(e: BerthEvent): void {
    this.recent.push(e);
    if (this.recent.length > this.keep) this.recent.shift();
    if (!this.file) return;
    try {
      appendFileSync(this.file, eventJson(e) + '\n');
      this.lines += 1;
      if (this.lines >= this.keep * 2) this.compact(this.file);
    } catch {
      // History is best effort: live subscribers still get the event.
    }
  }

  private compact(file: string): void {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, this.recent.map((e) => eventJson(e) + '\n').join(''));
    renameSync(tmp, file);
    this.lines = this.recent.length;
  }

  /** Kept events with since <= timeNano <= until (until 0: no bound), oldest first. */
  history(sinceNano: bigint, untilNano: bigint): BerthEvent[] {
    return this.recent.filter((e) => e.timeNano >= sinceNano && (untilNano === 0n || e.timeNano <= untilNano));
  }

  subscribe(fn: (e: BerthEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}

/**
 * The Engine API's event message, with the fields API versions before 1.52
 * still carry (status, id, from); timeNano written as an exact integer.
 */
export function eventJson(e: BerthEvent): string {
  const legacy =
    e.Type === 'container' || e.Type === 'image'
      ? { status: e.Action, id: e.Actor.ID, ...(e.Type === 'container' && e.Actor.Attributes.image ? { from: e.Actor.Attributes.image } : {}) }
      : {};
  const body = JSON.stringify({ ...legacy, Type: e.Type, Action: e.Action, Actor: e.Actor, scope: e.scope, time: e.time, timeNano: 0 });
  return body.slice(0, body.lastIndexOf('"timeNano":0')) + `"timeNano":${e.timeNano}}`;
}

function parseEvent(line: string): BerthEvent {
  const m = /"timeNano":(\d+)\}$/.exec(line);
  if (!m) throw new Error('no timeNano');
  const raw = JSON.parse(line) as Omit<BerthEvent, 'timeNano'>;
  return { Type: raw.Type, Action: raw.Action, Actor: raw.Actor, scope: 'local', time: raw.time, timeNano: BigInt(m[1]) };
}
