// Docker's LogConfig as the node runs it. conmon writes only the k8s-file
// format, to ctr.log. For "json-file" (and "local", kept in the same format)
// ctr.log is a staging buffer that json-log/ converts into Docker's files,
// rotated by max-size/max-file; "k8s-file" (Podman's name) keeps conmon's
// file as the log itself, capped at max-size; "none" keeps nothing.
import { invalid } from '../core/errors.ts';
import type { HostConfig } from '../core/types.ts';

export interface LogSettings {
  driver: 'json-file' | 'k8s-file' | 'none';
  /** Bytes; 0 = unbounded. */
  maxSize: number;
  /** Files kept with json-file (the current one included). */
  maxFile: number;
}

/**
 * How much conmon may stage in ctr.log for the converter: output of a
 * container while the daemon is down waits there, up to this much.
 */
export const STAGING_MIN_BYTES = 8 * 1024 * 1024;

/** "10m", "1g", "512k", "100" (bytes) -> bytes, binary units. */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?\s*$/i.exec(text);
  if (!m) throw invalid(`invalid size: '${text}'`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2].toLowerCase() as '' | 'k'];
  return Math.floor(Number(m[1]) * unit);
}

/** max-size as dockerd reads it (go-units FromHumanSize): decimal units, "1k" = 1000 bytes. */
export function parseLogSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?\s*$/i.exec(text);
  if (!m) throw invalid(`invalid size: '${text}'`);
  const unit = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 }[m[2].toLowerCase() as '' | 'k'];
  return Math.floor(Number(m[1]) * unit);
}

export function logSettings(hc: HostConfig): LogSettings {
  const type = hc.LogConfig?.Type || 'json-file';
  const cfg = hc.LogConfig?.Config ?? {};
  if (type === 'none') return { driver: 'none', maxSize: 0, maxFile: 1 };
  if (type !== 'json-file' && type !== 'k8s-file' && type !== 'local') {
    throw invalid(`logger: no log driver named '${type}' is registered`);
  }
  const maxSize = cfg['max-size'] ? parseLogSize(cfg['max-size']) : 0;
  if (cfg['max-size'] && maxSize <= 0) throw invalid('max-size must be a positive number');
  const maxFile = cfg['max-file'] ? Number(cfg['max-file']) : 1;
  if (!Number.isInteger(maxFile) || maxFile < 1) throw invalid('max-file cannot be less than 1');
  return { driver: type === 'k8s-file' ? 'k8s-file' : 'json-file', maxSize, maxFile };
}

/** conmon's --log-size-max for these settings (0 = none). */
export function conmonLogSizeMax(s: LogSettings): number {
  if (s.driver === 'json-file') return Math.max(STAGING_MIN_BYTES, s.maxSize);
  return s.driver === 'k8s-file' ? s.maxSize : 0;
}
