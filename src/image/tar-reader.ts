// Reads a tar stream as it arrives, synchronously: push() takes whatever
// the socket delivered, calls the handler for each entry and hands it the
// entry's body as slices of the pushed buffers (no copy, no stream object or
// promise per entry). USTAR and GNU headers, PAX records (path, linkpath,
// size, uid, gid, mtime) and GNU long names and links; the checksum of every
// header is verified.
import type { TarType } from './tar-writer.ts';

export interface TarEntry {
  name: string;
  /** undefined: a type without meaning here (its body is skipped). */
  type: TarType | undefined;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (PAX may give fractions). */
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

export interface TarHandler {
  /** A new entry; its body (if any) follows through data() and ends with end(). */
  entry(e: TarEntry): void;
  data(chunk: Buffer): void;
  end(): void;
}

const TYPES: Record<number, TarType> = {
  0x30: 'file',
  0: 'file',
  0x37: 'file', // contiguous file
  0x31: 'link',
  0x32: 'symlink',
  0x33: 'character-device',
  0x34: 'block-device',
  0x35: 'directory',
  0x36: 'fifo',
};

const PAX = 0x78; // 'x'
const PAX_GLOBAL = 0x67; // 'g'
const GNU_LONG_NAME = 0x4c; // 'L'
const GNU_LONG_LINK = 0x4b; // 'K'
const MAX_META = 1 << 20; // PAX records and GNU long names we are willing to hold

export class TarFormatError extends Error {}

function numeric(b: Buffer, at: number, len: number): number {
  if (b[at] & 0x80) {
    // GNU base-256: positive numbers only.
    if (b[at] !== 0x80) throw new TarFormatError('negative number in tar header');
    let v = 0;
    for (let i = at + 1; i < at + len; i++) v = v * 256 + b[i];
    return v;
  }
  let i = at;
  const end = at + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i];
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError('invalid number in tar header');
    v = v * 8 + (c - 0x30);
  }
  return v;
}

function text(b: Buffer, at: number, len: number): string {
  let end = b.indexOf(0, at);
  if (end === -1 || end > at + len) end = at + len;
  return b.toString('utf8', at, end);
}

function checksumOk(b: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  const want = numeric(b, 148, 8);
  return want === unsigned || want === signed;
}

function parsePax(records: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < records.length) {
    const sp = records.indexOf(0x20, at);
    if (sp === -1) break;
    const len = Number(records.toString('latin1', at, sp));
    if (!Number.isInteger(len) || len <= 0 || at + len > records.length) throw new TarFormatError('invalid PAX record');
    const rec = records.toString('utf8', sp + 1, at + len - 1); // without the trailing newline
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    at += len;
  }
  return out;
}

export class TarReader {
  private readonly handler: TarHandler;
  /** A header block collected across pushes. */
  private readonly head = Buffer.alloc(512);
  private headFill = 0;
  /** Body bytes of the current entry still to come, then padding to skip. */
  private bodyLeft = 0;
  private padLeft = 0;
  /** What the current body is: handed to the handler, collected as metadata, or skipped. */
  private bodyKind: 'entry' | 'meta' | 'skip' = 'skip';
  private metaType = 0;
  private meta: Buffer[] = [];
  private pax = new Map<string, string>();
  private longName: string | undefined;
  private longLink: string | undefined;
  private finished = false;

  constructor(handler: TarHandler) {
    this.handler = handler;
  }

