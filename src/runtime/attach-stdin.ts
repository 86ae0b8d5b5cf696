// A client's input to a container's stdin through conmon's attach socket.
// That socket is SOCK_SEQPACKET, which Node's net module cannot open, so
// socat (Debian's) connects and copies our pipe into it, one way only:
// output never comes back this way (Berth reads it from the container's log,
// which also holds what was written before the client attached). Input needs
// no framing: conmon writes every packet it reads to the process's stdin, and
// closes that stdin when the connection ends unless it runs with
// --leave-stdin-open.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { unavailable } from '../core/errors.ts';

const RETRY_MS = 20;

/**
 * Connects to the attach socket at `socketPath`, retrying while the socket is
 * not there or not listening yet (conmon creates it as the container is
 * created). Resolves with the writable side once socat reports the
 * connection; ending it closes the connection.
 */
export async function openAttachStdin(socketPath: string, signal: AbortSignal): Promise<Writable> {
  for (;;) {
    if (signal.aborted) throw unavailable('attach cancelled');
    const child = await connectOnce(socketPath);
    if (child) {
      signal.addEventListener('abort', () => child.stdin?.end(), { once: true });
      const stdin = child.stdin!;
      stdin.on('error', () => undefined); // the container went away: nothing to write to
      return stdin;
    }
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
}

function connectOnce(socketPath: string): Promise<ChildProcess | undefined> {
  return new Promise((resolve) => {
    // A relative address: sun_path holds 108 bytes, socket paths under a
    // data root can be longer.
    const child = spawn('socat', ['-d', '-d', '-u', 'STDIN', `UNIX-CONNECT:${path.basename(socketPath)},type=5`], {
      cwd: path.dirname(socketPath),
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      if (!ok) child.stdin?.destroy();
      resolve(ok ? child : undefined);
    };
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      err += chunk;
      if (err.includes('starting data transfer loop')) finish(true);
      if (err.length > 8192) err = err.slice(-4096);
    });
    child.on('error', () => finish(false)); // cwd gone (not created yet) or no socat
    child.on('exit', () => finish(false));
  });
}
