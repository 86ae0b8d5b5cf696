// `docker top`: the host's `ps` with the user's options (default -ef), keeping
// the rows whose PID is in the container's cgroup, as Docker does.
import { invalid } from '../core/errors.ts';
import { run } from './exec.ts';

export async function top(pids: number[], psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }> {
  const args = (psArgs || '-ef').split(/\s+/).filter(Boolean);
  const r = await run('ps', args).catch((err: Error) => ({ code: 1, stdout: '', stderr: err.message }));
  if (r.code !== 0) throw invalid(`Error running ps: ${r.stderr.trim() || `exit status ${r.code}`}`);
  return parsePs(r.stdout, new Set(pids));
}

export function parsePs(output: string, pids: Set<number>): { Titles: string[]; Processes: string[][] } {
  const lines = output.split('\n').filter((l) => l.trim());
  const Titles = (lines[0] ?? '').trim().split(/\s+/);
  const pidCol = Titles.indexOf('PID');
  if (pidCol < 0) throw invalid(`Couldn't find PID field in ps output`);
  const Processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (!pids.has(Number(fields[pidCol]))) continue;
    // The last column (the command) keeps its spaces.
    const head = fields.slice(0, Titles.length - 1);
    Processes.push([...head, fields.slice(Titles.length - 1).join(' ')]);
  }
  return { Titles, Processes };
}
