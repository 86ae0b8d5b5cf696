// Reads a growing text file line by line, across rename-style rotation: when
// the path comes to name a new file (conmon's --log-size-max, Berth's own
// json-file rotation), the old file is read to its end through the open
// handle before the reader moves to the new one. Every line carries the
// position just after it (inode + offset) so that a consumer can persist how
// far it got and resume there later.
import { promises as fs } from 'node:fs';

const NEWLINE = 0x0a;

export interface FilePosition {
  /** Inode number as a decimal string; "0" = whatever file the path names, from its start. */
  ino: string;
  /** Bytes consumed (always at a line boundary). */
  offset: number;
}

export interface Line {
  /** Without its "\n". */
  data: Buffer;
  /** Position just after this line. */
  end: FilePosition;
}

export class LineFileReader {
  private readonly file: string;
  private handle: fs.FileHandle | undefined;
  private ino = '0';
  private position = 0;
  private rest: Buffer = Buffer.alloc(0);
  private resumeAt: FilePosition | undefined;

  constructor(file: string, resumeAt?: FilePosition) {
    this.file = file;
    this.resumeAt = resumeAt;
  }

  /** How far complete lines were consumed. */
  get consumed(): FilePosition {
    return { ino: this.ino, offset: this.position - this.rest.length };
  }

  /** Complete lines written since the last call. */
  async read(): Promise<Line[]> {
    const lines: Line[] = [];
    if (!this.handle && !(await this.open())) return lines;
    await this.drain(lines);
    // Rotated: the path names a new file. Finish the old one, then switch.
    let current: string | undefined;
    try {
      current = String((await fs.stat(this.file, { bigint: true })).ino);
    } catch {
      current = undefined;
    }
    if (current !== undefined && current !== this.ino) {
      await this.close();
      if (await this.open()) await this.drain(lines);
    } else if (this.handle) {
      const st = await this.handle.stat();
      if (st.size < this.position) {
        // Truncated in place: start over.
        this.position = 0;
        this.rest = Buffer.alloc(0);
        await this.drain(lines);
      }
    }
    return lines;
  }

  private async open(): Promise<boolean> {
    try {
      this.handle = await fs.open(this.file, 'r');
      const st = await this.handle.stat({ bigint: true });
      this.ino = String(st.ino);
      this.position = 0;
      this.rest = Buffer.alloc(0);
      // Resume only in the very file we stopped in; a new file there means the old one was replaced meanwhile.
      const r = this.resumeAt;
      this.resumeAt = undefined;
      if (r && r.ino === this.ino && r.offset <= Number(st.size)) this.position = r.offset;
      return true;
    } catch {
      this.handle = undefined;
      return false;
    }
  }

  private async drain(lines: Line[]): Promise<void> {
    if (!this.handle) return;
    // Idle containers are polled every second: ask the size before allocating
    // a read buffer (a fresh 256 KiB per poll kept the GC busy).
    const size = (await this.handle.stat()).size;
    if (size <= this.position) return;
    const chunk = Buffer.allocUnsafe(Math.min(256 * 1024, Math.max(16 * 1024, size - this.position)));
    for (;;) {
      const { bytesRead } = await this.handle.read(chunk, 0, chunk.length, this.position);
      if (bytesRead === 0) return;
      const bufStart = this.position - this.rest.length; // file offset of buf[0]
      this.position += bytesRead;
      const buf = this.rest.length ? Buffer.concat([this.rest, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(NEWLINE, start);
        if (nl < 0) break;
        lines.push({ data: Buffer.from(buf.subarray(start, nl)), end: { ino: this.ino, offset: bufStart + nl + 1 } });
        start = nl + 1;
      }
      this.rest = Buffer.from(buf.subarray(start));
    }
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    await h?.close().catch(() => undefined);
  }
}
