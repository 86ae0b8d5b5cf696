// End to end against a private Distribution registry (Debian's
// docker-registry): push, pull by tag and by digest, RepoDigests, run
// pulling a missing image, --pull policies, --all-tags, layers already
// present or mountable, and registries that break or corrupt a blob.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';
import { startRegistry, type Registry } from './helpers/registry.ts';

let d: Daemon;
let reg: Registry;
let IMAGE: string;

before(async () => {
  reg = await startRegistry();
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});
after(async () => {
  await d?.cleanup();
  await reg?.stop();
});

const ok = async (args: string[]): Promise<string> => dockerOk(d, args, { timeoutMs: 120_000 });

const repoName = () => uniqueName('reg');

describe('push and pull', () => {
  test('push, remove, pull back by tag and by digest, run', async () => {
    const ref = `${reg.host}/${repoName()}:v1`;
    await ok(['tag', IMAGE, ref]);
    const pushed = await ok(['push', ref]);
    assert.match(pushed, new RegExp(`The push refers to repository \\[${reg.host}/`));
    const digest = /v1: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(pushed)?.[1];
    assert.ok(digest, pushed);
    const [repoDigest] = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .RepoDigests}}', ref]));
    assert.equal(repoDigest, `${ref.replace(/:v1$/, '')}@${digest}`, 'push records the repo digest');
    const id = (await ok(['image', 'inspect', '-f', '{{.Id}}', ref])).trim();

    // IMAGE keeps the layers here; a fresh store is the next test's.
    await ok(['rmi', ref]);
    const pulled = await ok(['pull', ref]);
    assert.match(pulled, /v1: Pulling from /);
    assert.match(pulled, new RegExp(`Digest: ${digest}`));
    assert.match(pulled, /Status: (Downloaded newer image|Image is up to date) for /);
    assert.equal((await ok(['image', 'inspect', '-f', '{{.Id}}', ref])).trim(), id, 'the same image comes back');

    const byDigest = `${ref.replace(/:v1$/, '')}@${digest}`;
    await ok(['rmi', ref]);
    await ok(['pull', byDigest]);
    assert.equal((await ok(['image', 'inspect', '-f', '{{.Id}}', byDigest])).trim(), id);
    assert.equal((await ok(['run', '--rm', byDigest, 'echo', 'from-digest'])).trim(), 'from-digest');
    await ok(['rmi', byDigest]);
  });

  test('a pull downloads the layers a fresh store lacks and runs the image', async () => {
    const ref = `${reg.host}/${repoName()}:fresh`;
    await ok(['tag', IMAGE, ref]);
    await ok(['push', ref]);
    const other = await startDaemon();
    try {
      const r = await other.docker(['pull', ref], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Pull complete/);
      assert.match(r.stdout, /Status: Downloaded newer image for /);
      const again = await other.docker(['pull', ref]);
      assert.match(again.stdout, /Already exists|Image is up to date/);
      assert.match(again.stdout, /Status: Image is up to date for /);
      const run = await other.docker(['run', '--rm', ref, 'sh', '-c', 'echo pulled-ok']);
      assert.equal(run.stdout.trim(), 'pulled-ok', run.stderr);
    } finally {
      await other.cleanup();
    }
  });

  test('docker run pulls a missing image; --pull never refuses, --pull always pulls', async () => {
    const ref = `${reg.host}/${repoName()}:run`;
    await ok(['tag', IMAGE, ref]);
    await ok(['push', ref]);
    await ok(['rmi', ref]);
    const never = await d.docker(['create', '--pull', 'never', ref]);
    assert.notEqual(never.code, 0);
    assert.match(never.stderr, /No such image/);
    const r = await d.docker(['run', '--rm', ref, 'echo', 'pulled-by-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Unable to find image/);
    assert.equal(r.stdout.trim(), 'pulled-by-run');
    const always = await d.docker(['create', '--pull', 'always', '--name', uniqueName('pa'), ref]);
    assert.equal(always.code, 0, always.stderr);
    assert.match(always.stderr, /Pulling from|Digest: sha256:/);
  });

  test('pull --all-tags brings every tag; a missing tag is a clear error', async () => {
    const repo = `${reg.host}/${repoName()}`;
    for (const t of ['a', 'b']) {
      await ok(['tag', IMAGE, `${repo}:${t}`]);
      await ok(['push', `${repo}:${t}`]);
      await ok(['rmi', `${repo}:${t}`]);
    }
    assert.notEqual((await d.docker(['image', 'inspect', `${repo}:a`])).code, 0);
    const out = await ok(['pull', '--all-tags', repo]);
    assert.match(out, /a: Pulling from /);
    assert.match(out, /b: Pulling from /);
    for (const t of ['a', 'b']) await ok(['image', 'inspect', `${repo}:${t}`]);
    const missing = await d.docker(['pull', `${repo}:nope`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /manifest for .*:nope not found: manifest unknown/);
  });

  test('a second push skips layers the registry has and mounts them across repositories', async () => {
    const a = `${reg.host}/${repoName()}:1`;
    const b = `${reg.host}/${repoName()}:1`;
    await ok(['tag', IMAGE, a]);
    await ok(['tag', IMAGE, b]);
    await ok(['push', a]);
    assert.match(await ok(['push', a]), /Layer already exists/);
    assert.match(await ok(['push', b]), /Mounted from /);
  });

  test('pushing an image that does not exist locally fails with Docker\'s message', async () => {
    const r = await d.docker(['push', `${reg.host}/${repoName()}:none`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /An image does not exist locally with the tag/);
  });
});

/**
 * A proxy in front of the registry that damages large blob downloads: flips
 * a byte, or cuts the first transfer (and with 'cut-once-no-range' answers
 * the retry's Range request with the whole blob, as registries without range
 * support do).
 */
async function blobProxy(mode: 'corrupt' | 'cut-once' | 'cut-once-no-range'): Promise<{ host: string; cuts: number; ranges: number; close(): Promise<void> }> {
  const state = { cuts: 0, ranges: 0 };
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers, host: reg.host };
    if (req.headers.range) state.ranges++;
    if (mode === 'cut-once-no-range') delete headers.range;
    const up = http.request(`${reg.url}${req.url}`, { method: req.method, headers }, (ur) => {
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        let body = Buffer.concat(chunks);
        const isLayer = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '') && body.length > 100_000;
        if (isLayer && mode === 'corrupt') {
          body = Buffer.from(body);
          body[body.length >> 1] ^= 0xff;
        }
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (isLayer && mode !== 'corrupt' && state.cuts === 0 && !req.headers.range) {
          state.cuts++;
          res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
          return;
        }
        res.end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    get cuts() {
      return state.cuts;
    },
    get ranges() {
      return state.ranges;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('damaged transfers', () => {
  test('a registry that corrupts a blob: the pull fails with a digest error and leaves nothing behind', async () => {
    const name = repoName();
    await ok(['tag', IMAGE, `${reg.host}/${name}:1`]);
    await ok(['push', `${reg.host}/${name}:1`]);
    const proxy = await blobProxy('corrupt');
    const other = await startDaemon();
    try {
      const before = readdirSync(path.join(other.dataRoot, 'image', 'layers'));
      const r = await other.docker(['pull', `${proxy.host}/${name}:1`]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr + r.stdout, /verification failed for digest sha256:[a-f0-9]{64}/);
      assert.deepEqual(readdirSync(path.join(other.dataRoot, 'image', 'layers')), before, 'no layer was added');
      assert.deepEqual(readdirSync(path.join(other.dataRoot, 'image', 'tmp')), [], 'no staging is left');
      assert.deepEqual(readdirSync(path.join(other.dataRoot, 'image', 'blobs', 'sha256')), [], 'no blob was stored');
      const images = await other.docker(['images', '-q']);
      assert.equal(images.stdout.trim(), '');
    } finally {
      await other.cleanup();
      await proxy.close();
    }
  });

  test('a download cut in the middle is resumed and the pull succeeds', async () => {
    const name = repoName();
    await ok(['tag', IMAGE, `${reg.host}/${name}:1`]);
    await ok(['push', `${reg.host}/${name}:1`]);
    const proxy = await blobProxy('cut-once');
    const other = await startDaemon();
    try {
      const r = await other.docker(['pull', `${proxy.host}/${name}:1`], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(proxy.cuts, 1, 'the proxy did cut one transfer');
      const run = await other.docker(['run', '--rm', `${proxy.host}/${name}:1`, 'echo', 'whole']);
      assert.equal(run.stdout.trim(), 'whole', run.stderr);
    } finally {
      await other.cleanup();
      await proxy.close();
    }
  });

  test('a registry that answers the resuming Range request with the whole blob: the bytes already taken are skipped', async () => {
    const name = repoName();
    await ok(['tag', IMAGE, `${reg.host}/${name}:1`]);
    await ok(['push', `${reg.host}/${name}:1`]);
    const proxy = await blobProxy('cut-once-no-range');
    const other = await startDaemon();
    try {
      const r = await other.docker(['pull', `${proxy.host}/${name}:1`], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(proxy.cuts, 1, 'the proxy did cut one transfer');
      assert.ok(proxy.ranges >= 1, 'the retry asked for the rest only');
      const ids = await Promise.all([d, other].map(async (x) => (await dockerOk(x, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', x === d ? IMAGE : `${proxy.host}/${name}:1`])).trim()));
      assert.equal(ids[1], ids[0], 'the pulled layers have the diff ids of the pushed ones');
      const run = await other.docker(['run', '--rm', `${proxy.host}/${name}:1`, 'echo', 'whole']);
      assert.equal(run.stdout.trim(), 'whole', run.stderr);
    } finally {
      await other.cleanup();
      await proxy.close();
    }
  });
});
