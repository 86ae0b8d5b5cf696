// Copies a hijacked client's input to a process's stdin, watching for the
// detach keys. The target may come later (attach before start): input waits
// in the socket meanwhile, with back-pressure.
import type { Duplex, Writable } from 'node:stream';
import { DetachFilter } from './detach-keys.ts';

export function pumpInput(socket: Duplex, target: Promise<Writable | null>, keys: number[], onDetach: () => void): void {
  const filter = new DetachFilter(keys);
  socket.pause();
  void target.then(
    (stdin) => {
      socket.on('data', (chunk: Buffer) => {
        const { data, detach } = filter.push(chunk);
        if (data.length && stdin && !stdin.destroyed && !stdin.write(data)) {
          socket.pause();
          stdin.once('drain', () => socket.resume());
        }
        if (detach) onDetach();
      });
      // The client closed its input (CloseWrite): EOF for the process.
      socket.on('end', () => stdin?.end());
      socket.on('close', () => stdin?.end());
      socket.resume();
    },
    () => socket.resume(),
  );
}
