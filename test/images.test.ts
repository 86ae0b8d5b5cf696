// End to end: images through the real docker CLI (load, save, import, tag,
// rmi, images, inspect, history, prune) and their layers in containers.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { writeTar } from '../scripts/build-test-images.ts';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage, testImageInfo, testImages } from './helpers/images.ts';

let d: Daemon;
let IMAGE: string;
let LAYERS: string;

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
  LAYERS = await loadTestImage(d, 'layers');
});
after(() => d?.cleanup());

const ok = async (args: string[], input?: string | Buffer): Promise<string> => (await dockerOk(d, args, { input })).trim();

describe('layers', () => {
  test('whiteouts and opaque directories hide lower-layer files in containers', async () => {
    const out = await ok(['run', '--rm', LAYERS, 'sh', '-c', 'ls /data; echo --; ls /opaque; echo --; cat /data/a.txt']);
    const [data, opaque] = out.split('\n--\n');
    assert.ok(!data.split('\n').includes('b.txt'), `b.txt is whited out: ${data}`);
    assert.ok(data.split('\n').includes('c.txt'));
    assert.deepEqual(opaque.split('\n'), ['new.txt']);
  });

  test('the image default command and working dir apply', async () => {
    const r = await d.docker(['run', '--rm', LAYERS]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.length > 0, 'cat /data/a.txt prints the file');
    assert.equal(await ok(['run', '--rm', LAYERS, 'pwd']), '/data');
  });

  test('a container writes to its own layer only', async () => {
    const name = uniqueName('rw');
    await ok(['run', '--name', name, IMAGE, 'sh', '-c', 'echo changed > /etc/motd; rm /bin/vi']);
    assert.equal(await ok(['run', '--rm', IMAGE, 'sh', '-c', 'test -e /bin/vi && test ! -e /etc/motd && echo pristine']), 'pristine');
    await ok(['rm', name]);
  });
});

describe('load and save', () => {
  test('load from stdin, gzip-compressed; save several images and load them back', async () => {
    const info = await testImageInfo();
    const gz = gzipSync(readFileSync((await testImages()).busybox));
    const fromStdin = await ok(['load'], gz);
    assert.match(fromStdin, /Loaded image: berth-test\/busybox:latest/);
    const archive = path.join(d.dir, `${uniqueName('save')}.tar`);
    const tag = `${uniqueName('saved')}:v1`;
    await ok(['tag', IMAGE, tag]);
    await ok(['save', '-o', archive, tag, LAYERS]);
    await ok(['rmi', tag]);
    const loaded = await ok(['load', '-i', archive]);
    assert.match(loaded, new RegExp(`Loaded image: ${tag}`));
    assert.equal(await ok(['image', 'inspect', '-f', '{{.Id}}', tag]), info.busybox.id);
    // The archive is a docker-archive: manifest.json lists both images.
    const piped = await d.docker(['save', tag]);
    assert.equal(piped.code, 0);
    assert.ok(piped.stdout.includes('manifest.json'));
    await ok(['rmi', tag]);
  });

  test('a client that leaves docker save after the first bytes does not take the daemon down', { timeout: 60_000 }, async () => {
    for (let i = 0; i < 3; i++) {
      // Read one chunk of the archive, then hang up (as `docker save IMAGE | head -c 1` does).
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ socketPath: d.socket, path: `/images/get?names=${encodeURIComponent(LAYERS)}` }, (res) => {
          assert.equal(res.statusCode, 200);
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
      });
    }
    assert.equal((await d.api('GET', '/_ping')).status, 200, `the daemon is down:\n${d.logs().slice(-2000)}`);
    assert.ok(d.running, 'the daemon process exited');
    const again = await d.api('GET', `/images/get?names=${encodeURIComponent(IMAGE)}`);
    assert.equal(again.status, 200);
    assert.ok(again.body.length > 1024, 'a save after the aborted ones is complete');
  });

  test('a hostile or truncated tarball is refused and leaves no image behind', async () => {
    const before = await ok(['images', '-aq', '--no-trunc']);
    const evil = await writeTar([{ name: '../../escape.txt', type: 'file', data: Buffer.from('x') }]);
    const r1 = await d.docker(['load'], { input: evil });
    assert.notEqual(r1.code, 0);
    const truncated = readFileSync((await testImages()).layers).subarray(0, 5000);
    const r2 = await d.docker(['load'], { input: truncated });
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr + r2.stdout, /\S/);
    assert.equal(await ok(['images', '-aq', '--no-trunc']), before);
  });
});

