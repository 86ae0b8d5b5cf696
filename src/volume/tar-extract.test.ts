// docker cp in against a container that races it (and a client that left): a directory or special
// file the extraction just made is swapped for a symlink to a host file
// before its mode is set. The mode must land on what was made (or the entry
// fail), never on the symlink's target on the host.
import assert from 'node:assert/strict';
import fs, { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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
  const originalLchown = fs.lchownSync;

  beforeEach(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'berth-extract-'));
    rootfs = path.join(base, 'rootfs');
    mkdirSync(rootfs);
    secret = path.join(base, 'host-secret');
    writeFileSync(secret, 'host only\n', { mode: 0o600 });
  });

  afterEach(() => {
    fs.lchownSync = originalLchown;
    syncBuiltinESMExports();
    rmSync(base, { recursive: true, force: true });
  });

  /** After the extraction's chown of `victim`, the "container" puts a symlink to the host file there. */
  function swapAfterChown(victim: string): void {
    fs.lchownSync = (p, uid, gid) => {
      originalLchown(p, uid, gid);
      if (p === victim) {
        rmSync(victim, { recursive: true, force: true });
        symlinkSync(secret, victim);
      }
    };
    syncBuiltinESMExports();
  }

  for (const type of ['directory', 'fifo'] as const) {
    it(`sets a ${type}'s mode without following a symlink swapped in`, async () => {
      swapAfterChown(path.join(rootfs, 'x'));
      const tar = await makeTar([{ name: 'x', type, mode: 0o777 }]);
      const view = new ContainerFs(rootfs, []);
      await extractInto(view, Readable.from([tar]), { dest: '/', noOverwriteDirNonDir: false, copyUIDGID: false }).catch(() => undefined);
      assert.equal(statSync(secret).mode & 0o7777, 0o600, 'the host file keeps its mode');
    });
  }

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
