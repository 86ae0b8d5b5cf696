// Starting a container that `runc create` left waiting, without spawning
// `runc start`. runc's init process blocks opening <runc root>/<id>/exec.fifo
// for writing until a reader shows up, writes one byte, then execs the
// user's process. `runc start` is exactly that reader, plus removing the fifo
// afterwards (runc tells "created" from "running" by whether it exists).
// Being the reader ourselves saves a runc process (~7 ms) per start.
import { constants, open, readSync, promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export function execFifoPath(runcRoot: string, id: string): string {
  return path.join(runcRoot, id, 'exec.fifo');
}

/** Whether a process is gone or a zombie (then it will never open the fifo). */
async function dead(pid: number): Promise<boolean> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ")".
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/**
 * Lets the container's process run. Resolves true once the init process got
 * past the fifo (and the fifo is gone); false when it cannot tell, and the
 * caller should fall back to `runc start` (which then reports the error).
 */
export async function releaseExecFifo(fifo: string, initPid: number, timeoutMs = 10_000): Promise<boolean> {
  // Non-blocking (libuv adds O_CLOEXEC): a reader that exists at once unblocks the writer; the read
  // itself is polled by libuv, so a dead writer never pins a thread.
  const fd = await new Promise<number>((resolve) => {
    open(fifo, constants.O_RDONLY | constants.O_NONBLOCK, (err, fd) => resolve(err ? -1 : fd));
  });
  if (fd < 0) return false;
  const released = await new Promise<boolean>((resolve) => {
    const reader = new net.Socket({ fd, readable: true, writable: false });
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      clearTimeout(deadline);
      reader.destroy(); // closes fd
      resolve(ok);
    };
    reader.on('data', (chunk: Buffer) => finish(chunk.length > 0));
    reader.on('end', () => finish(false));
    reader.on('error', () => finish(false));
    // The init process died before writing (killed between create and
    // start): nothing will come. Whatever it wrote before dying is in the
    // pipe already, so read once more before giving up.
    const watchdog = setInterval(() => {
      void dead(initPid).then((isDead) => {
        if (!isDead || settled) return;
        let n = 0;
        try {
          n = readSync(fd, Buffer.alloc(1));
        } catch {
          n = 0; // EAGAIN: empty
        }
        finish(n > 0);
      });
    }, 50);
    const deadline = setTimeout(() => finish(false), timeoutMs);
  });
  if (released) await fs.unlink(fifo).catch(() => undefined);
  return released;
}
