// End to end: docker cp, export and commit, including hostile paths, links and tars.
import assert from 'node:assert/strict';
import { chownSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import tar from 'tar-stream';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';
import { tarEntries } from './helpers/tar.ts';

let d: Daemon;
let IMAGE: string;

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

const ok = async (args: string[], input?: string): Promise<string> => (await dockerOk(d, args, { input })).trim();

async function makeTar(entries: (tar.Headers & { body?: string })[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { body, ...h } of entries) pack.entry(h, body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function tarNames(buf: Buffer): Promise<string[]> {
  return (await tarEntries(buf)).map((e) => e.header.name);
}

/** name -> contents of a tar's regular files. */
async function tarFiles(buf: Buffer): Promise<Map<string, Buffer>> {
  return new Map((await tarEntries(buf)).filter((e) => e.header.type === 'file').map((e) => [e.header.name, e.body]));
}

async function inspectState(name: string): Promise<{ Status: string }> {
  return JSON.parse(await ok(['inspect', name]))[0].State;
}

describe('docker cp', () => {
  test('files and directories in both directions, running and stopped, with -a keeping owners', async () => {
    const c = uniqueName('c');
    await ok(['run', '-d', '--name', c, IMAGE, 'sh', '-c', 'mkdir -p /srv/tree/sub && echo a > /srv/tree/a && echo b > /srv/tree/sub/b && chown -R 1234:5678 /srv/tree && sleep 60']);
    // Wait until the tree exists (the command runs in the background).
    for (let i = 0; i < 50; i++) {
      if ((await d.docker(['cp', `${c}:/srv/tree/sub/b`, path.join(d.dir, 'probe')])).code === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const out = path.join(d.dir, uniqueName('out'));
    await ok(['cp', `${c}:/srv/tree`, out]);
    assert.equal(readFileSync(path.join(out, 'a'), 'utf8'), 'a\n');
    assert.equal(readFileSync(path.join(out, 'sub', 'b'), 'utf8'), 'b\n');

    const src = path.join(d.dir, uniqueName('in'));
    mkdirSync(path.join(src, 'deep'), { recursive: true });
    writeFileSync(path.join(src, 'deep', 'f'), 'in');
    await ok(['cp', src, `${c}:/dst`]);
    assert.equal(await ok(['exec', c, 'cat', '/dst/deep/f']), 'in');
    assert.equal(await ok(['exec', c, 'stat', '-c', '%u:%g', '/dst/deep/f']), '0:0');
    await ok(['cp', '-a', src, `${c}:/dst-a`]);
    const { uid, gid } = statSync(src);
    assert.equal(await ok(['exec', c, 'stat', '-c', '%u:%g', '/dst-a/deep/f']), `${uid}:${gid}`);

    await ok(['stop', '-t', '0', c]);
    // Stopped: still readable and writable.
    writeFileSync(path.join(d.dir, 'single'), 'one file');
    await ok(['cp', path.join(d.dir, 'single'), `${c}:/srv/`]);
    const back = path.join(d.dir, uniqueName('back'));
    await ok(['cp', `${c}:/srv/single`, back]);
    assert.equal(readFileSync(back, 'utf8'), 'one file');
    await ok(['rm', c]);
  });

  test('round trip of what needs more than USTAR: a 3,000,000 uid (PAX), a 230-character path, a 3 MiB file, a hard link', async () => {
    const c = uniqueName('c');
    await ok(['run', '-d', '--name', c, IMAGE, 'sleep', '60']);
    const src = path.join(d.dir, uniqueName('pax'));
    const longDir = path.join(src, 'd'.repeat(120));
    mkdirSync(longDir, { recursive: true });
    const big = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 253;
    const long = path.join(longDir, 'f'.repeat(100));
    writeFileSync(long, big);
    linkSync(long, path.join(src, 'hard'));
    chownSync(long, 3_000_000, 3_000_001);
    await ok(['cp', '-a', src, `${c}:/pax`]);
    const inside = `/pax/${'d'.repeat(120)}/${'f'.repeat(100)}`;
    assert.equal(await ok(['exec', c, 'stat', '-c', '%u:%g:%h', inside]), '3000000:3000001:2');
    const back = path.join(d.dir, uniqueName('back'));
    await ok(['cp', `${c}:/pax`, back]);
    const copy = path.join(back, 'd'.repeat(120), 'f'.repeat(100));
    assert.ok(readFileSync(copy).equals(big));
    assert.equal(statSync(path.join(back, 'hard')).ino, statSync(copy).ino);
    // The owner on the way out, as the archive endpoint's PAX header says it.
    const res = await d.api('GET', `/containers/${c}/archive?path=${encodeURIComponent(inside)}`);
    assert.equal(res.status, 200);
    const owners = (await tarEntries(res.body)).map(({ header: h }) => `${h.pax?.uid ?? h.uid}:${h.pax?.gid ?? h.gid}`);
    assert.deepEqual(owners, ['3000000:3000001']);
    await ok(['rm', '-f', c]);
  });

  test('copies into and out of a mounted volume', async () => {
    const vol = uniqueName('vol');
    const c = uniqueName('c');
    await ok(['create', '--name', c, '-v', `${vol}:/data`, IMAGE, 'true']);
    const f = path.join(d.dir, uniqueName('f'));
    writeFileSync(f, 'into the volume');
    await ok(['cp', f, `${c}:/data/x`]);
    const mp = JSON.parse(await ok(['volume', 'inspect', vol]))[0].Mountpoint;
    assert.equal(readFileSync(path.join(mp, 'x'), 'utf8'), 'into the volume');
    const back = path.join(d.dir, uniqueName('back'));
    await ok(['cp', `${c}:/data/x`, back]);
    assert.equal(readFileSync(back, 'utf8'), 'into the volume');
    await ok(['rm', c]);
    await ok(['volume', 'rm', vol]);
  });

  test('a missing path is a 404 with Docker\'s message; HEAD returns the path stat', async () => {
    const c = uniqueName('c');
    await ok(['create', '--name', c, IMAGE, 'true']);
    const r = await d.docker(['cp', `${c}:/no/such`, path.join(d.dir, 'x')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Could not find the file \/no\/such in container/);
    const head = await d.api('HEAD', `/containers/${c}/archive?path=/etc/passwd`);
    assert.equal(head.status, 200);
    const stat = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString());
    assert.equal(stat.name, 'passwd');
    assert.ok(stat.size > 0);
    await ok(['rm', c]);
  });

  test('hostile: symlinks in the container pointing at host paths never reach the host', async () => {
    const c = uniqueName('c');
    // A rootfs with links to / and /etc/shadow, and a directory link to /tmp.
    await ok(['run', '--name', c, IMAGE, 'sh', '-c', 'ln -s / /rootlink && ln -s /etc/shadow /shadowlink && ln -s /tmp /tmplink && ln -s ../../../../../../../../etc /climb && echo container-shadow > /etc/shadow']);
    const hostShadow = readFileSync('/etc/shadow', 'utf8');
    // Reading through a link gives the container's file, not the host's.
    const got = path.join(d.dir, uniqueName('shadow'));
    await ok(['cp', '-L', `${c}:/shadowlink`, got]);
    assert.equal(readFileSync(got, 'utf8'), 'container-shadow\n');
    const r = await d.api('GET', `/containers/${c}/archive?path=/climb/shadow`);
    assert.equal(r.status, 200);
    // Writing through links lands inside the container.
    const marker = uniqueName('marker');
    const f = path.join(d.dir, marker);
    writeFileSync(f, 'x');
    await ok(['cp', f, `${c}:/tmplink/`]);
    await ok(['cp', f, `${c}:/rootlink/tmp/`]);
    await ok(['cp', f, `${c}:/climb/`]);
    assert.equal(existsSync(path.join('/tmp', marker)), false);
    assert.equal(existsSync(path.join('/etc', marker)), false);
    const inside = path.join(d.dir, uniqueName('inside'));
    await ok(['cp', `${c}:/tmp/${marker}`, inside]);
    await ok(['cp', `${c}:/etc/${marker}`, inside + '2']);
    // PUT through an absolute symlink to /etc/shadow replaces the link inside the container, never the host file.
    const evil = await makeTar([{ name: 'shadowlink', body: 'pwned' }]);
    assert.equal((await d.api('PUT', `/containers/${c}/archive?path=/`, evil)).status, 200);
    assert.equal(readFileSync('/etc/shadow', 'utf8'), hostShadow);
    await ok(['rm', c]);
  });

  test('hostile: tar entries that climb out, and entries written through planted links', async () => {
    const c = uniqueName('c');
    await ok(['create', '--name', c, IMAGE, 'true']);
    const hostDir = path.join(d.dir, uniqueName('host'));
    mkdirSync(hostDir);
    for (const entries of [
      [{ name: '../../../../../../../../' + hostDir.slice(1) + '/escaped', body: 'x' }],
      [{ name: 'a/../../escaped', body: 'x' }],
      [
        { name: 'plant', type: 'symlink' as const, linkname: hostDir },
        { name: 'plant/escaped', body: 'x' },
      ],
      [
        { name: 'hl', type: 'link' as const, linkname: '../../../../etc/passwd' },
      ],
    ]) {
      await d.api('PUT', `/containers/${c}/archive?path=/tmp`, await makeTar(entries));
      assert.equal(existsSync(path.join(hostDir, 'escaped')), false, JSON.stringify(entries));
    }
    const climb = await d.api('PUT', `/containers/${c}/archive?path=/tmp`, await makeTar([{ name: '../../etc/x', body: 'x' }]));
    assert.equal(climb.status, 400);
    // The planted link's target is resolved in the container: the file is at /<hostDir>/escaped inside it.
    const inside = await d.api('HEAD', `/containers/${c}/archive?path=${hostDir}/escaped`);
    assert.equal(inside.status, 200);
    // A path with ".." cannot leave the container root either.
    const up = await d.api('GET', `/containers/${c}/archive?path=/../../../../etc/hostname`);
    assert.ok(up.status === 200 || up.status === 404);
    if (up.status === 200) assert.deepEqual(await tarNames(up.body), ['hostname']);
    await ok(['rm', c]);
  });

  test('hostile: a running container that keeps swapping a directory for a link to a host directory (CVE-2018-15664)', async () => {
    const c = uniqueName('c');
    const hostDir = path.join(d.dir, uniqueName('host'));
    mkdirSync(hostDir);
    const hostSecret = `host-only-${uniqueName('s')}`;
    writeFileSync(path.join(hostDir, 'secret'), hostSecret);
    await ok(['run', '-d', '--name', c, IMAGE, 'sh', '-c', 'mkdir -p /t/d && echo container > /t/d/secret && exec sleep 600']);
    // The container's own file system, flipped from the host as fast as a
    // program inside it could (busybox forks for every mv): /t/d turns into
    // a link to hostDir, a path that exists only on the host, and back.
    const root = `/proc/${await ok(['inspect', '-f', '{{.State.Pid}}', c])}/root`;
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const flipper = new Worker(
      `const fs = require('node:fs');
       const { t, hostDir, stop } = require('node:worker_threads').workerData;
       const attempt = (f) => { try { f(); } catch {} }; // the copy itself may have made or moved /t/d
       while (Atomics.load(stop, 0) === 0) {
         attempt(() => fs.renameSync(t + '/d', t + '/real'));
         attempt(() => fs.symlinkSync(hostDir, t + '/d'));
         attempt(() => fs.unlinkSync(t + '/d'));
         attempt(() => fs.renameSync(t + '/real', t + '/d'));
       }`,
      { eval: true, workerData: { t: path.join(root, 't'), hostDir, stop } },
    );
    const flipped = new Promise((resolve, reject) => flipper.once('exit', resolve).once('error', reject));
    try {
      const many = await makeTar(Array.from({ length: 100 }, (_, i) => ({ name: `d/f${i}`, body: 'from the client' })));
      for (let round = 0; round < 60; round++) {
        const put = await d.api('PUT', `/containers/${c}/archive?path=/t`, many);
        assert.ok([200, 400, 404].includes(put.status), `PUT answered ${put.status}: ${put.body.toString()}`);
        for (const p of ['/t/d/secret', '/t/d']) {
          const get = await d.api('GET', `/containers/${c}/archive?path=${p}`);
          assert.ok([200, 400, 404].includes(get.status), `GET ${p} answered ${get.status}: ${get.body.toString()}`);
          if (get.status === 200) {
            for (const [name, body] of await tarFiles(get.body)) assert.notEqual(body.toString(), hostSecret, `${name} came from the host`);
          }
        }
      }
    } finally {
      Atomics.store(stop, 0, 1);
      await flipped;
    }
    assert.deepEqual(readdirSync(hostDir), ['secret'], 'nothing was written into the host directory');
    await ok(['rm', '-f', c]);
  });

  test('read-only rootfs and read-only volumes refuse writes', async () => {
    const c = uniqueName('c');
    await ok(['create', '--name', c, '--read-only', '-v', `${uniqueName('vol')}:/ro:ro`, IMAGE, 'true']);
    const t = await makeTar([{ name: 'f', body: 'x' }]);
    const a = await d.api('PUT', `/containers/${c}/archive?path=/tmp`, t);
    assert.equal(a.status, 400);
    assert.match(a.json().message, /container rootfs is marked read-only/);
    const b = await d.api('PUT', `/containers/${c}/archive?path=/ro`, t);
    assert.equal(b.status, 400);
    assert.match(b.json().message, /mounted volume is marked read-only/);
    await ok(['rm', '-v', c]);
  });
});

describe('docker export and commit', () => {
  test('export writes the container root file system as a tar', async () => {
    const c = uniqueName('c');
    await ok(['run', '--name', c, IMAGE, 'sh', '-c', 'echo exported > /marker']);
    const r = await d.api('GET', `/containers/${c}/export`);
    assert.equal(r.status, 200);
    const names = await tarNames(r.body);
    assert.ok(names.includes('marker'));
    assert.ok(names.includes('bin/'));
    await ok(['rm', c]);
  });

  test('commit makes an image of the changes, with -m, -a and --change; deletions stay deleted', async () => {
    const c = uniqueName('c');
    await ok(['run', '--name', c, IMAGE, 'sh', '-c', 'echo committed > /new && rm /etc/passwd && mkdir -p /opq && echo keep > /opq/k']);
    const repo = uniqueName('committed');
    const id = await ok(['commit', '-m', 'my message', '-a', 'Ann Author', '--change', 'ENV FOO=bar', '--change', 'CMD ["cat", "/new"]', c, `${repo}:v1`]);
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const img = JSON.parse(await ok(['image', 'inspect', `${repo}:v1`]))[0];
    assert.equal(img.Author, 'Ann Author');
    assert.equal(img.Comment, 'my message');
    assert.ok(img.Config.Env.includes('FOO=bar'));
    assert.equal(await ok(['run', '--rm', `${repo}:v1`]), 'committed');
    const gone = await d.docker(['run', '--rm', `${repo}:v1`, 'cat', '/etc/passwd']);
    assert.notEqual(gone.code, 0);
    const hist = await ok(['history', '--format', '{{.Comment}}', `${repo}:v1`]);
    assert.match(hist.split('\n')[0], /my message/);
    await ok(['rm', c]);
    await ok(['rmi', `${repo}:v1`]);
  });

  test('commit keeps whiteouts, opaque directories, modes, owners, times and hard links; runc\'s mount targets stay out', async () => {
    const c1 = uniqueName('c');
    await ok(['run', '--name', c1, IMAGE, 'sh', '-c', 'mkdir /base && echo x > /base/x && echo y > /base/y && echo gone > /gone']);
    const repo = uniqueName('layered');
    await ok(['commit', c1, `${repo}:1`]);
    const c2 = uniqueName('c');
    const show = 'stat -c "%n %h %u %g %a %Y" /h1 /h2 /dir; ls /base; ls /gone 2>&1 || true';
    const script =
      'rm -rf /base && mkdir /base && echo n > /base/n && rm /gone && ' +
      'echo h > /h1 && ln /h1 /h2 && chown 123:456 /h1 && chmod 4751 /h1 && touch -d "2001-02-03 04:05:06" /h1 && ' +
      'mkdir /dir && chown 7:8 /dir && chmod 1777 /dir && touch -d "2002-03-04 05:06:07" /dir && ' + show;
    const before = await ok(['run', '--name', c2, `${repo}:1`, 'sh', '-c', script]);
    assert.match(before, /^\/h1 2 123 456 4751 \d+$/m);
    assert.match(before, /^n$/m);
    await ok(['commit', c2, `${repo}:2`]);
    // The same view from the committed image: link count, owner, mode and mtime kept; /base opaque; /gone whited out.
    assert.equal(await ok(['run', '--rm', `${repo}:2`, 'sh', '-c', show]), before);
    // The new layer has no /etc/hosts, /etc/hostname or /etc/resolv.conf (runc's empty mount targets).
    const saved = await d.api('GET', `/images/get?names=${encodeURIComponent(`${repo}:2`)}`);
    assert.equal(saved.status, 200);
    const files = await tarFiles(saved.body);
    const manifest = JSON.parse(files.get('manifest.json')!.toString())[0];
    const top = await tarNames(files.get(manifest.Layers[manifest.Layers.length - 1])!);
    assert.ok(top.includes('h1') && top.includes('base/.wh..wh..opq') && top.includes('.wh.gone'), top.join(' '));
    for (const f of ['etc/hosts', 'etc/hostname', 'etc/resolv.conf']) assert.ok(!top.includes(f), `${f} in ${top.join(' ')}`);
    await ok(['rm', c1, c2]);
    await ok(['rmi', `${repo}:2`, `${repo}:1`]);
  });

  test('commit pauses a running container (unless --pause=false) and unpauses it after', async () => {
    const c = uniqueName('c');
    await ok(['run', '-d', '--name', c, IMAGE, 'sh', '-c', 'echo live > /live; exec sleep 600']);
    const since = Math.floor(Date.now() / 1000) - 1;
    const repo = uniqueName('paused');
    await ok(['commit', c, `${repo}:1`]);
    await ok(['commit', '--pause=false', c, `${repo}:2`]);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const events = await ok(['events', '--since', String(since), '--until', String(until), '--filter', `container=${c}`, '--format', '{{.Action}}']);
    // One pause/unpause pair: from the first commit only.
    assert.deepEqual(events.split('\n').filter((a) => /^(pause|unpause|commit)$/.test(a)), ['pause', 'commit', 'unpause', 'commit']);
    assert.equal((await inspectState(c)).Status, 'running');
    assert.equal(await ok(['run', '--rm', `${repo}:1`, 'cat', '/live']), 'live');
    await ok(['rm', '-f', c]);
    await ok(['rmi', `${repo}:1`, `${repo}:2`]);
  });

  test('system df lists images, containers and volumes with their sizes', async () => {
    const vol = uniqueName('vol');
    const c = uniqueName('c');
    await ok(['run', '--name', c, '-v', `${vol}:/v`, IMAGE, 'sh', '-c', 'head -c 100000 /dev/zero > /v/f']);
    const df = (await d.api('GET', '/system/df')).json();
    const v = df.Volumes.find((x: any) => x.Name === vol);
    assert.equal(v.UsageData.Size, 100000);
    assert.equal(v.UsageData.RefCount, 1);
    assert.ok(df.Containers.some((x: any) => x.Names[0] === `/${c}`));
    assert.ok(df.Images.length > 0);
    const text = await ok(['system', 'df', '-v']);
    assert.match(text, new RegExp(vol));
    await ok(['rm', '-v', c]);
    await ok(['volume', 'rm', vol]);
  });
});
