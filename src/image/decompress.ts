// Recognizes gzip, zstd or plain data by its first bytes and returns the
// decompressed stream. Other compressions are refused with a clear error.
import { statfsSync } from 'node:fs';
import { Readable, Transform, pipeline } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { BerthError, invalid } from '../core/errors.ts';

export type Compression = 'gzip' | 'zstd' | 'none';

export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) throw invalid('unsupported compression: bzip2');
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58) {
    throw invalid('unsupported compression: xz');
  }
  return 'none';
}

/** Reads the first `n` bytes without consuming them; returns them and a stream that still yields everything. */
export function peek(src: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = (ended: boolean) => {
      src.off('readable', onReadable);
      src.off('end', onEnd);
      src.off('error', onError);
      const all = Buffer.concat(chunks);
      if (ended) {
        resolve({ head: all, stream: Readable.from(all.length > 0 ? [all] : []) });
      } else {
        src.unshift(all);
        resolve({ head: all.subarray(0, n), stream: src });
      }
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = src.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= n) return finish(false);
      }
    };
    const onEnd = () => finish(true);
    const onError = (err: Error) => {
      src.off('readable', onReadable);
      src.off('end', onEnd);
      reject(err);
    };
    src.on('readable', onReadable);
    src.on('end', onEnd);
    src.on('error', onError);
  });
}

/**
 * Bounds on what one decompressed (or plain) upload may expand to, so that a
 * small gzip bomb cannot fill the disk: an absolute cap and a reserve of free
 * space on the data root's file system. Set once by the daemon's wiring.
 */
export interface InflateLimits {
  maxBytes: number;
  /** A directory on the file system that the data lands on (the data root). */
  diskPath?: string;
  /** Stop when less than this is free on diskPath. */
  reserveBytes: number;
}

const limits: InflateLimits = { maxBytes: Number.POSITIVE_INFINITY, reserveBytes: 1 << 30 };
const DISK_CHECK_EVERY = 64 << 20;

export function setInflateLimits(l: Partial<InflateLimits>): void {
  Object.assign(limits, l);
}

/** A pass-through that fails with an invalid error once the data outgrows the limits. */
export function inflateGuard(what = 'the decompressed data'): Transform {
  let total = 0;
  let nextDiskCheck = DISK_CHECK_EVERY;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      if (total > limits.maxBytes) {
        return cb(invalid(`${what} exceeds the limit of ${limits.maxBytes} bytes (--max-decompressed-size): refused as a possible compression bomb`));
      }
      if (limits.diskPath && total >= nextDiskCheck) {
        nextDiskCheck = total + DISK_CHECK_EVERY;
        try {
          const st = statfsSync(limits.diskPath);
          if (st.bavail * st.bsize < limits.reserveBytes) {
            return cb(invalid(`${what} would fill the disk: less than ${limits.reserveBytes} bytes left free under the data root; refused`));
          }
        } catch {
          // The data root is not stat-able: the absolute cap still holds.
        }
      }
      cb(null, chunk);
    },
  });
}

/**
 * Output buffer of a decompressor. zlib's default (16 KiB) splits every 64 KiB
 * socket read into several trips to the thread pool: 256 KiB makes gunzip of
 * a 20 MiB layer about 3x cheaper (measured in CPU and wall time).
 */
const OUTPUT_CHUNK = 256 << 10;

/** The decompressed content of `src`, whatever of gzip/zstd/none it is, bounded by the inflate limits. */
export async function decompressed(src: Readable): Promise<{ stream: Readable; compression: Compression }> {
  const { head, stream } = await peek(src, 6);
  const compression = detectCompression(head);
  const opts = { chunkSize: OUTPUT_CHUNK };
  const steps: NodeJS.ReadWriteStream[] = compression === 'none' ? [] : [compression === 'gzip' ? createGunzip(opts) : createZstdDecompress(opts)];
  const out = pipeline([stream, ...steps, inflateGuard()], () => {
    // errors reach the consumer through the last stream, which pipeline destroys with them
  }) as unknown as Readable;
  return { stream: out, compression };
}

/** Turns a low-level decompression/tar error into the client-facing invalid error. */
export function describeCorruption(err: unknown, what: string): Error {
  if (err instanceof BerthError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return invalid(`${what} is truncated or corrupt: ${message}`);
}
