// The one table the bench prints: a section per scenario, a line per figure
// with Berth's and Docker's median and p95, the ratio Berth/Docker of the
// medians, the goal and whether it is met.
import type { Row } from './scenario.ts';
import type { Summary } from './measure.ts';

export interface Section {
  name: string;
  title: string;
  rows: Row[];
  error?: string;
}

function num(n: number | undefined, unit: Row['unit']): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  const digits = unit === 'ms' ? (Math.abs(n) >= 100 ? 0 : 1) : unit === 'MiB' ? 2 : Math.abs(n) >= 100 ? 0 : 1;
  const suffix = unit === 'ms' ? ' ms' : unit === '/s' ? '/s' : unit === 'MB/s' ? ' MB/s' : unit === 'MiB' ? ' MiB' : '%';
  return n.toFixed(digits) + suffix;
}

export function ratioOf(row: Row): number | undefined {
  const b = row.berth?.median;
  const d = row.docker?.median;
  return b !== undefined && d !== undefined && Number.isFinite(b) && Number.isFinite(d) && d !== 0 ? b / d : undefined;
}

/** true/false when the row has a goal and the figures to judge it; undefined otherwise. */
export function goalMet(row: Row): boolean | undefined {
  if (!row.goal) return undefined;
  if ('berthBelow' in row.goal) return row.berth ? row.berth.median < row.goal.berthBelow : undefined;
  const r = ratioOf(row);
  if (r === undefined) return undefined;
  return row.better === 'lower' ? r <= row.goal.ratio : r >= row.goal.ratio;
}

function goalText(row: Row): string {
  if (!row.goal) return '';
  if ('berthBelow' in row.goal) return `Berth < ${num(row.goal.berthBelow, row.unit)}`;
  return `${row.better === 'lower' ? '<=' : '>='} ${row.goal.ratio}x`;
}

function p95(s: Summary | null): number | undefined {
  return s && s.n > 1 ? s.p95 : undefined;
}

export function renderTable(sections: Section[]): string {
  const head = ['', 'Berth median', 'p95', 'Docker median', 'p95', 'Berth/Docker', 'goal', ''];
  const rows: (string[] | string)[] = [];
  for (const s of sections) {
    rows.push(`${s.name}: ${s.title}${s.error ? `  [failed: ${s.error.split('\n')[0]!.slice(0, 160)}]` : ''}`);
    for (const r of s.rows) {
      const ratio = ratioOf(r);
      const met = goalMet(r);
      rows.push([
        `  ${r.metric}`,
        num(r.berth?.median, r.unit),
        num(p95(r.berth), r.unit),
        num(r.docker?.median, r.unit),
        num(p95(r.docker), r.unit),
        ratio === undefined ? '-' : ratio.toFixed(2),
        goalText(r),
        met === undefined ? '' : met ? 'met' : 'MISSED',
      ]);
    }
  }
  const cells = [head, ...rows.filter((r): r is string[] => Array.isArray(r))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows) out.push(typeof r === 'string' ? r : line(r));
  return out.join('\n');
}
