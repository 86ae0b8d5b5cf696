// The OCI runtime's command line (runc; crun takes the same verbs), always
// with its own --root so that Berth's containers never mix with others'.
import { run } from './exec.ts';
import { BerthError, conflict, internal } from '../core/errors.ts';

export interface RuncState {
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
}

/** runc prints logrus lines (`time=".." level=error msg="..."`); keep the message. */
export function runtimeMessage(stderr: string): string {
  const messages: string[] = [];
  for (const line of stderr.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed) continue;
    const m = /(?:^|\s)msg="((?:[^"\\]|\\.)*)"/.exec(trimmed);
    if (m) {
      try {
        messages.push(JSON.parse(`"${m[1]}"`) as string);
      } catch {
        messages.push(m[1]);
      }
      continue;
    }
    if (trimmed.startsWith('{')) {
      try {
        const obj = JSON.parse(trimmed) as { msg?: string };
        if (obj.msg) {
          messages.push(obj.msg);
          continue;
        }
      } catch {
        // not JSON: keep the line as it is
      }
    }
    messages.push(trimmed);
  }
  return messages.join(': ') || 'unknown runtime error';
}

const doesNotExist = (msg: string) => /container does not exist|not found|no such file/i.test(msg);

export class Runc {
  readonly binary: string;
  readonly root: string;

  constructor(binary: string, root: string) {
    this.binary = binary;
    this.root = root;
  }

  private async exec(args: string[], timeoutMs?: number) {
    try {
      return await run(this.binary, ['--root', this.root, ...args], { timeoutMs });
    } catch (err) {
      throw internal(`cannot run ${this.binary}: ${(err as Error).message}`, err);
    }
  }

  /** The runtime's view of a container, or undefined if it has no state for it. */
  async state(id: string): Promise<RuncState | undefined> {
    const r = await this.exec(['state', id]);
    if (r.code !== 0) {
      const msg = runtimeMessage(r.stderr);
      if (doesNotExist(msg)) return undefined;
      throw internal(`${this.binary} state ${id}: ${msg}`);
    }
    const parsed = JSON.parse(r.stdout) as { status: RuncState['status']; pid: number };
    return { status: parsed.status, pid: parsed.pid };
  }

  /** What state() says of every container under this root, in one call (`list`). */
  async list(): Promise<Map<string, RuncState>> {
    const r = await this.exec(['list', '--format', 'json']);
    if (r.code !== 0) throw internal(`${this.binary} list: ${runtimeMessage(r.stderr)}`);
    // runc prints null for an empty or missing root, crun an empty array.
    const parsed = JSON.parse(r.stdout.trim() || 'null') as { id: string; status: RuncState['status']; pid: number }[] | null;
    return new Map((parsed ?? []).map((c) => [c.id, { status: c.status, pid: c.pid }]));
  }

  async start(id: string): Promise<void> {
    const r = await this.exec(['start', id]);
    if (r.code !== 0) throw new BerthError('internal', runtimeMessage(r.stderr));
  }

  /** Sends a signal (a number, as runc rejects some names such as SIGRTMIN+3). */
  async kill(id: string, signal: number, all = false): Promise<void> {
    const r = await this.exec(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
    if (r.code !== 0) {
      const msg = runtimeMessage(r.stderr);
      if (/not running|process already finished|does not exist/i.test(msg)) {
        throw conflict(`container ${id} is not running`);
      }
      throw internal(`${this.binary} kill ${id}: ${msg}`);
    }
  }

  /** Freezes every process of the container (the freezer cgroup). */
  async pause(id: string): Promise<void> {
    const r = await this.exec(['pause', id]);
    if (r.code !== 0) throw internal(`${this.binary} pause ${id}: ${runtimeMessage(r.stderr)}`);
  }

  async resume(id: string): Promise<void> {
    const r = await this.exec(['resume', id]);
    if (r.code !== 0) throw internal(`${this.binary} resume ${id}: ${runtimeMessage(r.stderr)}`);
  }

  /** Sets new cgroup limits (an OCI LinuxResources JSON file) on a running container. */
  async update(id: string, resourcesFile: string): Promise<void> {
    const r = await this.exec(['update', '--resources', resourcesFile, id]);
    if (r.code !== 0) throw internal(`${this.binary} update ${id}: ${runtimeMessage(r.stderr)}`);
  }

  /** Removes the runtime state; succeeds when there is none. */
  async delete(id: string): Promise<void> {
    const r = await this.exec(['delete', '--force', id]);
    if (r.code !== 0) {
      const msg = runtimeMessage(r.stderr);
      if (doesNotExist(msg)) return;
      throw internal(`${this.binary} delete ${id}: ${msg}`);
    }
  }
}

