// Detach keys on an attached client's input ("ctrl-p,ctrl-q" by default):
// the bytes pass through until the whole sequence arrives, which detaches
// the client instead of reaching the process. A partial match that fails is
// passed on as it came.
import { invalid } from '../../core/errors.ts';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** Docker's format: comma-separated "ctrl-<x>" (x in a-z, @, [, \, ], ^, _) or single characters. */
export function parseDetachKeys(spec: string): number[] {
  const keys: number[] = [];
  for (const part of spec.split(',')) {
    const k = part.trim();
    if (k.length === 1) {
      keys.push(k.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-(.)$/.exec(k.toLowerCase());
    if (!m) throw invalid(`Invalid detach keys (${spec}) provided`);
    const c = m[1];
    if (c >= 'a' && c <= 'z') keys.push(c.charCodeAt(0) - 96);
    else if ('@[\\]^_'.includes(c)) keys.push('@[\\]^_'.indexOf(c) === 0 ? 0 : 27 + '[\\]^_'.indexOf(c));
    else throw invalid(`Invalid detach keys (${spec}) provided`);
  }
  if (keys.length === 0) throw invalid(`Invalid detach keys (${spec}) provided`);
  return keys;
}

export class DetachFilter {
  private readonly keys: number[];
  private matched = 0;

  constructor(keys: number[]) {
    this.keys = keys;
  }

  /** The bytes to pass on, and whether the sequence completed (bytes after it are dropped). */
  push(chunk: Buffer): { data: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { data: Buffer.from(out), detach: true };
        continue;
      }
      // Give back what was held, then see whether this byte starts a new match.
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]);
      this.matched = 0;
      if (b === this.keys[0]) {
        this.matched = 1;
        if (this.keys.length === 1) return { data: Buffer.from(out), detach: true };
      } else out.push(b);
    }
    return { data: Buffer.from(out), detach: false };
  }
}
