// One line of Docker's json-file log:
//   {"log":"hello\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}
// Encoded the way dockerd does it (Go's escaping: <, > and & as \u003c...,
// U+2028/2029 escaped, invalid UTF-8 as U+FFFD; time in UTC with Go's
// RFC3339Nano, trailing zeros of the fraction dropped), so that tools
// reading Docker's files read Berth's.
import type { LogEntry } from '../../agent/agent-api.ts';
import { parseRfc3339Ns, rfc3339FromNs } from '../time.ts';

const SHORT: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function jsonString(text: string): string {
  return (
    '"' +
    text.replace(/["\\\u0000-\u001f<>&\u2028\u2029]/g, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) +
    '"'
  );
}

/** Go's time.RFC3339Nano in UTC: "2024-01-01T00:00:00.1234Z", no fraction when it is zero. */
export function goRfc3339Nano(ns: bigint): string {
  const fixed = rfc3339FromNs(ns); // "...:SS.nnnnnnnnnZ"
  return fixed.replace(/\.?0*Z$/, 'Z');
}

/** The json-file line for one write of the container (with its "\n" line end). */
export function encodeJsonLine(stream: 'stdout' | 'stderr', data: Buffer, timeNs: bigint): string {
  return `{"log":${jsonString(data.toString('utf8'))},"stream":"${stream}","time":"${goRfc3339Nano(timeNs)}"}\n`;
}

/** Parses one line (without "\n"); undefined for anything that is not a json-file entry. */
export function decodeJsonLine(line: Buffer | string): (LogEntry & { timeNs: bigint }) | undefined {
  let v: unknown;
  try {
    v = JSON.parse(typeof line === 'string' ? line : line.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { log, stream, time } = v as { log?: unknown; stream?: unknown; time?: unknown };
  if (typeof time !== 'string' || (stream !== 'stdout' && stream !== 'stderr')) return undefined;
  const timeNs = parseRfc3339Ns(time);
  if (timeNs === undefined) return undefined;
  return { stream, time: rfc3339FromNs(timeNs), timeNs, data: Buffer.from(typeof log === 'string' ? log : '', 'utf8') };
}
