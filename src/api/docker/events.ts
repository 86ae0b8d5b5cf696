// GET /events: the kept history from `since`, then live events until `until`
// (or until the client goes), filtered as Docker filters them.
import { invalid } from '../../core/errors.ts';
import { familiarName, parseReference } from '../../core/reference.ts';
import { eventJson, type BerthEvent, type EventBus } from '../../head/events.ts';
import type { Routes } from '../http/server.ts';
import { parseFilters, type Filters } from './filters.ts';

const EVENT_FILTERS = ['container', 'image', 'event', 'type', 'label', 'network', 'volume', 'daemon', 'scope', 'node', 'plugin', 'config', 'secret', 'service'];
const TYPES = ['container', 'image', 'network', 'volume', 'daemon', 'plugin', 'service', 'node', 'secret', 'config', 'builder'];
/** Actions given in the filter without their ":" suffix match the longer ones ("exec_start: sh"). */
const PREFIX_ACTIONS = ['health_status', 'exec_create', 'exec_start'];

export function eventRoutes(r: Routes, events: EventBus): void {
  r.add('GET', '/events', async (ctx) => {
    const sinceRaw = ctx.query.get('since') ?? '';
    const untilRaw = ctx.query.get('until') ?? '';
    const since = parseEventTime(sinceRaw, 'since');
    const until = parseEventTime(untilRaw, 'until');
    if (until !== 0n && until < since) throw invalid(`\`since\` time (${sinceRaw}) cannot be after \`until\` time (${untilRaw})`);
    const filters = parseFilters(ctx.query.get('filters'), EVENT_FILTERS);
    for (const t of filters.type ?? []) if (!TYPES.includes(t)) throw invalid(`invalid filter 'type=${t}'`);
    const matches = eventFilter(filters);
    const nowNano = BigInt(Date.now()) * 1_000_000n;
    const onlyPast = until !== 0n && until < nowNano;

    const out = ctx.stream(200, 'application/json');
    const write = (e: BerthEvent) => out.write(eventJson(e) + '\n');
    // Live events are buffered from here on so that none falls between history and stream.
    const pending: BerthEvent[] = [];
    let live: ((e: BerthEvent) => void) | undefined;
    const off = onlyPast ? () => undefined : events.subscribe((e) => (live ? live(e) : pending.push(e)));
    const past = since > 0n || until !== 0n ? events.history(since, until) : [];
    let last = 0n;
    for (const e of past) {
      if (!matches(e)) continue;
      write(e);
      last = e.timeNano;
    }
    if (onlyPast) {
      out.end();
      return;
    }
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        off();
        if (timer) clearTimeout(timer);
        if (!out.destroyed) out.end();
        resolve();
      };
      live = (e) => {
        if (until !== 0n && e.timeNano > until) return finish();
        if (e.timeNano > last && matches(e)) write(e);
      };
      for (const e of pending.splice(0)) live(e);
      if (until !== 0n) timer = setTimeout(finish, Number((until - nowNano) / 1_000_000n) + 1);
      ctx.onClose(finish);
    });
  });
}

/** "seconds[.nanoseconds]" as the docker CLI sends it, or RFC 3339; 0n when absent. */
export function parseEventTime(v: string, field: string): bigint {
  if (!v) return 0n;
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (m) return BigInt(m[1]) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid value for ${field}: ${v}`);
  return BigInt(t) * 1_000_000n;
}

/** All given filters must match (values of one filter: any). */
export function eventFilter(f: Filters): (e: BerthEvent) => boolean {
  const has = (k: string) => (f[k]?.length ?? 0) > 0;
  const prefix = (k: string, source: string | undefined) => source !== undefined && f[k].some((v) => source.startsWith(v));
  const byName = (kind: string, e: BerthEvent) => !has(kind) || (e.Type === kind && (prefix(kind, e.Actor.ID) || prefix(kind, e.Actor.Attributes.name)));
  return (e) => {
    if (has('event')) {
      const action = e.Action;
      const fuzzy = f.event.some((v) => PREFIX_ACTIONS.includes(v));
      const ok = f.event.some((v) => v === action || (fuzzy && action.startsWith(v)));
      if (!ok) return false;
    }
    if (has('type') && !f.type.includes(e.Type)) return false;
    if (has('scope') && !f.scope.includes(e.scope)) return false;
    if (has('daemon') && e.Type !== 'daemon') return false;
    if (!byName('container', e) || !byName('network', e) || !byName('volume', e)) return false;
    if (has('image') && !imageMatches(f.image, e)) return false;
    if (has('label') && !labelsMatch(f.label, e.Actor.Attributes)) return false;
    return true;
  };
}

function imageMatches(wanted: string[], e: BerthEvent): boolean {
  const name = e.Type === 'image' ? e.Actor.Attributes.name : e.Actor.Attributes.image;
  const candidates = [e.Actor.ID, name, stripTag(e.Actor.ID), stripTag(name)].filter((s): s is string => !!s);
  return wanted.some((w) => candidates.includes(w));
}

/** "busybox:latest" -> "busybox" (as Docker compares image filters). */
function stripTag(ref: string | undefined): string | undefined {
  if (!ref || ref.startsWith('sha256:')) return ref;
  try {
    return familiarName(parseReference(ref));
  } catch {
    return ref;
  }
}

function labelsMatch(wanted: string[], attrs: Record<string, string>): boolean {
  return wanted.every((w) => {
    const i = w.indexOf('=');
    return i < 0 ? w in attrs : attrs[w.slice(0, i)] === w.slice(i + 1);
  });
}
