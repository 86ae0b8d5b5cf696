// The test images (built offline by scripts/build-test-images.ts) for tests:
// their archive paths, references and IDs, and loading them into a daemon.
// scripts/test.ts builds them before the tests and sets BERTH_TEST_IMAGES;
// when a test file runs alone, they are built (or found) on first use.
import assert from 'node:assert/strict';
import { buildTestImages, readTestImageInfo, testImageRefs, STOPSIGNAL_EXIT_CODE, type TestImageInfo, type TestImagePaths } from '../../scripts/build-test-images.ts';
import type { Daemon } from './daemon.ts';

export { testImageRefs, STOPSIGNAL_EXIT_CODE };
export type TestImageName = keyof TestImagePaths;

let built: Promise<TestImagePaths> | undefined;

/** Paths of the image archives (busybox.tar, layers.tar, stopsignal.tar). */
export function testImages(): Promise<TestImagePaths> {
  built ??= buildTestImages();
  return built;
}

/** Reference, archive path, image ID and diff IDs of each test image. */
export async function testImageInfo(): Promise<Record<TestImageName, TestImageInfo>> {
  await testImages();
  return readTestImageInfo();
}

/** `docker load -i <archive>` into the daemon; returns the image reference. */
export async function loadTestImage(d: Daemon, name: TestImageName = 'busybox'): Promise<string> {
  const paths = await testImages();
  const r = await d.docker(['load', '-i', paths[name]], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `docker load -i ${paths[name]} failed: ${r.stderr}${r.stdout}`);
  return testImageRefs[name];
}
