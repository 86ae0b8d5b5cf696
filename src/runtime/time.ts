// RFC 3339 timestamps with nanoseconds, the form Docker reports times in.

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Formats nanoseconds since the epoch as "2024-05-01T12:00:00.123456789Z". */
export function rfc3339FromNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const fraction = Number(ns % 1_000_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19); // "YYYY-MM-DDTHH:MM:SS"
  return `${base}.${pad(fraction, 9)}Z`;
}

// Date.now() has milliseconds only; anchor hrtime to it once for a clock with
// nanoseconds that is monotonic within the process.
const anchorWallNs = BigInt(Date.now()) * 1_000_000n;
const anchorHr = process.hrtime.bigint();

export function nowNs(): bigint {
  return anchorWallNs + (process.hrtime.bigint() - anchorHr);
}

export function nowRfc3339(): string {
  return rfc3339FromNs(nowNs());
}

/**
 * Parses an RFC 3339 timestamp with any fraction and offset (conmon writes
 * local time with an offset, "2024-05-01T14:00:00.123456789+02:00") into
 * nanoseconds since the epoch. Returns undefined when it is not one.
 */
export function parseRfc3339Ns(text: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  const fraction = BigInt((m[2] ?? '').padEnd(9, '0'));
  return BigInt(seconds) * 1_000_000n + fraction;
}

/** Unix seconds (fractional, as in the Docker API's since/until) to nanoseconds. */
export function secondsToNs(seconds: number): bigint {
  const whole = Math.floor(seconds);
  return BigInt(whole) * 1_000_000_000n + BigInt(Math.round((seconds - whole) * 1e9));
}
