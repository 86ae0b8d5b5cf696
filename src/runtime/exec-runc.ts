// `docker exec` without a terminal through `runc exec`: the path for what
// berth-exec does not cover (exec-helper.ts). runc hands its stdio to the
// process and exits with its status. (With a terminal, runc wants a console
// socket to pass the pty's fd over, which Node cannot receive: see
// exec-conmon.ts.)
import { promises as fs } from 'node:fs';
import type { ExecSession } from '../agent/agent-api.ts';
import { spawnExecChild, superviseExecChild } from './exec-child.ts';
import { runtimeMessage } from './runc.ts';

export interface RuncExecOptions {
  runc: string;
  runcRoot: string;
  id: string;
  /** process.json written for this session. */
  processFile: string;
  /** runc's own log (JSON lines): tells a failed start from the command's exit. */
  logFile: string;
  stdin: boolean;
  /** Discard output (docker exec -d). */
  detach: boolean;
}

export function runcExec(o: RuncExecOptions): ExecSession {
  const args = ['--root', o.runcRoot, '--log', o.logFile, '--log-format', 'json', 'exec', '--process', o.processFile, o.id];
  const child = spawnExecChild(o.runc, args, { stdin: o.stdin, detach: o.detach });
  return superviseExecChild(child, o.runc, { startError: () => startError(o.logFile) });
}

/** The error runc logged when it could not start the process, if it did. */
async function startError(logFile: string): Promise<string | undefined> {
  const text = await fs.readFile(logFile, 'utf8').catch(() => '');
  const errors = text.split('\n').filter((l) => l.includes('"level":"error"'));
  return errors.length ? runtimeMessage(errors.join('\n')) : undefined;
}
