// Filters of `docker image prune`: label, label!, until, dangling.
import { invalid } from '../core/errors.ts';
import type { ImageRecord } from '../core/types.ts';

export interface PruneFilters {
  labels: string[];
  notLabels: string[];
  /** Images created after this time (ms since the epoch) are kept. */
  until?: number;
  /** From the "dangling" filter, when given. */
  dangling?: boolean;
}

const KNOWN = new Set(['label', 'label!', 'until', 'dangling']);

export function parsePruneFilters(filters: Record<string, string[]>, now: number): PruneFilters {
  for (const key of Object.keys(filters)) if (!KNOWN.has(key)) throw invalid(`invalid filter '${key}'`);
  const out: PruneFilters = { labels: filters.label ?? [], notLabels: filters['label!'] ?? [] };
  const until = filters.until ?? [];
  if (until.length > 1) throw invalid('more than one until filter specified');
  if (until.length === 1) out.until = parseTime(until[0], now);
  const dangling = filters.dangling ?? [];
  if (dangling.length > 0) {
    const v = dangling[dangling.length - 1].toLowerCase();
    if (v === 'true' || v === '1') out.dangling = true;
    else if (v === 'false' || v === '0') out.dangling = false;
    else throw invalid(`invalid filter 'dangling=${dangling[dangling.length - 1]}'`);
  }
  return out;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Unix seconds ("1700000000.5"), a Go duration before now ("24h", "1h30m") or an RFC 3339 date. */
export function parseTime(value: string, now: number): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) {
    let ms = 0;
    for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]];
    return now - ms;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw invalid(`invalid filter 'until=${value}'`);
  return t;
}

/** Docker's rule: every label filter must match; all label! filters matching excludes the image. */
export function matchesPruneFilters(f: PruneFilters, img: ImageRecord): boolean {
  if (f.until !== undefined) {
    const created = Date.parse(img.config.created ?? '');
    if (!Number.isNaN(created) && created > f.until) return false;
  }
  const labels = img.config.config?.Labels ?? {};
  const matches = (spec: string) => {
    const i = spec.indexOf('=');
    if (i < 0) return spec in labels;
    return labels[spec.slice(0, i)] === spec.slice(i + 1);
  };
  if (!f.labels.every(matches)) return false;
  if (f.notLabels.length > 0 && f.notLabels.every(matches)) return false;
  return true;
}
