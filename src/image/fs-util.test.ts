import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { WRITE_BUFFER, writeAll } from './fs-util.ts';

test('writeAll writes every chunk in order, across many batches, and leaves the file open', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-writeall-'));
  try {
    // Chunks of uneven sizes, some larger than a batch, 3.5 write buffers in all.
    const chunks: Buffer[] = [];
    let total = 0;
    for (let i = 0; total < WRITE_BUFFER * 3.5; i++) {
      const c = randomBytes(i % 7 === 0 ? WRITE_BUFFER / 2 + 3 : 1 + ((i * 7919) % 65_536));
      chunks.push(c);
      total += c.length;
    }
    const file = path.join(dir, 'f');
    const fh = await open(file, 'wx');
    try {
      await writeAll(Readable.from(chunks), fh);
      await fh.write(Buffer.from('tail'), 0, 4); // still open, at the end
    } finally {
      await fh.close();
    }
    assert.ok(Buffer.concat([...chunks, Buffer.from('tail')]).equals(readFileSync(file)), 'the file differs from the chunks written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeAll reports a failing source after the writes under way have ended', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-writeall-'));
  try {
    const fh = await open(path.join(dir, 'f'), 'wx');
    async function* failing() {
      yield randomBytes(WRITE_BUFFER); // one batch goes out
      throw new Error('source broke');
    }
    try {
      await assert.rejects(writeAll(failing(), fh), /source broke/);
    } finally {
      await fh.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