  /** Whether the end-of-archive marker was seen. */
  get done(): boolean {
    return this.finished;
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.finished) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - at);
        const piece = chunk.subarray(at, at + n);
        if (this.bodyKind === 'entry') this.handler.data(piece);
        else if (this.bodyKind === 'meta') this.meta.push(Buffer.from(piece));
        this.bodyLeft -= n;
        at += n;
        if (this.bodyLeft === 0) this.bodyDone();
        continue;
      }
      if (this.padLeft > 0) {
        const n = Math.min(this.padLeft, chunk.length - at);
        this.padLeft -= n;
        at += n;
        continue;
      }
      // A header: straight from the chunk when it holds a whole block.
      let block: Buffer;
      if (this.headFill === 0 && chunk.length - at >= 512) {
        block = chunk.subarray(at, at + 512);
        at += 512;
      } else {
        const n = Math.min(512 - this.headFill, chunk.length - at);
        chunk.copy(this.head, this.headFill, at, at + n);
        this.headFill += n;
        at += n;
        if (this.headFill < 512) continue;
        this.headFill = 0;
        block = this.head;
      }
      this.header(block);
    }
  }

  /** The stream ended: it must not stop inside an entry. A missing end-of-archive marker is tolerated, as Go's reader does. */
  end(): void {
    if (this.finished) return;
    if (this.bodyLeft > 0 || this.headFill > 0 || this.bodyKind === 'meta') throw new TarFormatError('unexpected end of tar archive');
  }

  private header(b: Buffer): void {
    let zero = true;
    for (let i = 0; i < 512; i++) {
      if (b[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) {
      this.finished = true;
      return;
    }
    if (!checksumOk(b)) throw new TarFormatError('invalid tar header checksum');
    const magic = b.toString('latin1', 257, 263);
    const ustar = magic === 'ustar\0';
    if (!ustar && magic !== 'ustar ') throw new TarFormatError('invalid tar header: unknown format');
    const typeflag = b[156];
    let size = numeric(b, 124, 12);
    if (typeflag === PAX || typeflag === PAX_GLOBAL || typeflag === GNU_LONG_NAME || typeflag === GNU_LONG_LINK) {
      if (size > MAX_META) throw new TarFormatError('tar metadata entry too large');
      this.metaType = typeflag;
      this.meta = [];
      this.startBody(size, 'meta');
      return;
    }
    const pax = this.pax;
    this.pax = new Map();
    let name = this.longName ?? text(b, 0, 100);
    if (this.longName === undefined && ustar && b[345] !== 0) name = `${text(b, 345, 155)}/${name}`;
    let linkname = this.longLink ?? text(b, 157, 100);
    this.longName = undefined;
    this.longLink = undefined;
    if (pax.has('path')) name = pax.get('path')!;
    if (pax.has('linkpath')) linkname = pax.get('linkpath')!;
    // Decimal only, as Go's reader takes them: Number() would also take "0x10" or "1.5",
    // and a fractional size throws the reading of every later header off the 512-byte grid.
    const paxNumber = (key: string, fallback: number, fraction = false) => {
      const v = pax.get(key);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!(fraction ? /^\d+(\.\d+)?$/ : /^\d+$/).test(v) || !Number.isSafeInteger(Math.trunc(n))) throw new TarFormatError(`invalid PAX ${key}`);
      return n;
    };
    size = paxNumber('size', size);
    let type: TarType | undefined = TYPES[typeflag];
    // Old tars mark directories by a trailing "/" only.
    if (type === 'file' && typeflag !== 0x37 && name.endsWith('/')) type = 'directory';
    const e: TarEntry = {
      name,
      type,
      mode: numeric(b, 100, 8),
      uid: paxNumber('uid', numeric(b, 108, 8)),
      gid: paxNumber('gid', numeric(b, 116, 8)),
      mtime: paxNumber('mtime', numeric(b, 136, 12), true),
      size,
      linkname,
      devmajor: numeric(b, 329, 8),
      devminor: numeric(b, 337, 8),
    };
    this.handler.entry(e);
    // Directories carry no body (tar-stream's and Go's reading); everything else carries `size` bytes.
    this.startBody(type === 'directory' ? 0 : size, type === 'file' ? 'entry' : 'skip');
  }

  private startBody(size: number, kind: 'entry' | 'meta' | 'skip'): void {
    this.bodyKind = kind;
    this.bodyLeft = size;
    this.padLeft = (512 - (size % 512)) % 512;
    if (size === 0) this.bodyDone();
  }

  private bodyDone(): void {
    if (this.bodyKind === 'entry') this.handler.end();
    else if (this.bodyKind === 'meta') {
      const data = Buffer.concat(this.meta);
      this.meta = [];
      if (this.metaType === PAX) this.pax = parsePax(data);
      else if (this.metaType === GNU_LONG_NAME) this.longName = text(data, 0, data.length);
      else if (this.metaType === GNU_LONG_LINK) this.longLink = text(data, 0, data.length);
      // Global PAX records: nothing in them matters for extraction.
    }
    this.bodyKind = 'skip';
  }
}
