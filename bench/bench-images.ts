// Images of a given size for the load/save and pull scenarios, built offline
// with the test image builder's tar writer: L layers of random (so
// incompressible) files, written as a `docker save` archive to a temp dir.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildArchive, writeTar, type TarEntry } from '../scripts/build-test-images.ts';

export interface BenchImage {
  ref: string;
  file: string;
  bytes: number;
  id: string;
  cleanup(): void;
}

/** An archive of `ref` with `layers` layers of `files` random files each, about `mib` MiB in all. */
export async function randomImage(ref: string, mib: number, layers: number, files = 8): Promise<BenchImage> {
  const perFile = Math.max(1, Math.floor((mib * 1024 * 1024) / (layers * files)));
  const tars: { tar: Buffer; createdBy: string }[] = [];
  for (let l = 0; l < layers; l++) {
    const entries: TarEntry[] = [{ name: `layer${l}`, type: 'directory' }];
    for (let f = 0; f < files; f++) entries.push({ name: `layer${l}/f${f}.bin`, type: 'file', data: randomBytes(perFile) });
    tars.push({ tar: await writeTar(entries), createdBy: `COPY layer${l} /layer${l} # ${files} x ${perFile} random bytes` });
  }
  const built = await buildArchive({ ref, layers: tars, config: { Cmd: ['/bin/true'] } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-img-'));
  const file = path.join(dir, 'image.tar');
  writeFileSync(file, built.archive);
  return { ref, file, bytes: built.archive.length, id: built.id, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
