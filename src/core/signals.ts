// Signal names as users type them ("SIGTERM", "TERM", "15", "SIGRTMIN+3") to
// Linux signal numbers. Checked at the edge (a bad --signal is a 400) and
// used by the runtime (runc 1.1 rejects some names, so Berth passes numbers).
import { invalid } from './errors.ts';

const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** Linux (x86, arm) signal numbers. */
const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12,
  PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23,
  XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
};

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
  const n = SIGNALS[name];
  if (n === undefined) throw invalid(`Invalid signal: ${text}`);
  return n;
}
