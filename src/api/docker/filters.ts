// The `filters` query parameter: JSON of name -> values, either as a list
// (["a","b"]) or, in older clients, as a map ({"a": true}).
import { invalid } from '../../core/errors.ts';

export type Filters = Record<string, string[]>;

export function parseFilters(raw: string | null, allowed: string[]): Filters {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid(`invalid filter: ${raw}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid(`invalid filter: ${raw}`);
  const out: Filters = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!allowed.includes(name)) throw invalid(`invalid filter '${name}'`);
    if (Array.isArray(value)) out[name] = value.map(String);
    else if (value && typeof value === 'object') out[name] = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k]);
    else throw invalid(`invalid filter '${name}'`);
  }
  return out;
}
