// conmon's k8s-file format: parsing, partial lines, tail/since/until/streams, follow and rotation.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LogEntry, LogOptions } from '../agent/agent-api.ts';
import { parseK8sLine, readK8sLog } from './k8s-log.ts';
import { tempDir } from './test-fixtures.ts';

const base: LogOptions = { follow: false, stdout: true, stderr: true, since: 0, until: 0, tail: -1 };

async function collect(file: string, opts: Partial<LogOptions>, running = async () => false): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of readK8sLog(file, { ...base, ...opts }, { running, pollMs: 30 })) out.push(e);
  return out;
}

const LOG = [
  '2024-05-01T14:00:01.000000001+02:00 stdout F one',
  '2024-05-01T14:00:02.000000000+02:00 stderr F err one',
  '2024-05-01T14:00:03.000000000+02:00 stdout P par',
  '2024-05-01T14:00:03.100000000+02:00 stdout P ti',
  '2024-05-01T14:00:03.200000000+02:00 stdout F al',
  '2024-05-01T14:00:04.000000000+02:00 stdout F ',
  '2024-05-01T14:00:05.000000000+02:00 stderr P no newline at the end',
  '',
].join('\n');

describe('k8s-file logs', () => {
  test('parse one line', () => {
    const r = parseK8sLine(Buffer.from('2024-05-01T14:00:01.5-01:00 stderr F hello world'))!;
    assert.equal(r.stream, 'stderr');
    assert.equal(r.partial, false);
    assert.equal(r.data.toString(), 'hello world\n');
    assert.equal(parseK8sLine(Buffer.from('garbage')), undefined);
  });

  test('partials are joined, streams, tail, since, until', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'ctr.log');
    try {
      await fs.writeFile(file, LOG);
      const all = await collect(file, {});
      assert.deepEqual(all.map((e) => [e.stream, e.data.toString()]), [
        ['stdout', 'one\n'],
        ['stderr', 'err one\n'],
        ['stdout', 'partial\n'],
        ['stdout', '\n'],
        ['stderr', 'no newline at the end'],
      ]);
      assert.equal(all[0].time, '2024-05-01T12:00:01.000000001Z');
      assert.equal(all[2].time, '2024-05-01T12:00:03.000000000Z');
      assert.deepEqual((await collect(file, { stderr: false })).map((e) => e.data.toString()), ['one\n', 'partial\n', '\n']);
      // tail counts lines of all streams, then the stream filter applies (as Docker's json-file)
      assert.deepEqual((await collect(file, { tail: 2, stdout: false })).map((e) => e.data.toString()), ['no newline at the end']);
      assert.deepEqual(await collect(file, { tail: 0 }), []);
      const t = Date.parse('2024-05-01T12:00:03Z') / 1000;
      assert.deepEqual((await collect(file, { since: t })).map((e) => e.data.toString()), ['partial\n', '\n', 'no newline at the end']);
      assert.deepEqual((await collect(file, { until: t - 0.5 })).map((e) => e.data.toString()), ['one\n', 'err one\n']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('follow picks up appended lines, survives rotation, ends when the writer is done', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'ctr.log');
    try {
      await fs.writeFile(file, '2024-05-01T12:00:00.0Z stdout F a\n');
      let done = false;
      const got: string[] = [];
      const reading = (async () => {
        for await (const e of readK8sLog(file, { ...base, follow: true }, { running: async () => !done, pollMs: 30 })) got.push(e.data.toString());
      })();
      await new Promise((r) => setTimeout(r, 100));
      await fs.appendFile(file, '2024-05-01T12:00:01.0Z stdout F b\n');
      await new Promise((r) => setTimeout(r, 100));
      // conmon's rotation: a new file renamed over the old one
      await fs.writeFile(`${file}.tmp`, '2024-05-01T12:00:02.0Z stdout F c\n');
      await fs.rename(`${file}.tmp`, file);
      await new Promise((r) => setTimeout(r, 100));
      await fs.appendFile(file, '2024-05-01T12:00:03.0Z stdout P d');
      await fs.appendFile(file, '\n');
      done = true;
      await reading;
      assert.deepEqual(got, ['a\n', 'b\n', 'c\n', 'd']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('follow with followUntil ends on its abort, not at the next poll (attach of a container that exits)', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const file = path.join(dir, 'ctr.log');
    try {
      await fs.writeFile(file, '2024-05-01T12:00:00.0Z stdout F a\n');
      const until = new AbortController();
      const got: string[] = [];
      // A poll interval far longer than the test's timeout: only the abort can end the follow.
      const hooks = { running: async () => !until.signal.aborted, pollMs: 3_600_000 };
      const reading = (async () => {
        for await (const e of readK8sLog(file, { ...base, follow: true, followUntil: until.signal }, hooks)) got.push(e.data.toString());
      })();
      await new Promise((r) => setTimeout(r, 50));
      await fs.appendFile(file, '2024-05-01T12:00:01.0Z stdout F b\n');
      while (got.length < 2) await new Promise((r) => setTimeout(r, 10));
      // Nothing changes on disk from here: the abort alone must end the follow.
      until.abort();
      await reading;
      assert.deepEqual(got, ['a\n', 'b\n']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
