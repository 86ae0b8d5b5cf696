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
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
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

const ok = async (args: string[], input?: string | Buffer): Promise<string> => (await dockerOk(d, args, { input, timeoutMs: 180_000 })).trim();

const count = (text: string, word: string) => text.split(word).length - 1;

/** A build that must succeed: its output. */
async function built(args: string[]): Promise<string> {
  const r = await build(args);
  assert.equal(r.code, 0, `docker build ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const imageId = (ref: string) => ok(['image', 'inspect', '-f', '{{.Id}}', ref]);

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
    // The steps' intermediate images are listed only with -a.
    const plain = (await ok(['images', '-q', '--no-trunc'])).split('\n');
    const all = (await ok(['images', '-aq', '--no-trunc'])).split('\n');
    const id = await imageId(tag);
    assert.ok(plain.includes(id));
    const parent = await ok(['image', 'inspect', '-f', '{{.Parent}}', tag]);
    assert.ok(all.includes(parent) && !plain.includes(parent), `intermediate ${parent} only with -a`);
    await ok(['rmi', tag]);
  });

  test('cache: an unchanged rebuild reuses every step; a changed COPY source rebuilds from that step; --no-cache rebuilds all', async () => {
    const tag = uniqueName('cache');
    const dir = context({
      Dockerfile: `FROM ${BASE}\nRUN echo one > /one\nCOPY data.txt /data.txt\nRUN cat /data.txt > /copy\nCMD ["cat", "/copy"]\n`,
      'data.txt': 'v1\n',
    });
    assert.equal(count(await built(['-t', tag, dir]), 'Using cache'), 0);
    const id1 = await imageId(tag);
    const again = await built(['-t', tag, dir]);
    assert.equal(count(again, 'Using cache'), 4, again);
    assert.equal(await imageId(tag), id1);
    writeFileSync(path.join(dir, 'data.txt'), 'v2\n');
    const changed = await built(['-t', tag, dir]);
    assert.equal(count(changed, 'Using cache'), 1, 'only the RUN before the COPY is cached: ' + changed);
    assert.equal(await ok(['run', '--rm', tag]), 'v2');
    assert.equal(count(await built(['--no-cache', '-t', tag, dir]), 'Using cache'), 0);
    await ok(['rmi', tag]);
  });

  test('cache across stages: COPY --from follows its stage, rebuilt when the stage changed and reused when it is back', async () => {
    const tag = uniqueName('stagecache');
    const dir = context({
      Dockerfile: [
        `FROM ${BASE} AS src`,
        'COPY v.txt /v.txt',
        `FROM ${BASE}`,
        'COPY --from=src /v.txt /app/v.txt',
        // /etc is a directory of the image: the file goes inside it.
        'COPY --from=src /v.txt /etc',
        'CMD ["cat", "/app/v.txt", "/etc/v.txt"]',
        '',
      ].join('\n'),
      'v.txt': 'v1\n',
    });
    await built(['-t', tag, dir]);
    const id1 = await imageId(tag);
    assert.equal(await ok(['run', '--rm', tag]), 'v1\nv1');
    const again = await built(['-t', tag, dir]);
    assert.equal(count(again, 'Using cache'), 4, again);
    assert.equal(await imageId(tag), id1);

    writeFileSync(path.join(dir, 'v.txt'), 'v2\n');
    const changed = await built(['-t', tag, dir]);
    assert.equal(count(changed, 'Using cache'), 0, 'the stage changed, so do both copies out of it: ' + changed);
    assert.equal(await ok(['run', '--rm', tag]), 'v2\nv2');

    writeFileSync(path.join(dir, 'v.txt'), 'v1\n');
    const back = await built(['-t', tag, dir]);
    assert.equal(count(back, 'Using cache'), 4, back);
    assert.equal(await imageId(tag), id1);
    assert.equal(await ok(['run', '--rm', tag]), 'v1\nv1');
    await ok(['rmi', tag]);
  });

  test('a tar context on stdin honours .dockerignore; -q prints only the image id', async () => {
    const tar = await writeTar([
      { name: 'Dockerfile', type: 'file', data: `FROM ${BASE}\nCOPY . /ctx/\nRUN ls -A /ctx | sort | tr '\\n' ' '; echo\n` },
      { name: '.dockerignore', type: 'file', data: '# secrets\nsecret*\n!secret-ok.txt\ntmp/\n' },
      { name: 'keep.txt', type: 'file', data: 'k' },
      { name: 'secret.txt', type: 'file', data: 's' },
      { name: 'secret-ok.txt', type: 'file', data: 'ok' },
      { name: 'tmp', type: 'directory' },
      { name: 'tmp/junk', type: 'file', data: 'j' },
    ]);
    const r = await build(['-'], gzipSync(tar));
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^\.dockerignore Dockerfile keep\.txt secret-ok\.txt $/m);
    const q = await build(['-q', '--no-cache', '-'], tar);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    await ok(['rmi', q.stdout.trim()]);
  });

  test('multi-stage with COPY --from, -f, --target, --build-arg, --label and several tags', async () => {
    const [t1, t2, t3] = [uniqueName('ms'), uniqueName('ms'), uniqueName('ms')];
    const dir = context({
      'build/App.dockerfile': [
        'ARG BASE_IMAGE',
        'FROM ${BASE_IMAGE} AS builder',
        'ARG FLAVOUR=plain',
        'RUN mkdir -p /out/bin && echo "built $FLAVOUR" > /out/bin/result',
        'FROM scratch AS artifacts',
        'COPY --from=builder /out/ /',
        'FROM ${BASE_IMAGE}',
        'COPY --from=artifacts /bin/result /final/result',
        'LABEL stage=final',
        'CMD ["cat", "/final/result"]',
        '',
      ].join('\n'),
    });
    const r = await build(['-f', path.join(dir, 'build/App.dockerfile'), '--build-arg', `BASE_IMAGE=${BASE}`, '--build-arg', 'FLAVOUR=spicy', '--label', 'team=berth', '-t', t1, '-t', `${t2}:v2`, dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(await ok(['run', '--rm', t1]), 'built spicy');
    assert.equal(await imageId(t1), await imageId(`${t2}:v2`));
    const labels = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .Config.Labels}}', t1]));
    assert.deepEqual(labels, { stage: 'final', team: 'berth' });
    const target = await build(['-f', path.join(dir, 'build/App.dockerfile'), '--build-arg', `BASE_IMAGE=${BASE}`, '--target', 'artifacts', '-t', t3, dir]);
    assert.equal(target.code, 0, target.stderr + target.stdout);
    assert.doesNotMatch(target.stdout, /LABEL stage=final/);
    const exported = await d.docker(['create', '--name', `${t3}-c`, t3, 'x']);
    assert.equal(exported.code, 0, exported.stderr);
    const tarOut = await d.docker(['export', `${t3}-c`]);
    assert.match(tarOut.stdout, /built plain/, 'without the build arg the ARG default applies');
    await ok(['rm', `${t3}-c`]);
    await ok(['rmi', t1, `${t2}:v2`, t3]);
  });

  test('ADD unpacks a local tar; --chown and --chmod; USER, EXPOSE, VOLUME, HEALTHCHECK, STOPSIGNAL, SHELL, ENTRYPOINT, ONBUILD', async () => {
    const tag = uniqueName('add');
    const child = uniqueName('child');
    const archive = await writeTar([{ name: 'pkg/readme', type: 'file', data: 'from tar\n' }]);
    const dir = context({
      Dockerfile: [
        `FROM ${BASE}`,
        'ADD files.tar.gz /opt/',
        'COPY --chown=1000:1000 --chmod=640 plain.txt /opt/plain.txt',
        'USER 1000',
        'EXPOSE 8080 53/udp',
        'VOLUME /data',
        'HEALTHCHECK --interval=5s --retries=2 CMD true',
        'STOPSIGNAL SIGUSR1',
        'SHELL ["/bin/sh", "-e", "-c"]',
        'ONBUILD RUN echo triggered > /tmp/trigger',
        'ENTRYPOINT ["sh", "-c"]',
        'CMD ["cat /opt/pkg/readme; stat -c \'%u %a\' /opt/plain.txt"]',
        '',
      ].join('\n'),
      'plain.txt': 'p',
    });
    writeFileSync(path.join(dir, 'files.tar.gz'), gzipSync(archive));
    const r = await build(['-t', tag, dir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(await ok(['run', '--rm', tag]), 'from tar\n1000 640');
    const cfg = JSON.parse(await ok(['image', 'inspect', tag]))[0].Config;
    assert.equal(cfg.User, '1000');
    assert.deepEqual(Object.keys(cfg.ExposedPorts).sort(), ['53/udp', '8080/tcp']);
    assert.deepEqual(Object.keys(cfg.Volumes), ['/data']);
    assert.deepEqual(cfg.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Retries: 2 });
    assert.equal(cfg.StopSignal, 'SIGUSR1');
    assert.deepEqual(cfg.Shell, ['/bin/sh', '-e', '-c']);
    assert.deepEqual(cfg.OnBuild, ['RUN echo triggered > /tmp/trigger']);
    const childDir = context({ Dockerfile: `FROM ${tag}\nUSER 0\n` });
    const c = await build(['-t', child, childDir]);
    assert.equal(c.code, 0, c.stderr + c.stdout);
    assert.match(c.stdout, /Executing 1 build trigger/);
    assert.equal(await ok(['run', '--rm', '--entrypoint', 'cat', child, '/tmp/trigger']), 'triggered');
    assert.equal(JSON.parse(await ok(['image', 'inspect', '-f', '{{json .Config.OnBuild}}', child])), null);
    await ok(['rmi', child, tag]);
  });

  test('a failing RUN reports the step, its output and exit code, tags nothing and leaves no container', async () => {
    const tag = uniqueName('fail');
    const before = await containerIds();
    const dir = context({ Dockerfile: `FROM ${BASE}\nRUN echo first\nRUN echo about to fail && exit 3\nRUN echo never\n` });
    const r = await build(['-t', tag, dir]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /Step 3\/4 : RUN echo about to fail && exit 3/);
    assert.match(r.stdout, /^about to fail$/m);
    assert.doesNotMatch(r.stdout, /never/);
    assert.match(r.stderr, /The command '\/bin\/sh -c echo about to fail && exit 3' returned a non-zero code: 3/);
    const inspect = await d.docker(['image', 'inspect', tag]);
    assert.notEqual(inspect.code, 0, 'the tag must not exist');
    assert.deepEqual(await containerIds(), before);
  });

  test('a missing base image and an unknown instruction fail clearly', async () => {
    const missing = await build(['-'], `FROM ${uniqueName('nosuch')}\n`);
    assert.notEqual(missing.code, 0);
    // It is pulled: Docker Hub is out of reach here, or does not have it.
    assert.match(missing.stderr, /registry-1\.docker\.io|pull access denied/);
    const bad = await build(['-'], `FROM ${BASE}\nFROBNICATE x\n`);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unknown instruction: FROBNICATE/);
  });
});

