// Docker's multiplexed stream format (used without a TTY): an 8-byte header
// [stream, 0, 0, 0, size (uint32 big-endian)] before each payload.
export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;

export function frame(stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** A container's output as the client reads it: raw with a TTY, framed by stream without. */
export function outputChunk(stream: 'stdout' | 'stderr', data: Buffer, tty: boolean): Buffer {
  return tty ? data : frame(stream === 'stderr' ? STDERR : STDOUT, data);
}

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';
