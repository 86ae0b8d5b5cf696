// Schema-driven request generator for the fuzz test: reads the Engine API
// spec (Swagger 2.0 YAML) and produces random requests for its operations:
// path ids drawn from real objects or junk, query parameters and JSON bodies
// generated from the schemas, then mutated (wrong types, nulls, huge numbers,
// odd strings, extra fields, dropped fields). Deterministic for a seed.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export const SPEC_PATH = '/work/shared/specs/docker-engine-api-v1.50.yaml';

type Schema = Record<string, any>;

export interface Operation {
  method: string;
  path: string; // "/containers/{id}/json"
  params: Schema[];
}

export interface FuzzRequest {
  method: string;
  path: string;
  body?: Buffer;
  contentType?: string;
  /** What the request was made of, for the failure report. */
  describe: string;
}

/** Small, fast, seedable PRNG (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
}

export interface Spec {
  operations: Operation[];
  definitions: Record<string, Schema>;
}

export function loadSpec(file = SPEC_PATH): Spec {
  const doc = parse(readFileSync(file, 'utf8'), { maxAliasCount: -1 }) as { paths: Record<string, Record<string, any>>; definitions: Record<string, Schema> };
  const operations: Operation[] = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    const shared = (item.parameters ?? []) as Schema[];
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'delete', 'head'].includes(method)) continue;
      operations.push({ method: method.toUpperCase(), path: p, params: [...shared, ...((op.parameters ?? []) as Schema[])] });
    }
  }
  return { operations, definitions: doc.definitions };
}

const ODD_STRINGS = ['', ' ', '..', '../../../../etc/passwd', '/', '%00', 'a\u0000b', '💥', 'x'.repeat(5000), '-1', 'null', '{"a":', '\\', '*', 'true', '${HOME}', 'A:B:C', 'a/b/c', 'sha256:' + '0'.repeat(64)];
const ODD_NUMBERS = [0, -1, 1, 2 ** 31, -(2 ** 63), 2 ** 64, 1e308, 0.5, Number.MAX_SAFE_INTEGER];

export class Generator {
  private readonly rng: Rng;
  private readonly spec: Spec;
  /** Real names of objects, by path parameter name ("id", "name"). */
  private readonly ids: () => Record<string, string[]>;

  constructor(spec: Spec, rng: Rng, ids: () => Record<string, string[]>) {
    this.spec = spec;
    this.rng = rng;
    this.ids = ids;
  }

  private resolve(s: Schema | undefined): Schema {
    let cur = s ?? {};
    for (let i = 0; i < 10 && cur.$ref; i++) cur = this.spec.definitions[String(cur.$ref).replace('#/definitions/', '')] ?? {};
    return cur;
  }

  /** A value that fits the schema (mostly), depth-limited. */
  value(schema: Schema | undefined, depth = 0): unknown {
    const r = this.rng;
    const s = this.resolve(schema);
    if (s.allOf) return Object.assign({}, ...s.allOf.map((x: Schema) => this.value(x, depth)).filter((v: unknown) => v && typeof v === 'object'));
    if (s.enum && r.chance(0.8)) return r.pick(s.enum as unknown[]);
    if (s.example !== undefined && r.chance(0.3)) return s.example;
    const type = s.type ?? (s.properties ? 'object' : s.items ? 'array' : r.pick(['string', 'integer', 'object']));
    switch (type) {
      case 'string':
        return r.chance(0.5) ? r.pick(ODD_STRINGS) : this.word();
      case 'integer':
      case 'number':
        return r.chance(0.5) ? r.pick(ODD_NUMBERS) : r.int(-5, 1000);
      case 'boolean':
        return r.chance(0.5);
      case 'array': {
        if (depth > 4) return [];
        const n = r.int(0, 3);
        return Array.from({ length: n }, () => this.value(s.items, depth + 1));
      }
      case 'object':
      default: {
        if (depth > 4) return {};
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
          if (r.chance(0.35)) out[k] = this.value(v, depth + 1);
        }
        if (s.additionalProperties && r.chance(0.5)) out[this.word()] = this.value(s.additionalProperties === true ? {} : s.additionalProperties, depth + 1);
        return out;
      }
    }
  }

  /** The same value with a random defect: wrong type, null, odd scalar, extra field. */
  mutate(v: unknown, depth = 0): unknown {
    const r = this.rng;
    if (depth > 4) return v;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = { ...(v as Record<string, unknown>) };
      const keys = Object.keys(o);
      if (keys.length > 0 && r.chance(0.7)) {
        const k = r.pick(keys);
        o[k] = this.mutate(o[k], depth + 1);
      } else {
        o[this.word()] = r.pick([null, 1, 'x', [], {}]);
      }
      return o;
    }
    if (Array.isArray(v) && v.length > 0 && r.chance(0.5)) {
      const a = [...v];
      const i = r.int(0, a.length - 1);
      a[i] = this.mutate(a[i], depth + 1);
      return a;
    }
    return r.pick<unknown>([null, 'str', 42, -1, true, [], {}, [1, 'a'], { x: 1 }, 1.5, r.pick(ODD_STRINGS), r.pick(ODD_NUMBERS)]);
  }

  private word(): string {
    const r = this.rng;
    const abc = 'abcdefghijklmnopqrstuvwxyz0123456789';
    return Array.from({ length: r.int(1, 10) }, () => abc[r.int(0, abc.length - 1)]).join('');
  }

  private scalarParam(p: Schema): string {
    const r = this.rng;
    if (r.chance(0.15)) return r.pick(ODD_STRINGS);
    if (p.enum) return String(r.pick(p.enum as unknown[]));
    switch (p.type) {
      case 'boolean':
        return r.pick(['1', '0', 'true', 'false', 'yes', '2']);
      case 'integer':
        // Stop timeouts are honoured as asked: keep them short so that one request cannot hold the run.
        if (p.name === 't' || p.name === 'timeout') return String(r.int(-1, 2));
        return String(r.chance(0.7) ? r.int(-2, 30) : r.pick(ODD_NUMBERS));
      case 'array':
        return this.word();
      default:
        if (p.name === 'filters') return r.chance(0.6) ? JSON.stringify({ [r.pick(['label', 'name', 'id', 'status', 'dangling', 'until', 'before', this.word()])]: r.chance(0.5) ? [this.word()] : { [this.word()]: true } }) : r.pick(['{', '[]', '{"label":"x"}', 'null']);
        return this.word();
    }
  }

  request(op: Operation): FuzzRequest {
    const r = this.rng;
    const ids = this.ids();
    const parts: string[] = [];
    const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const real = ids[name] ?? [];
      const v = real.length > 0 && r.chance(0.7) ? r.pick(real) : r.chance(0.5) ? this.word() : r.pick(ODD_STRINGS.filter(Boolean));
      parts.push(`${name}=${JSON.stringify(v).slice(0, 60)}`);
      return encodeURIComponent(v);
    });
    const q = new URLSearchParams();
    let body: Buffer | undefined;
    let contentType: string | undefined;
    for (const p of op.params) {
      if (p.in === 'query' && (p.required || r.chance(0.4))) q.append(p.name, this.scalarParam(p));
      if (p.in === 'body' && r.chance(0.9)) {
        const schema = p.schema ?? {};
        if (schema.format === 'binary' || schema.type === 'string') {
          body = Buffer.from(r.pick(['', 'not a tar', '\u0000'.repeat(1024), 'x'.repeat(700)]));
          contentType = 'application/x-tar';
        } else {
          let v = this.value(schema);
          if (r.chance(0.6)) v = this.mutate(v);
          const text = r.chance(0.05) ? JSON.stringify(v).slice(0, -1) : JSON.stringify(v);
          body = Buffer.from(text ?? 'null');
          contentType = 'application/json';
        }
      }
    }
    const qs = q.toString();
    const full = `/v1.50${path}${qs ? `?${qs}` : ''}`;
    const shown = body ? ` body=${body.toString('utf8').slice(0, 400)}` : '';
    return { method: op.method, path: full, body, contentType, describe: `${op.method} ${full.slice(0, 300)}${shown}` };
  }
}
