// The commit layer: a copy of an overlay upper dir in the layer store's own
// form, and the OCI tar written beside it (run as root: xattrs in trusted.*,
// device nodes).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { copyUpperDir, mountTargetLeftovers, upperDirTar, writeLayerTar } from './commit.ts';
import { sha256 } from './digest.ts';
import { dirSize } from './fs-util.ts';

const xattrs = (dir: string) => execFileSync('getfattr', ['-R', '-h', '-d', '-m', '-', '--absolute-names', '.'], { cwd: dir }).toString();

describe('commit layer from an upper dir', () => {
  let base: string;
  let upper: string;
  let lower: string;
  before(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'berth-commit-'));
    upper = path.join(base, 'upper');
    lower = path.join(base, 'lower');
    mkdirSync(path.join(lower, 'etc'), { recursive: true });
    writeFileSync(path.join(lower, 'etc', 'hosts'), ''); // in the image: stays
    mkdirSync(path.join(upper, 'etc'), { recursive: true });
    for (const f of ['hostname', 'hosts', 'resolv.conf']) writeFileSync(path.join(upper, 'etc', f), '');
    mkdirSync(path.join(upper, 'opq'));
    execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(upper, 'opq')]);
    execFileSync('setfattr', ['-n', 'trusted.overlay.impure', '-v', 'y', path.join(upper, 'opq')]);
    writeFileSync(path.join(upper, 'opq', 'new'), 'new');
    writeFileSync(path.join(upper, 'a'), 'hard');
    linkSync(path.join(upper, 'a'), path.join(upper, 'b'));
    execFileSync('setfattr', ['-n', 'trusted.overlay.origin', '-v', '0x00', path.join(upper, 'a')]);
    execFileSync('setfattr', ['-n', 'user.kept', '-v', 'yes', path.join(upper, 'a')]);
    execFileSync('mknod', [path.join(upper, 'gone'), 'c', '0', '0']);
    execFileSync('chown', ['123:456', path.join(upper, 'a')]);
    execFileSync('chmod', ['4751', path.join(upper, 'a')]);
    utimesSync(path.join(upper, 'a'), 981173106, 981173106);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('leaves out runc\'s empty mount targets unless the image had them', async () => {
    assert.deepEqual([...(await mountTargetLeftovers(upper, [lower]))].sort(), ['etc/hostname', 'etc/resolv.conf']);
    // No /etc in the image and nothing else in it: /etc goes too.
    const empty = path.join(base, 'empty');
    mkdirSync(empty);
    assert.deepEqual([...(await mountTargetLeftovers(upper, [empty]))].sort(), ['etc', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf']);
  });

  it('copies modes, owners, times, hard links, whiteouts and opaque marks, and drops other overlay xattrs', async () => {
    const dest = path.join(base, 'dest');
    mkdirSync(dest);
    const x = new Map([
      ['opq', new Map([['trusted.overlay.opaque', 'y'], ['trusted.overlay.impure', 'y']])],
      ['a', new Map([['trusted.overlay.origin', '']])],
    ]);
    await copyUpperDir(upper, dest, new Set(['etc/hostname', 'etc/resolv.conf']), x);
    const a = lstatSync(path.join(dest, 'a'));
    assert.equal(a.nlink, 2);
    assert.equal(a.ino, lstatSync(path.join(dest, 'b')).ino);
    assert.deepEqual([a.uid, a.gid, a.mode & 0o7777, a.mtimeMs / 1000], [123, 456, 0o4751, 981173106]);
    const gone = lstatSync(path.join(dest, 'gone'));
    assert.ok(gone.isCharacterDevice() && gone.rdev === 0);
    const attrs = xattrs(dest);
    assert.match(attrs, /# file: \.\/opq\ntrusted\.overlay\.opaque="y"/);
    assert.match(attrs, /user\.kept="yes"/);
    assert.doesNotMatch(attrs, /overlay\.(impure|origin)/);
    assert.deepEqual(execFileSync('ls', [path.join(dest, 'etc')]).toString().trim().split('\n'), ['hosts']);
  });

  it('writes the OCI tar: whiteout and opaque entries, one hard link, exclusions left out', async () => {
    const entries: tar.Headers[] = [];
    const ex = tar.extract();
    const done = (async () => {
      for await (const e of ex) {
        entries.push(e.header);
        e.resume();
      }
    })();
    for await (const c of await upperDirTar(upper, { exclude: new Set(['etc/hostname', 'etc/resolv.conf']) })) ex.write(c);
    ex.end();
    await done;
    const names = entries.map((e) => e.name).sort();
    assert.deepEqual(names, ['.wh.gone', 'a', 'b', 'etc/', 'etc/hosts', 'opq/', 'opq/.wh..wh..opq', 'opq/new']);
    const b = entries.find((e) => e.name === 'b')!;
    assert.deepEqual([b.type, b.linkname], ['link', 'a']);
    const a = entries.find((e) => e.name === 'a')!;
    assert.deepEqual([a.uid, a.gid, a.mode, a.size], [123, 456, 0o4751, 4]);
  });

  it('hashes the tar it writes and counts the layer size as a walk of the copy does', async () => {
    const exclude = new Set(['etc/hostname', 'etc/resolv.conf']);
    const file = path.join(base, 'layer.tar');
    const { diffId, size } = await writeLayerTar(upper, file, { exclude, opaque: new Set(['opq']) });
    assert.equal(diffId, sha256(readFileSync(file)));
    const copy = path.join(base, 'sized');
    mkdirSync(copy);
    await copyUpperDir(upper, copy, exclude, new Map());
    assert.equal(size, await dirSize(copy));
    assert.ok(size > 0);
  });
});
