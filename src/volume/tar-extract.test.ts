// docker cp in against a container that races it (and a client that left):
// a directory or special file the extraction just made is swapped for a
// symlink to a host file before its mode is set, or a parent directory is
// swapped for a link to a host directory before a file is created in it.
// Everything must land on what was checked (or the entry fail), never on
// the host.
import assert from 'node:assert/strict';
import fs, { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { makeTar } from '../image/test-support.ts';
import { ContainerFs } from './container-fs.ts';
import { extractInto } from './tar-extract.ts';

describe('tar extraction against a racing container', () => {
  let base: string;
  let rootfs: string;
  let secret: string;
  /** Undo the patches of fs functions a test made. */
  let originals: (() => void)[] = [];

  beforeEach(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'berth-extract-'));
    rootfs = path.join(base, 'rootfs');
    mkdirSync(rootfs);
    secret = path.join(base, 'host-secret');
    writeFileSync(secret, 'host only\n', { mode: 0o600 });
  });

  afterEach(() => {
    for (const undo of originals) undo();
    originals = [];
    syncBuiltinESMExports();
    rmSync(base, { recursive: true, force: true });
  });

  /** After `fn` made `victim`, the "container" puts a symlink to the host file there. */
  function swapAfter(fn: 'mkdirSync' | 'lchownSync', victimLeaf: string): void {
    const original = fs[fn] as (...args: unknown[]) => unknown;
    originals.push(() => {
      (fs as unknown as Record<string, unknown>)[fn] = original;
    });
    (fs as unknown as Record<string, unknown>)[fn] = (p: string, ...rest: unknown[]) => {
      const out = original(p, ...rest);
      if (String(p).endsWith(`/${victimLeaf}`)) {
        rmSync(path.join(rootfs, victimLeaf), { recursive: true, force: true });
        symlinkSync(secret, path.join(rootfs, victimLeaf));
      }
      return out;
    };
    syncBuiltinESMExports();
  }

  for (const [type, fn] of [
    ['directory', 'mkdirSync'],
    ['fifo', 'lchownSync'],
  ] as const) {
    it(`sets a ${type}'s mode without following a symlink swapped in`, async () => {
      swapAfter(fn, 'x');
      const tar = await makeTar([{ name: 'x', type, mode: 0o777 }]);
      const view = new ContainerFs(rootfs, []);
      await extractInto(view, Readable.from([tar]), { dest: '/', noOverwriteDirNonDir: false, copyUIDGID: false }).catch(() => undefined);
      assert.equal(statSync(secret).mode & 0o7777, 0o600, 'the host file keeps its mode');
    });
  }

  it('writes into the directory it checked even when the container swaps it for a link to a host directory', async () => {
    const hostDir = path.join(base, 'host-dir');
    mkdirSync(hostDir);
    mkdirSync(path.join(rootfs, 'a'));
    // The swap lands between resolving "a" and creating "a/f", where a path-based copy would follow it.
    const original = fs.openSync;
    originals.push(() => {
      fs.openSync = original;
    });
    fs.openSync = ((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
      if (String(p).endsWith('/f') && typeof flags === 'number' && flags & fs.constants.O_CREAT) {
        renameSync(path.join(rootfs, 'a'), path.join(rootfs, 'a-moved'));
        symlinkSync(hostDir, path.join(rootfs, 'a'));
      }
      return original(p, flags ?? "r", mode);
    }) as typeof fs.openSync;
    syncBuiltinESMExports();
    const tar = await makeTar([{ name: 'a/f', data: 'from the client\n' }]);
    await extractInto(new ContainerFs(rootfs, []), Readable.from([tar]), { dest: '/', noOverwriteDirNonDir: false, copyUIDGID: false }).catch(() => undefined);
    assert.deepEqual(readdirSync(hostDir), [], 'nothing is written in the host directory');
    assert.equal(readFileSync(path.join(rootfs, 'a-moved', 'f'), 'utf8'), 'from the client\n', 'the file is in the directory that was checked');
  });

  // The timeout only turns a regression (a hang) into a failure.
  it('fails, not hangs, on a body the client closed before the extraction began', { timeout: 60_000 }, async () => {
    const body = new Readable({ read() {} });
    body.push(await makeTar([{ name: 'f', data: 'x' }]));
    body.destroy();
    await new Promise((resolve) => body.once('close', resolve));
    await assert.rejects(extractInto(new ContainerFs(rootfs, []), body, { dest: '/', noOverwriteDirNonDir: false, copyUIDGID: false }), /cut short/);
  });

  it('still sets the modes of directories and fifos', async () => {
    const tar = await makeTar([
      { name: 'd', type: 'directory', mode: 0o1750 },
      { name: 'd/p', type: 'fifo', mode: 0o640 },
    ]);
    await extractInto(new ContainerFs(rootfs, []), Readable.from([tar]), { dest: '/', noOverwriteDirNonDir: false, copyUIDGID: false });
    assert.equal(statSync(path.join(rootfs, 'd')).mode & 0o7777, 0o1750);
    assert.equal(statSync(path.join(rootfs, 'd/p')).mode & 0o7777, 0o640);
  });
});
