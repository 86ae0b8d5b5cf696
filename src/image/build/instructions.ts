// Pure parts of the steps: variable substitution, ENV/LABEL pairs, HEALTHCHECK
// and durations, --chown/--chmod parsing, created_by text.
import { invalid } from '../../core/errors.ts';
import { words } from '../dockerfile-changes.ts';

/** Proxy variables every build accepts without an ARG; kept out of history and cache keys. */
export const PREDEFINED_ARGS = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

/** Docker's ProcessWord: one word, quotes removed, variables expanded. */
export function expandWord(text: string, env: Map<string, string>): string {
  return words(text, env).join(' ');
}

export function expandWords(text: string, env: Map<string, string>): string[] {
  return words(text, env);
}

/** ENV/LABEL arguments: "k=v k2='v 2'" or the legacy "k value with spaces". */
export function keyValuePairs(keyword: string, text: string, env: Map<string, string>): [string, string][] {
  const t = text.trim();
  if (t === '') throw invalid(`${keyword} requires at least one argument`);
  const first = /^[^\s=]+(?=\s|$)/.exec(t);
  if (first) {
    const rest = t.slice(first[0].length).trim();
    if (rest === '') throw invalid(`${keyword} must have two arguments`);
    return [[expandWord(first[0], env), expandWord(rest, env)]];
  }
  return words(t, env).map((w) => {
    const i = w.indexOf('=');
    if (i <= 0) throw invalid(`${keyword} names can not be blank`);
    return [w.slice(0, i), w.slice(i + 1)];
  });
}

/** Go duration ("30s", "1m30s", "500ms") in nanoseconds. */
export function durationNs(text: string, flag: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * units[m[2]];
    at = re.lastIndex;
  }
  if (at !== text.length || text === '') throw invalid(`invalid value for --${flag}: time: invalid duration "${text}"`);
  return Math.round(total);
}

export interface Healthcheck {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export function healthcheck(args: string, flags: Map<string, string>, shell: string[], execForm: (s: string) => string[] | undefined): Healthcheck {
  const t = args.trim();
  if (/^none$/i.test(t)) {
    if (flags.size > 0) throw invalid('HEALTHCHECK NONE takes no flags');
    return { Test: ['NONE'] };
  }
  const m = /^cmd\s+([\s\S]*)$/i.exec(t);
  if (!m) throw invalid('Unknown type for HEALTHCHECK: use CMD or NONE');
  const json = execForm(m[1]);
  const hc: Healthcheck = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', m[1].trim()] };
  void shell;
  const durations: [string, keyof Healthcheck][] = [['interval', 'Interval'], ['timeout', 'Timeout'], ['start-period', 'StartPeriod'], ['start-interval', 'StartInterval']];
  for (const [flag, key] of durations) {
    const v = flags.get(flag);
    if (v !== undefined) (hc as unknown as Record<string, number>)[key] = durationNs(v, flag);
  }
  const retries = flags.get('retries');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw invalid(`invalid value for --retries: ${retries}`);
    hc.Retries = Number(retries);
  }
  return hc;
}

/** --chmod=755 */
export function parseChmod(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-7]{3,4}$/.test(v)) throw invalid(`invalid chmod parameter: ${v}`);
  return parseInt(v, 8);
}

/** "/bin/sh -c #(nop) ENV A=1", as the classic builder records metadata steps. */
export function nopCreatedBy(shell: string[], text: string): string {
  return [...shell, `#(nop) ${text}`].join(' ');
}
