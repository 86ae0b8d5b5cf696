// The Dockerfile instructions `docker import --change` and `docker commit
// --change` accept, applied to an image's run configuration. A small parser
// for these few instructions: quotes, backslash escapes and $VAR / ${VAR} /
// ${VAR:-default} / ${VAR:+alt} expansion against the image's ENV, exec
// (JSON) and shell forms.
import { invalid } from '../core/errors.ts';
import type { ImageRunConfig } from '../core/types.ts';

const SHELL = ['/bin/sh', '-c'];

/** Applies `changes` (one instruction per string) to a copy of `base`. */
export function applyChanges(base: ImageRunConfig, changes: string[]): ImageRunConfig {
  const cfg: ImageRunConfig = structuredClone(base);
  let cmdSet = false;
  for (const raw of changes) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(line);
    if (!m) continue;
    const instruction = m[1].toLowerCase();
    const rest = m[2].trim();
    const env = envMap(cfg.Env);
    switch (instruction) {
      case 'cmd':
        cfg.Cmd = commandForm(rest, cfg.Shell);
        cmdSet = true;
        break;
      case 'entrypoint':
        cfg.Entrypoint = commandForm(rest, cfg.Shell);
        if (!cmdSet) cfg.Cmd = null;
        break;
      case 'env':
        for (const [k, v] of keyValues('ENV', rest, env)) {
          const list = (cfg.Env ?? []).filter((e) => e.split('=')[0] !== k);
          list.push(`${k}=${v}`);
          cfg.Env = list;
          env.set(k, v);
        }
        break;
      case 'label':
        cfg.Labels = { ...cfg.Labels };
        for (const [k, v] of keyValues('LABEL', rest, env)) cfg.Labels[k] = v;
        break;
      case 'workdir': {
        const dir = words(rest, env).join(' ');
        if (dir === '') throw invalid('WORKDIR requires exactly one argument');
        cfg.WorkingDir = dir.startsWith('/') ? dir : joinPath(cfg.WorkingDir || '/', dir);
        break;
      }
      case 'user': {
        const user = words(rest, env);
        if (user.length !== 1) throw invalid('USER requires exactly one argument');
        cfg.User = user[0];
        break;
      }
      case 'expose': {
        const ports = words(rest, env);
        if (ports.length === 0) throw invalid('EXPOSE requires at least one argument');
        cfg.ExposedPorts = { ...cfg.ExposedPorts };
        for (const p of ports) for (const key of portKeys(p)) cfg.ExposedPorts[key] = {};
        break;
      }
      case 'volume': {
        const json = jsonArray(rest);
        const paths = json ?? words(rest, env);
        if (paths.length === 0 || paths.some((p) => p.trim() === '')) throw invalid('VOLUME specified can not be an empty string');
        cfg.Volumes = { ...cfg.Volumes };
        for (const p of paths) cfg.Volumes[p] = {};
        break;
      }
      case 'stopsignal': {
        const sig = words(rest, env);
        if (sig.length !== 1) throw invalid('STOPSIGNAL requires exactly one argument');
        cfg.StopSignal = sig[0];
        break;
      }
      case 'onbuild':
        if (rest === '') throw invalid('ONBUILD requires at least one argument');
        cfg.OnBuild = [...(cfg.OnBuild ?? []), rest];
        break;
      default:
        throw invalid(`${instruction} is not a valid change command`);
    }
  }
  return cfg;
}

function envMap(env: string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) map.set(e.slice(0, i), e.slice(i + 1));
  }
  return map;
}

/** A JSON array of strings, or undefined when `text` is not one (then it is shell form). */
function jsonArray(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  } catch {
    // not JSON: shell form
  }
  return undefined;
}

function commandForm(rest: string, shell: string[] | undefined): string[] {
  const json = jsonArray(rest);
  if (json) return json;
  return [...(shell && shell.length > 0 ? shell : SHELL), rest];
}

/** "k=v k2='v 2'" pairs, or the legacy "k value with spaces" form. */
function keyValues(instruction: string, rest: string, env: Map<string, string>): [string, string][] {
  const first = /^[^\s=]+(?=\s|$)/.exec(rest);
  if (first && !rest.slice(0, first[0].length).includes('=')) {
    const value = words(rest.slice(first[0].length).trim(), env).join(' ');
    if (rest.slice(first[0].length).trim() === '') throw invalid(`${instruction} requires at least one argument`);
    return [[first[0], value]];
  }
  const out: [string, string][] = [];
  for (const w of words(rest, env)) {
    const i = w.indexOf('=');
    if (i <= 0) throw invalid(`${instruction} names can not be blank: ${JSON.stringify(w)}`);
    out.push([w.slice(0, i), w.slice(i + 1)]);
  }
  if (out.length === 0) throw invalid(`${instruction} requires at least one argument`);
  return out;
}

/** Splits shell-like words: quotes, backslash escapes, variable expansion (not in single quotes). */
export function words(text: string, env: Map<string, string>): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const expand = (): string => {
    // text[i] === '$'
    if (text[i + 1] === '{') {
      const end = text.indexOf('}', i + 2);
      if (end < 0) throw invalid(`missing '}' in ${JSON.stringify(text)}`);
      const body = text.slice(i + 2, end);
      i = end + 1;
      const m = /^(\w+)(?::([-+])([\s\S]*))?$/.exec(body);
      if (!m) throw invalid(`bad substitution: \${${body}}`);
      const val = env.get(m[1]);
      if (m[2] === '-') return val ? val : m[3];
      if (m[2] === '+') return val ? m[3] : '';
      return val ?? '';
    }
    const m = /^\w+/.exec(text.slice(i + 1));
    if (!m) {
      i++;
      return '$';
    }
    i += 1 + m[0].length;
    return env.get(m[0]) ?? '';
  };
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[i + 1];
      inWord = true;
      i += 2;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw invalid(`unexpected end of statement while looking for matching single-quote: ${text}`);
      cur += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      inWord = true;
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length && /["\\$]/.test(text[i + 1])) {
          cur += text[i + 1];
          i += 2;
        } else if (text[i] === '$') {
          cur += expand();
        } else {
          cur += text[i++];
        }
      }
      if (i >= text.length) throw invalid(`unexpected end of statement while looking for matching double-quote: ${text}`);
      i++;
    } else if (c === '$') {
      cur += expand();
      inWord = true;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

function joinPath(base: string, rel: string): string {
  const parts: string[] = [];
  for (const p of `${base}/${rel}`.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return `/${parts.join('/')}`;
}

/** "80", "80/udp", "8000-8002/tcp" -> "80/tcp" keys. */
function portKeys(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) throw invalid(`invalid containerPort: ${spec}`);
  const start = Number(m[1]);
  const end = m[2] ? Number(m[2]) : start;
  if (start < 1 || end > 65535 || end < start) throw invalid(`invalid port range: ${spec}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}
