// Signal names as users type them ("SIGTERM", "TERM", "15", "SIGRTMIN+3") to
// numbers. runc 1.1 rejects some names, so Berth always passes numbers.
import { constants } from 'node:os';
import { invalid } from '../core/errors.ts';

const SIGRTMIN = 34;
const SIGRTMAX = 64;

export function parseSignal(text: string): number {
  const raw = text.trim();
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    if (n >= 1 && n <= SIGRTMAX) return n;
    throw invalid(`Invalid signal: ${text}`);
  }
  const name = raw.toUpperCase().replace(/^SIG/, '');
  const rt = /^RTM(IN|AX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'IN' ? SIGRTMIN : SIGRTMAX;
    const offset = rt[3] ? Number(rt[3]) * (rt[2] === '-' ? -1 : 1) : 0;
    const n = base + offset;
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
    throw invalid(`Invalid signal: ${text}`);
  }
  const signals = constants.signals as Record<string, number>;
  const n = signals[`SIG${name}`];
  if (n === undefined) throw invalid(`Invalid signal: ${text}`);
  return n;
}
