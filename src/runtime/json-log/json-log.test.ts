// json-file logs: line encoding, conversion from conmon's k8s-file log,
// rotation by max-size/max-file, resuming after a crash without losing or
// duplicating entries, partial lines, and reading the set back.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LogEntry, LogOptions } from '../../agent/agent-api.ts';
import { parseK8sLine } from '../k8s-log.ts';
import { tempDir } from '../test-fixtures.ts';
import { ContainerConverter, readConverterState, writeConverterState, type ConverterTarget } from './container-converter.ts';
import { decodeJsonLine, encodeJsonLine, goRfc3339Nano } from './json-line.ts';
import { JsonLogConverter } from './log-converter.ts';
import { readJsonLog } from './read-json-log.ts';
import { jsonLogFiles } from './rotating-file.ts';

const base: LogOptions = { follow: false, stdout: true, stderr: true, since: 0, until: 0, tail: -1 };

/** A k8s-file line as conmon writes it (local time with an offset). */
function k8s(second: number, stream: 'stdout' | 'stderr', tag: 'F' | 'P', text: string): string {
  const s = String(second % 60).padStart(2, '0');
  const m = String(Math.floor(second / 60)).padStart(2, '0');
  return `2024-05-01T14:${m}:${s}.000000500+02:00 ${stream} ${tag} ${text}\n`;
}

function numbered(from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) out += k8s(i, 'stdout', 'F', `line-${i}`);
  return out;
}

function target(dir: string, policy: { maxSize: number; maxFile: number }): ConverterTarget {
  return { source: path.join(dir, 'ctr.log'), jsonLog: path.join(dir, 'c-json.log'), stateFile: path.join(dir, 'json-log.state'), ...policy };
}

/** Every entry of the set, oldest first, checking that each line is a json-file entry. */
async function entries(t: ConverterTarget): Promise<{ log: string; stream: string; time: string }[]> {
  const out: { log: string; stream: string; time: string }[] = [];
  for (const f of jsonLogFiles(t.jsonLog, t.maxFile)) {
    const text = await fs.readFile(f, 'utf8').catch(() => '');
    if (text === '') continue;
    assert.ok(text.endsWith('\n'), `${f} ends with a whole line`);
    for (const line of text.slice(0, -1).split('\n')) {
      const v = JSON.parse(line);
      assert.deepEqual(Object.keys(v), ['log', 'stream', 'time']);
      out.push(v);
    }
  }
  return out;
}

