// Converts one container's conmon log (k8s-file, ctr.log) into Docker's
// json-file set, remembering how far it got in a small state file:
//   {"ino": "<ctr.log inode>", "offset": N, "jsonIno": "<json log inode>", "jsonSize": M}
// The state is written after each batch and before each rotation, so after
// a crash at most the writes since the last state are in the json file; they
// are cut off again (rollBack) and converted once more from ctr.log. No line
// is lost or written twice as long as conmon kept it in ctr.log meanwhile.
import { promises as fs } from 'node:fs';
import { K8sLogReader } from '../k8s-log.ts';
import type { FilePosition } from '../line-reader.ts';
import { encodeJsonLine } from './json-line.ts';
import { RotatingFile, type RotationPolicy } from './rotating-file.ts';

export interface ConverterTarget extends RotationPolicy {
  /** conmon's k8s-file log. */
  source: string;
  /** The current json-file log, "<id>-json.log". */
  jsonLog: string;
  /** Where the position is kept. */
  stateFile: string;
}

export interface ConverterState extends FilePosition {
  jsonIno: string;
  jsonSize: number;
}

export async function readConverterState(file: string): Promise<ConverterState | undefined> {
  try {
    const s = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<ConverterState>;
    if (typeof s.ino !== 'string' || typeof s.offset !== 'number' || typeof s.jsonIno !== 'string' || typeof s.jsonSize !== 'number') return undefined;
    return s as ConverterState;
  } catch {
    return undefined;
  }
}

export async function writeConverterState(file: string, s: ConverterState): Promise<void> {
  const tmp = `${file}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(s));
  await fs.rename(tmp, file);
}

export class ContainerConverter {
  private readonly target: ConverterTarget;
  private readonly out: RotatingFile;
  private reader: K8sLogReader | undefined;
  private saved: ConverterState | undefined;

  constructor(target: ConverterTarget) {
    this.target = target;
    this.out = new RotatingFile(target.jsonLog, target);
  }

  private async resume(): Promise<K8sLogReader> {
    if (this.reader) return this.reader;
    const state = await readConverterState(this.target.stateFile);
    if (state) await this.out.rollBack(state.jsonIno, state.jsonSize);
    else await this.out.init();
    this.saved = state;
    this.reader = new K8sLogReader(this.target.source, state ? { ino: state.ino, offset: state.offset } : undefined);
    return this.reader;
  }

  private async save(pos: FilePosition): Promise<void> {
    const s: ConverterState = { ino: pos.ino, offset: pos.offset, jsonIno: this.out.ino, jsonSize: this.out.size };
    const old = this.saved;
    if (old && old.ino === s.ino && old.offset === s.offset && old.jsonIno === s.jsonIno && old.jsonSize === s.jsonSize) return;
    await writeConverterState(this.target.stateFile, s);
    this.saved = s;
  }

  /** Converts what conmon wrote since the last step; returns the number of entries written. */
  async step(): Promise<number> {
    const reader = await this.resume();
    const records = await reader.readWithPositions();
    if (records.length === 0) return 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let pendingEnd: FilePosition | undefined;
    const flush = async () => {
      if (pending.length === 0) return;
      await this.out.append(Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    };
    for (const { record, end } of records) {
      const line = Buffer.from(encodeJsonLine(record.stream, record.data, record.timeNs), 'utf8');
      if (this.out.wouldOverflow(pendingBytes, line.length)) {
        await flush();
        // The point the current file ends at is made durable before it is rotated away.
        if (pendingEnd) await this.save(pendingEnd);
        await this.out.rotate();
      }
      pending.push(line);
      pendingBytes += line.length;
      pendingEnd = end;
    }
    await flush();
    if (pendingEnd) await this.save(pendingEnd);
    return records.length;
  }

  async close(): Promise<void> {
    await this.reader?.close();
    await this.out.close();
    this.reader = undefined;
  }
}
