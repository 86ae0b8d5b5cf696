// Reads exactly n bytes from a socket in paused mode and leaves the rest in
// it (for bodies of upgraded requests, followed by the client's stream).
import type { Duplex } from 'node:stream';

export function readExact(sock: Duplex, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const done = (err?: Error) => {
      sock.off('readable', onReadable);
      sock.off('end', onEnd);
      sock.off('error', done);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onEnd = () => done(new Error('connection closed in the request body'));
    const onReadable = () => {
      for (;;) {
        if (got >= n) return done();
        const chunk = sock.read() as Buffer | null;
        if (chunk === null) return;
        const need = n - got;
        if (chunk.length > need) sock.unshift(chunk.subarray(need));
        chunks.push(chunk.subarray(0, need));
        got += Math.min(need, chunk.length);
      }
    };
    sock.on('readable', onReadable);
    sock.on('end', onEnd);
    sock.on('error', done);
    onReadable();
  });
}