describe('import', () => {
  test('imports a rootfs tarball from stdin with --change', async () => {
    const busybox = readFileSync('/bin/busybox');
    const rootfs = await writeTar([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', type: 'file', data: busybox, mode: 0o755 },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
      { name: 'bin/echo', type: 'symlink', linkname: 'busybox' },
      { name: 'bin/env', type: 'symlink', linkname: 'busybox' },
      { name: 'srv/', type: 'directory' },
    ]);
    const ref = `${uniqueName('imported')}:v2`;
    const id = await ok(
      ['import', '-c', 'ENV GREETING=imported', '-c', 'WORKDIR /srv', '-c', 'CMD ["sh", "-c", "echo $GREETING from $(pwd)"]', '-c', 'LABEL kind=import', '-c', 'EXPOSE 8080', '-c', 'USER 0', '-', ref],
      rootfs,
    );
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await ok(['run', '--rm', ref]), 'imported from /srv');
    const cfg = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .Config}}', ref]));
    assert.deepEqual(cfg.Labels, { kind: 'import' });
    assert.ok('8080/tcp' in cfg.ExposedPorts);
    const file = path.join(d.dir, `${uniqueName('rootfs')}.tar`);
    writeFileSync(file, rootfs);
    const ref2 = `${uniqueName('imported')}:file`;
    await ok(['import', '--change', 'ENTRYPOINT ["/bin/echo"]', file, ref2]);
    assert.equal(await ok(['run', '--rm', ref2, 'hi']), 'hi');
    const bad = await d.docker(['import', '-c', 'FROBNICATE x', file]);
    assert.notEqual(bad.code, 0);
    await ok(['rmi', ref, ref2]);
  });
});

describe('tag, rmi, images, history, prune', () => {
  test('tag and rmi by name, id and refusing images in use', async () => {
    const info = await testImageInfo();
    const t1 = `${uniqueName('tagged')}:one`;
    await ok(['tag', IMAGE, t1]);
    const untagged = await ok(['rmi', t1]);
    assert.match(untagged, new RegExp(`Untagged: ${t1}`));
    assert.doesNotMatch(untagged, /Deleted/);
    const name = uniqueName('user');
    await ok(['create', '--name', name, LAYERS]);
    const refused = await d.docker(['rmi', LAYERS]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /conflict: unable to remove repository reference/);
    const t2 = `${uniqueName('tagged')}:two`;
    await ok(['tag', IMAGE, t2]);
    const byId = await d.docker(['rmi', info.busybox.id.slice(7, 19)]);
    assert.notEqual(byId.code, 0, 'an image in several repositories is not deleted by id without -f');
    assert.match(byId.stderr, /referenced in multiple repositories/);
    await ok(['rmi', t2]);
    await ok(['rm', name]);
    const missing = await d.docker(['rmi', 'berth-test/not-here']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such image: berth-test\/not-here/);
  });

  test('images with -a, -q, --digests, --no-trunc, --format and filters', async () => {
    const info = await testImageInfo();
    const all = await ok(['images', '-q', '--no-trunc']);
    assert.ok(all.split('\n').includes(info.busybox.id));
    assert.equal(await ok(['images', '-q', IMAGE]), info.busybox.id.slice(7, 19));
    const other = `${uniqueName('alias')}:x`;
    await ok(['tag', IMAGE, other]);
    assert.equal(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}', 'berth-test/busybox']), IMAGE, 'only the tags of the named repository');
    await ok(['rmi', other]);
    const fmt = await ok(['images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=berth-test/*']);
    assert.ok(fmt.split('\n').includes(LAYERS));
    assert.equal(await ok(['images', '-q', '--filter', 'label=berth.test=layers']), info.layers.id.slice(7, 19));
    assert.equal(await ok(['images', '--filter', 'dangling=true', '-q', '--filter', 'reference=berth-test/*']), '');
    const since = await ok(['images', '--format', '{{.Repository}}', '--filter', `since=${IMAGE}`, '--filter', 'reference=berth-test/*']);
    assert.ok(!since.split('\n').includes('berth-test/busybox'));
    const digests = await ok(['images', '--digests', IMAGE]);
    assert.match(digests, /DIGEST/);
    assert.match(await ok(['images', '-a']), /REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE/);
  });

  test('inspect and history', async () => {
    const img = JSON.parse(await ok(['image', 'inspect', LAYERS]))[0];
    assert.equal(img.Os, 'linux');
    assert.equal(img.RootFS.Type, 'layers');
    assert.equal(img.RootFS.Layers.length, 3);
    assert.deepEqual(img.Config.Cmd, ['cat', '/data/a.txt']);
    assert.ok(img.Size > 0);
    const history = await ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Size}}', LAYERS]);
    assert.ok(history.split('\n').length >= 3, history);
    const missing = await d.docker(['image', 'inspect', 'berth-test/nope']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No such image/);
  });

  test('prune removes dangling images only', async () => {
    const busybox = readFileSync('/bin/busybox');
    const rootfs = await writeTar([{ name: 'bin/', type: 'directory' }, { name: 'bin/busybox', type: 'file', data: busybox, mode: 0o755 }, { name: uniqueName('marker'), type: 'file', data: Buffer.from('x') }]);
    const id = await ok(['import', '-'], rootfs);
    assert.ok((await ok(['images', '-q', '--no-trunc', '--filter', 'dangling=true'])).includes(id));
    const out = await ok(['image', 'prune', '-f']);
    assert.match(out, new RegExp(id.slice(7)));
    assert.equal((await d.docker(['image', 'inspect', id])).code, 1);
    assert.equal((await d.docker(['image', 'inspect', IMAGE])).code, 0);
  });
});
