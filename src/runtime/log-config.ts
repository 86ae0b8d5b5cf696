// Docker's LogConfig as conmon understands it. conmon writes only the k8s-file
// format; "json-file" and "local" are kept in that format on disk (the API
// reads it back through k8s-log.ts), "none" keeps nothing.
import { invalid } from '../core/errors.ts';
import type { HostConfig } from '../core/types.ts';

export interface LogSettings {
  driver: 'k8s-file' | 'none';
  /** Bytes; 0 = unbounded. */
  maxSize: number;
}

/** "10m", "1g", "512k", "100" (bytes) -> bytes. */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?\s*$/i.exec(text);
  if (!m) throw invalid(`invalid size: '${text}'`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2].toLowerCase() as '' | 'k'];
  return Math.floor(Number(m[1]) * unit);
}

export function logSettings(hc: HostConfig): LogSettings {
  const type = hc.LogConfig?.Type || 'json-file';
  const cfg = hc.LogConfig?.Config ?? {};
  if (type === 'none') return { driver: 'none', maxSize: 0 };
  if (type !== 'json-file' && type !== 'k8s-file' && type !== 'local') {
    throw invalid(`logger: no log driver named '${type}' is registered`);
  }
  const maxSize = cfg['max-size'] ? parseByteSize(cfg['max-size']) : 0;
  return { driver: 'k8s-file', maxSize };
}
