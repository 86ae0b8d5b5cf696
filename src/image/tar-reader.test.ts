// TarReader against archives written by GNU tar (gnu and pax formats) and by
// TarWriter, pushed in pieces of every size: names, links, owners, bodies;
// corrupt and truncated archives are refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { TarReader, type TarEntry } from './tar-reader.ts';
import { TarWriter } from './tar-writer.ts';
import { makeTar } from './test-support.ts';

function read(tar: Buffer, piece: number): { entries: TarEntry[]; bodies: Map<string, Buffer> } {
  const entries: TarEntry[] = [];
  const bodies = new Map<string, Buffer>();
  let parts: Buffer[] = [];
  const r = new TarReader({
    entry: (e) => {
      entries.push(e);
      parts = [];
    },
    data: (c) => parts.push(Buffer.from(c)),
    end: () => bodies.set(entries[entries.length - 1].name, Buffer.concat(parts)),
  });
  for (let i = 0; i < tar.length; i += piece) r.push(tar.subarray(i, i + piece));
  r.end();
  return { entries, bodies };
}

describe('TarReader', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-tarr-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const src = path.join(dir, 'src');
  const longDir = 'd'.repeat(120);
  mkdirSync(path.join(src, longDir), { recursive: true });
  writeFileSync(path.join(src, longDir, 'f'.repeat(110)), 'deep');
  const big = Buffer.alloc(200_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 256;
  writeFileSync(path.join(src, 'big'), big);
  symlinkSync('t'.repeat(150), path.join(src, 'sym'));
  writeFileSync(path.join(src, 'ünï'), 'x');

  for (const format of ['gnu', 'pax']) {
    it(`reads GNU tar's ${format} format in pieces of any size`, () => {
      const tar = execFileSync('tar', ['-c', `--format=${format}`, '--owner=70000000', '--group=5', '--numeric-owner', '-C', src, '.']);
      for (const piece of [1, 511, 512, 4096, 65536, tar.length]) {
        const { entries, bodies } = read(tar, piece);
        const byName = new Map(entries.map((e) => [e.name.replace(/^\.\//, ''), e]));
        assert.equal(byName.get(`${longDir}/${'f'.repeat(110)}`)?.type, 'file');
        assert.equal(byName.get(`${longDir}/`)?.type, 'directory');
        assert.equal(byName.get('sym')?.linkname, 't'.repeat(150));
        assert.equal(byName.get('big')?.size, big.length);
        assert.ok(bodies.get('./big')?.equals(big));
        assert.equal(bodies.get(`./${longDir}/${'f'.repeat(110)}`)?.toString(), 'deep');
        assert.equal(byName.get('ünï')?.uid, 70_000_000);
        assert.equal(byName.get('ünï')?.gid, 5);
      }
    });
  }

  it("reads TarWriter's PAX headers", () => {
    const w = new TarWriter();
    w.header({ name: 'n'.repeat(300), type: 'file', size: 2, mode: 0o640, uid: 1, gid: 2, mtime: 1000 });
    w.body(Buffer.from('hi'));
    w.end();
    const { entries, bodies } = read(Buffer.concat(w.take(true)), 100);
    assert.deepEqual([entries[0].name, entries[0].mode, entries[0].mtime], ['n'.repeat(300), 0o640, 1000]);
    assert.equal(bodies.get('n'.repeat(300))?.toString(), 'hi');
  });

  it('takes PAX numbers in decimal only (a fractional size would misalign every later header)', async () => {
    for (const size of ['1.5', '0x10', '1e3', ' 5']) {
      const tar = await makeTar([{ name: 'a', data: 'hello', pax: { size } }, { name: 'b', data: 'x' }]);
      assert.throws(() => read(tar, 512), /invalid PAX size/, size);
    }
    const ok = await makeTar([{ name: 'a', data: 'hello', pax: { size: '5', mtime: '1700000000.25', uid: '70000000' } }]);
    const { entries, bodies } = read(ok, 512);
    assert.deepEqual([entries[0].size, entries[0].mtime, entries[0].uid], [5, 1700000000.25, 70000000]);
    assert.equal(bodies.get('a')?.toString(), 'hello');
  });

  it('refuses a corrupt header and an archive cut short', () => {
    const tar = execFileSync('tar', ['-c', '-C', src, 'big']);
    const bad = Buffer.from(tar);
    bad[10] ^= 1;
    assert.throws(() => read(bad, 4096), /checksum/);
    assert.throws(() => read(tar.subarray(0, 5000), 4096), /unexpected end/);
  });
});