async function collect(t: ConverterTarget, opts: Partial<LogOptions>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  const hooks = { running: async () => false, catchUp: async () => undefined, subscribe: () => () => undefined };
  for await (const e of readJsonLog(jsonLogFiles(t.jsonLog, t.maxFile), { ...base, ...opts }, hooks)) out.push(e);
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir();
  try {
    await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe('json-file lines', () => {
  test('encoded as dockerd does, decoded back', () => {
    const ns = 1714564800123456000n; // 2024-05-01T12:00:00.123456Z
    assert.equal(goRfc3339Nano(ns), '2024-05-01T12:00:00.123456Z');
    assert.equal(goRfc3339Nano(1714564800000000000n), '2024-05-01T12:00:00Z');
    const line = encodeJsonLine('stderr', Buffer.from('a "q" \\ <b>&\t\u0001\u2028é\n'), ns);
    assert.equal(line, '{"log":"a \\"q\\" \\\\ \\u003cb\\u003e\\u0026\\t\\u0001\\u2028é\\n","stream":"stderr","time":"2024-05-01T12:00:00.123456Z"}\n');
    const back = decodeJsonLine(line.trimEnd())!;
    assert.equal(back.data.toString(), 'a "q" \\ <b>&\t\u0001\u2028é\n');
    assert.equal(back.stream, 'stderr');
    assert.equal(back.time, '2024-05-01T12:00:00.123456000Z');
    // invalid UTF-8 becomes U+FFFD, as in Go
    assert.equal(JSON.parse(encodeJsonLine('stdout', Buffer.from([0x61, 0xff, 0x62]), ns)).log, 'a\ufffdb');
    assert.equal(decodeJsonLine('not json'), undefined);
    assert.equal(decodeJsonLine('{"log":"x","stream":"other","time":"2024-05-01T12:00:00Z"}'), undefined);
  });
});

describe('converter', () => {
  test('converts records in order; "P" records become entries without a newline', () =>
    withDir(async (dir) => {
      const t = target(dir, { maxSize: 0, maxFile: 1 });
      await fs.writeFile(t.source, k8s(1, 'stdout', 'F', 'hello') + k8s(2, 'stderr', 'P', 'part-') + k8s(3, 'stderr', 'F', 'ial') + k8s(4, 'stdout', 'F', ''));
      const c = new ContainerConverter(t);
      assert.equal(await c.step(), 4);
      assert.equal(await c.step(), 0, 'nothing new, nothing written');
      // a record conmon has not finished writing waits for its newline
      await fs.appendFile(t.source, k8s(5, 'stdout', 'P', 'no newline yet').trimEnd());
      assert.equal(await c.step(), 0);
      await fs.appendFile(t.source, '\n');
      assert.equal(await c.step(), 1);
      await c.close();
      assert.deepEqual(await entries(t), [
        { log: 'hello\n', stream: 'stdout', time: '2024-05-01T12:00:01.0000005Z' },
        { log: 'part-', stream: 'stderr', time: '2024-05-01T12:00:02.0000005Z' },
        { log: 'ial\n', stream: 'stderr', time: '2024-05-01T12:00:03.0000005Z' },
        { log: '\n', stream: 'stdout', time: '2024-05-01T12:00:04.0000005Z' },
        { log: 'no newline yet', stream: 'stdout', time: '2024-05-01T12:00:05.0000005Z' },
      ]);
      // read back as Docker does: one entry per json line
      assert.deepEqual((await collect(t, {})).map((e) => e.data.toString()), ['hello\n', 'part-', 'ial\n', '\n', 'no newline yet']);
      assert.deepEqual((await collect(t, { tail: 2, stderr: false })).map((e) => e.data.toString()), ['\n', 'no newline yet']);
    }));

  test('rotation keeps max-file files of at most max-size, newest last', () =>
    withDir(async (dir) => {
      const t = target(dir, { maxSize: 1000, maxFile: 3 });
      await fs.writeFile(t.source, numbered(0, 300));
      const c = new ContainerConverter(t);
      await c.step();
      await c.close();
      const files = (await fs.readdir(dir)).filter((f) => f.startsWith('c-json.log')).sort();
      assert.deepEqual(files, ['c-json.log', 'c-json.log.1', 'c-json.log.2']);
      for (const f of files) {
        const size = (await fs.stat(path.join(dir, f))).size;
        assert.ok(size > 0 && size <= 1000, `${f}: ${size} bytes`);
      }
      const kept = (await entries(t)).map((e) => e.log);
      assert.ok(kept.length < 300);
      const first = 300 - kept.length;
      assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => `line-${first + i}\n`), 'the newest lines, contiguous');
      assert.deepEqual((await collect(t, { tail: 2 })).map((e) => e.data.toString()), ['line-298\n', 'line-299\n']);
    }));

  test('max-file 1 with max-size starts the file over', () =>
    withDir(async (dir) => {
      const t = target(dir, { maxSize: 500, maxFile: 1 });
      await fs.writeFile(t.source, numbered(0, 50));
      const c = new ContainerConverter(t);
      await c.step();
      await c.close();
      assert.deepEqual((await fs.readdir(dir)).filter((f) => f.startsWith('c-json.log')), ['c-json.log']);
      const kept = (await entries(t)).map((e) => e.log);
      assert.ok((await fs.stat(t.jsonLog)).size <= 500);
      assert.equal(kept.at(-1), 'line-49\n');
    }));

  test('resumes after a crash without losing or duplicating entries', () =>
    withDir(async (dir) => {
      const t = target(dir, { maxSize: 4000, maxFile: 5 }); // room for all 200 lines
      const all = numbered(0, 200);
      const lines = all.split(/(?<=\n)/);
      // Run 1 converts 40 lines; its state is what a crash leaves behind.
      await fs.writeFile(t.source, lines.slice(0, 40).join(''));
      const c1 = new ContainerConverter(t);
      await c1.step();
      const crashState = await fs.readFile(t.stateFile, 'utf8');
      // It went on writing (and rotating) before the crash, but its state was not saved.
      await fs.appendFile(t.source, lines.slice(40, 45).join(''));
      await c1.step();
      await c1.close();
      await fs.writeFile(t.stateFile, crashState);
      // Meanwhile the container kept writing; a new converter picks up where the state says.
      await fs.appendFile(t.source, lines.slice(45, 120).join(''));
      const c2 = new ContainerConverter(t);
      await c2.step();
      await c2.close();
      await fs.appendFile(t.source, lines.slice(120).join(''));
      const c3 = new ContainerConverter(t);
      await c3.step();
      await c3.close();
      assert.deepEqual((await entries(t)).map((e) => e.log), Array.from({ length: 200 }, (_, i) => `line-${i}\n`));
    }));

  test('resumes across a rotation the crash interrupted', () =>
    withDir(async (dir) => {
      const t = target(dir, { maxSize: 1000, maxFile: 4 });
      const rec = parseK8sLine(Buffer.from(k8s(10, 'stdout', 'F', 'line-10').trimEnd()))!;
      const perFile = Math.floor(1000 / Buffer.byteLength(encodeJsonLine('stdout', rec.data, rec.timeNs))); // lines 10..39 are all this long
      await fs.writeFile(t.source, numbered(10, 10 + perFile));
      const c1 = new ContainerConverter(t);
      await c1.step();
      const before = await readConverterState(t.stateFile);
      assert.ok(before && before.offset > 0);
      // The next batch rotates at once; the crash comes before the batch's state is saved.
      await fs.appendFile(t.source, numbered(10 + perFile, 40));
      await c1.step();
      await c1.close();
      assert.ok((await fs.readdir(dir)).includes('c-json.log.1'), 'it rotated');
      await writeConverterState(t.stateFile, before!);
      const c2 = new ContainerConverter(t);
      await c2.step();
      await c2.close();
      assert.deepEqual((await entries(t)).map((e) => e.log), Array.from({ length: 30 }, (_, i) => `line-${10 + i}\n`));
    }));

  test("conmon's own rotation of the staging file: the old file is finished, the new one read from its start", () =>
    withDir(async (dir) => {
      const t = target(dir, { maxSize: 0, maxFile: 1 });
      await fs.writeFile(t.source, numbered(0, 3));
      const c = new ContainerConverter(t);
      await c.step();
      await fs.appendFile(t.source, numbered(3, 5));
      await fs.writeFile(`${t.source}.tmp`, numbered(5, 7));
      await fs.rename(`${t.source}.tmp`, t.source);
      await c.step();
      await c.close();
      // While no converter ran, conmon rotated again: what the old file held is gone, the new file is read from 0.
      await fs.writeFile(`${t.source}.tmp`, numbered(9, 10));
      await fs.rename(`${t.source}.tmp`, t.source);
      const c2 = new ContainerConverter(t);
      await c2.step();
      await c2.close();
      assert.deepEqual((await entries(t)).map((e) => e.log), ['line-0\n', 'line-1\n', 'line-2\n', 'line-3\n', 'line-4\n', 'line-5\n', 'line-6\n', 'line-9\n']);
    }));
});

