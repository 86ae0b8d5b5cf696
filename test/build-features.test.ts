// End to end: Dockerfile features users reach for that the classic builder
// lacks or refuses: here-documents in RUN and COPY, COPY --from with
// wildcards, ADD of bzip2/xz/zstd tarballs, and RUN --mount (refused with
// Docker's classic-builder message).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let BASE: string;

before(async () => {
  d = await startDaemon();
  BASE = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

function context(files: Record<string, string>): string {
  const dir = path.join(d.dir, uniqueName('ctx'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

const ok = async (args: string[], input?: string): Promise<string> => dockerOk(d, args, { input, timeoutMs: 180_000 });

test('here-documents: RUN <<EOF runs the script, a command reads one, COPY <<EOF writes a file (with $VAR when unquoted)', async () => {
  const tag = uniqueName('heredoc');
  const dockerfile = [
    `FROM ${BASE}`,
    'ARG WHO=heredoc',
    'RUN <<EOF',
    'set -e',
    'for i in 1 2 3; do echo "line $i" >> /script.out; done',
    'echo "by $WHO" >> /script.out',
    'EOF',
    'RUN cat <<-END > /cmd.out && tr a-z A-Z <<"RAW" >> /cmd.out',
    '\tindented $WHO',
    '\tEND',
    'raw $WHO',
    'RAW',
    'COPY <<EOF /etc/expanded.conf',
    'who=$WHO',
    'EOF',
    "COPY <<'EOF' /etc/literal.conf",
    'who=$WHO',
    'EOF',
    'RUN <<EOF',
    '#!/bin/sh -e',
    'echo "shebang $0" > /shebang.out',
    'EOF',
    '',
  ].join('\n');
  const out = await ok(['build', '-t', tag, '-'], dockerfile);
  assert.match(out, /Step 3\/7 : RUN <<EOF/);
  const show = (f: string) => ok(['run', '--rm', tag, 'cat', f]);
  assert.equal(await show('/script.out'), 'line 1\nline 2\nline 3\nby heredoc\n');
  assert.equal(await show('/cmd.out'), 'indented heredoc\nRAW $WHO\n');
  assert.equal(await show('/etc/expanded.conf'), 'who=heredoc\n');
  assert.equal(await show('/etc/literal.conf'), 'who=$WHO\n');
  assert.match(await show('/shebang.out'), /^shebang /);
  // Unchanged, every step comes from the cache; a changed document is a new step.
  const again = await ok(['build', '-t', tag, '-'], dockerfile);
  assert.equal(again.split('Using cache').length - 1, 5);
  const changed = await ok(['build', '-t', tag, '-'], dockerfile.replace('who=$WHO\nEOF\nRUN', 'who=changed $WHO\nEOF\nRUN'));
  assert.equal(await show('/etc/literal.conf'), 'who=changed $WHO\n');
  assert.equal(changed.split('Using cache').length - 1, 3);
  await ok(['rmi', tag]);
});

test('COPY --from with wildcards copies every match (files, and the contents of matched directories)', async () => {
  const tag = uniqueName('glob');
  const dockerfile = [
    `FROM ${BASE} AS build`,
    'RUN mkdir -p /out/sub-a /out/sub-b /out/other && echo 1 > /out/one.bin && echo 2 > /out/two.bin && echo t > /out/notes.txt && echo a > /out/sub-a/fa && echo b > /out/sub-b/fb && echo o > /out/other/fo',
    `FROM ${BASE}`,
    'COPY --from=build /out/*.bin /bins/',
    'COPY --from=build /out/sub-? /subs/',
    '',
  ].join('\n');
  await ok(['build', '-t', tag, '-'], dockerfile);
  const ls = (await ok(['run', '--rm', tag, 'sh', '-c', 'cd / && find bins subs -type f | sort && cat bins/one.bin bins/two.bin'])).trim().split('\n');
  assert.deepEqual(ls, ['bins/one.bin', 'bins/two.bin', 'subs/fa', 'subs/fb', '1', '2']);
  const none = await d.docker(['build', '-'], { input: `FROM ${BASE} AS b\nFROM ${BASE}\nCOPY --from=b /etc/*.nothing /x/\n` });
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /no source files were specified/);
  const notDir = await d.docker(['build', '-'], { input: `FROM ${BASE} AS b\nFROM ${BASE}\nCOPY --from=b /etc/pass* /file\n` });
  assert.notEqual(notDir.code, 0);
  assert.match(notDir.stderr, /the destination must be a directory and end with a \//);
  await ok(['rmi', tag]);
});

test('ADD unpacks bzip2, xz and zstd tarballs; a compressed file that is no tar is copied as it is', async () => {
  const dir = context({ 'payload/hello.txt': 'hello from a tarball\n', 'payload/deep/x.txt': 'x\n', Dockerfile: '' });
  const tarFile = path.join(dir, 'p.tar');
  execFileSync('tar', ['-C', path.join(dir, 'payload'), '-cf', tarFile, '.']);
  execFileSync('sh', ['-c', `bzip2 -k -c ${tarFile} > ${dir}/p.tar.bz2 && xz -k -c ${tarFile} > ${dir}/p.tar.xz && echo not-a-tar | xz -c > ${dir}/plain.xz`]);
  const zstd = await import('node:zlib');
  writeFileSync(path.join(dir, 'p.tar.zst'), zstd.zstdCompressSync(execFileSync('cat', [tarFile])));
  writeFileSync(
    path.join(dir, 'Dockerfile'),
    [`FROM ${BASE}`, 'ADD p.tar.bz2 /bz/', 'ADD p.tar.xz /xz/', 'ADD p.tar.zst /zst/', 'ADD plain.xz /raw/', ''].join('\n'),
  );
  const tag = uniqueName('adds');
  await ok(['build', '-t', tag, dir]);
  const out = await ok(['run', '--rm', tag, 'sh', '-c', 'cat /bz/hello.txt /xz/deep/x.txt /zst/hello.txt && ls /raw']);
  assert.equal(out, 'hello from a tarball\nx\nhello from a tarball\nplain.xz\n');
  await ok(['rmi', tag]);
});

test('RUN --mount is refused with the classic builder\'s message (it needs BuildKit)', async () => {
  const r = await d.docker(['build', '-'], { input: `FROM ${BASE}\nRUN --mount=type=cache,target=/root/.cache echo hi\n` });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /the --mount option requires BuildKit/);
});
