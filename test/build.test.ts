// End to end: `docker build` (the classic builder's POST /build) with the real
// docker CLI: contexts from a directory and from a tar on stdin, -f, every
// kind of instruction, multi-stage builds, the layer cache, build args,
// labels, tags, .dockerignore, failing steps and -q.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { writeTar } from '../scripts/build-test-images.ts';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let BASE: string;

before(async () => {
  d = await startDaemon();
  BASE = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

/** A context directory with the given files ("a/b.txt": content). */
function context(files: Record<string, string>): string {
  const dir = path.join(d.dir, uniqueName('ctx'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

async function build(args: string[], input?: Buffer | string) {
  return d.docker(['build', ...args], { input, timeoutMs: 180_000 });
}

async function ok(args: string[], input?: string | Buffer): Promise<string> {
  const r = await d.docker(args, { input, timeoutMs: 180_000 });
  assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}

const count = (text: string, word: string) => text.split(word).length - 1;

async function containerIds(): Promise<string[]> {
  return (await ok(['ps', '-aq', '--no-trunc'])).split('\n').filter(Boolean);
}

describe('docker build', () => {
  test('from a directory: COPY, ENV, WORKDIR, RUN, CMD; the image runs', async () => {
    const tag = uniqueName('build');
    const dir = context({
      Dockerfile: [
        `FROM ${BASE}`,
        'ENV GREETING=hello',
        'WORKDIR /app',
        'COPY hello.txt ./',
        'COPY sub/ /opt/sub/',
        'RUN echo "$GREETING from run" > /app/run.txt && cat hello.txt',
        'CMD ["sh", "-c", "cat /app/hello.txt /app/run.txt /opt/sub/x.txt; pwd"]',
        '',
      ].join('\n'),
      'hello.txt': 'hello file\n',
      'sub/x.txt': 'sub x\n',
    });
    const r = await build(['-t', tag, dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Step 1\/7 : FROM /);
    assert.match(r.stdout, /Step 6\/7 : RUN echo "\$GREETING from run"/);
    assert.match(r.stdout, /^hello file$/m, 'RUN output is streamed');
    assert.match(r.stdout, /Successfully built [0-9a-f]{12}/);
    assert.match(r.stdout, new RegExp(`Successfully tagged ${tag}:latest`));
    const out = await ok(['run', '--rm', tag]);
    assert.equal(out, 'hello file\nhello from run\nsub x\n/app');
    const cfg = JSON.parse(await ok(['image', 'inspect', tag]))[0].Config;
    assert.ok(cfg.Env.includes('GREETING=hello'));
    assert.equal(cfg.WorkingDir, '/app');
    await ok(['rmi', tag]);
  });
});