describe('node converter and reader', () => {
  test('catchUp before a read, follow wakes on new entries, a new run starts a fresh staging file', () =>
    withDir(async (dir) => {
      const t = target(dir, { maxSize: 0, maxFile: 1 });
      const conv = new JsonLogConverter({ pollMs: 50 });
      try {
        await conv.prepareRun('c', t);
        await fs.writeFile(t.source, numbered(0, 2));
        await conv.catchUp('c', t);
        assert.deepEqual((await collect(t, {})).map((e) => e.data.toString()), ['line-0\n', 'line-1\n']);
        // follow: the reader sees entries as the converter writes them, then ends when the writer is done
        conv.follow('c', t);
        let done = false;
        const got: string[] = [];
        const hooks = { running: async () => !done, catchUp: () => conv.catchUp('c', t), subscribe: (w: () => void) => conv.subscribe('c', w) };
        const reading = (async () => {
          for await (const e of readJsonLog([t.jsonLog], { ...base, follow: true }, { ...hooks, pollMs: 20 })) {
            got.push(e.data.toString());
            if (got.length === 3) {
              await fs.appendFile(t.source, numbered(3, 4));
              done = true;
            }
          }
        })();
        await fs.appendFile(t.source, numbered(2, 3));
        await reading;
        assert.deepEqual(got, ['line-0\n', 'line-1\n', 'line-2\n', 'line-3\n']);
        await conv.finish('c', t);
        assert.equal(conv.isFollowing('c'), false);
        // A restart: the old staging file is drained and removed, the json log goes on.
        await fs.appendFile(t.source, numbered(4, 5));
        await conv.prepareRun('c', t);
        await assert.rejects(fs.stat(t.source), /ENOENT/);
        await fs.writeFile(t.source, numbered(5, 6));
        await conv.catchUp('c', t);
        assert.deepEqual((await entries(t)).map((e) => e.log), ['line-0\n', 'line-1\n', 'line-2\n', 'line-3\n', 'line-4\n', 'line-5\n']);
      } finally {
        await conv.close();
      }
    }));
});
