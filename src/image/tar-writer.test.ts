// TarWriter read back by tar-stream (an independent reader): USTAR names
// split at "/", PAX for what does not fit, bodies read from disk padded to
// 512 bytes, chunks of about 1 MiB.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import tar from 'tar-stream';
import { TarWriter } from './tar-writer.ts';

async function readBack(chunks: Buffer[]): Promise<{ header: tar.Headers; body: Buffer }[]> {
  const out: { header: tar.Headers; body: Buffer }[] = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      const parts: Buffer[] = [];
      for await (const c of e) parts.push(c);
      out.push({ header: e.header, body: Buffer.concat(parts) });
    }
  })();
  for (const c of chunks) ex.write(c);
  ex.end();
  await done;
  return out;
}

describe('TarWriter', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-tarw-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const base = { mode: 0o644, uid: 0, gid: 0, mtime: 981173106 };

  it('writes names, links, owners and bodies that a tar reader gets back', async () => {
    const big = path.join(dir, 'big');
    const data = Buffer.alloc(3 * 1024 * 1024 + 7);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    writeFileSync(big, data);
    const w = new TarWriter();
    const longDir = 'd'.repeat(120);
    const entries = [
      { ...base, name: 'dir/', type: 'directory' as const, mode: 0o755 },
      { ...base, name: `${longDir}/${'f'.repeat(90)}`, type: 'file' as const, size: 3 },
      { ...base, name: 'n'.repeat(300), type: 'file' as const, size: 0 },
      { ...base, name: 'sym', type: 'symlink' as const, linkname: 't'.repeat(200) },
      { ...base, name: 'ünï', type: 'file' as const, size: 0, uid: 70_000_000, gid: 5 },
      { ...base, name: 'null', type: 'character-device' as const, devmajor: 1, devminor: 3 },
    ];
    w.header(entries[0]);
    w.header(entries[1]);
    w.body(Buffer.from('abc'));
    w.header(entries[2]);
    w.header(entries[3]);
    w.header(entries[4]);
    w.header(entries[5]);
    w.header({ ...base, name: 'big', type: 'file', size: data.length });
    const streamed: Buffer[] = [];
    for (const batch of w.fileBody(big, data.length)) streamed.push(...batch);
    // Handed on while reading: never more than the chunk being filled is held back.
    assert.ok(streamed.length >= 2);
    w.end();
    const chunks = [...streamed, ...w.take(true)];
    assert.ok(chunks.length >= 3 && chunks.every((c) => c.length <= 1 << 20));
    const got = await readBack(chunks);
    assert.deepEqual(
      got.map((e) => [e.header.name, e.header.type, e.header.size]),
      [
        ['dir/', 'directory', 0],
        [`${longDir}/${'f'.repeat(90)}`, 'file', 3],
        ['n'.repeat(300), 'file', 0],
        ['sym', 'symlink', 0],
        ['ünï', 'file', 0],
        ['null', 'character-device', 0],
        ['big', 'file', data.length],
      ],
    );
    assert.equal(got[1].body.toString(), 'abc');
    assert.equal(got[3].header.linkname, 't'.repeat(200));
    // tar-stream leaves PAX owners in header.pax.
    assert.deepEqual([(got[4].header as { pax?: Record<string, string> }).pax?.uid, got[4].header.gid], ['70000000', 5]);
    assert.deepEqual([got[5].header.devmajor, got[5].header.devminor], [1, 3]);
    assert.equal(got[0].header.mtime?.getTime(), 981173106000);
    assert.ok(got[6].body.equals(data));
  });

  it('keeps the size it announced when a file shrinks meanwhile', async () => {
    const f = path.join(dir, 'shrinks');
    writeFileSync(f, 'abcdef');
    truncateSync(f, 2);
    const w = new TarWriter();
    w.header({ ...base, name: 'shrinks', type: 'file', size: 6 });
    const early = [...w.fileBody(f, 6)].flat();
    w.end();
    const [e] = await readBack([...early, ...w.take(true)]);
    assert.deepEqual(e.body, Buffer.from('ab\0\0\0\0'));
  });
});
