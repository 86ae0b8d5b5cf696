// End to end: hostile input. Malformed JSON, wrong types, unknown fields,
// huge bodies, names outside Docker's rules, and tar streams that try to
// escape (traversal, symlinks, hard links), carry device nodes, duplicate
// entries or inflate like bombs, sent to load, import, build and cp. The
// daemon must answer 4xx with a clear message, keep running, keep its memory
// bounded, and write nothing outside its data root.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';
import { dockerArchive, makeTar, type TarEntry } from '../src/image/test-support.ts';

const MiB = 1 << 20;
const CAP = 256 * MiB; // the daemon's --max-decompressed-size for this file

let d: Daemon;
let IMAGE: string;
let outside: string; // a directory beside the data root: nothing may appear in it
let absTarget: string; // an absolute host path that escapes would aim at

before(async () => {
  d = await startDaemon({ args: ['--max-decompressed-size', String(CAP)] });
  IMAGE = await loadTestImage(d, 'busybox');
  outside = path.join(d.dir, 'outside');
  mkdirSync(outside);
  absTarget = path.join('/tmp', uniqueName('berth-escape'));
});
after(async () => {
  // Checked last, across every test of the file.
  assert.deepEqual(readdirSync(outside), [], 'nothing written beside the data root');
  assert.equal(existsSync(absTarget), false, `${absTarget} must not exist`);
  await d?.cleanup();
});

/** The daemon still answers and is the same process. */
async function alive(pid: number | undefined): Promise<void> {
  assert.equal(d.pid, pid, 'the daemon process is the same one');
  const r = await d.api('GET', '/_ping');
  assert.equal(r.status, 200);
}

function assertClientError(r: { status: number; text(): string }, message: RegExp, what: string): void {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: want 4xx, got ${r.status} ${r.text()}`);
  const body = JSON.parse(r.text()) as { message?: string };
  assert.match(body.message ?? '', message, what);
}

function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

/**
 * Sends `total` bytes as the body of one request over a raw socket (the same
 * 1 MiB buffer again and again: the client holds no more than that) and
 * returns the response head as soon as it comes, without sending the rest.
 */
function hugeRequest(method: string, urlPath: string, total: number, contentType: string, chunk: Buffer): Promise<{ status: number; raw: string; sent: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(d.socket);
    let sent = 0;
    let raw = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      s.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
      if (!m) return reject(new Error(`no HTTP answer after ${sent} bytes: ${JSON.stringify(raw.slice(0, 200))}`));
      resolve({ status: Number(m[1]), raw, sent });
    };
    s.on('data', (b) => {
      raw += b.toString('latin1');
      // Head and (small) body are in: stop.
      if (/\r\n\r\n[\s\S]*\n$/.test(raw) || /\r\n0\r\n\r\n$/.test(raw)) finish();
    });
    s.on('error', () => finish());
    s.on('close', () => finish());
    s.on('connect', () => {
      s.write(`${method} ${urlPath} HTTP/1.1\r\nHost: berth\r\nContent-Type: ${contentType}\r\nContent-Length: ${total}\r\n\r\n`);
      const pump = () => {
        while (!done && sent < total) {
          const piece = total - sent >= chunk.length ? chunk : chunk.subarray(0, total - sent);
          sent += piece.length;
          if (!s.write(piece)) return void s.once('drain', pump);
        }
      };
      pump();
    });
  });
}

describe('JSON bodies', () => {
  test('malformed and truncated JSON is a 400 naming the problem, on every JSON endpoint', async () => {
    const pid = d.pid;
    const full = JSON.stringify({ Image: IMAGE, Cmd: ['true'], HostConfig: { Memory: 1 << 26 } });
    const bodies = ['{', '{"Image": ', full.slice(0, full.length - 3), '{"Image": "x",}', "{'Image': 'x'}", '\u0000\u0001\u0002', 'null garbage', '[1,2', '{"a":1}{"b":2}'];
    for (const ep of ['/containers/create', '/networks/create', '/volumes/create', '/exec/x/start', '/commit?container=x']) {
      for (const b of bodies) {
        const r = await d.api('POST', ep, b, { headers: { 'Content-Type': 'application/json' } });
        // /exec/x/start and /commit may find the unknown id first: that is a clean 404.
        assert.ok(r.status >= 400 && r.status < 500, `${ep} ${JSON.stringify(b)}: got ${r.status} ${r.text()}`);
        assert.ok(typeof r.json().message === 'string' && r.json().message.length > 0, `${ep}: a message`);
        if (ep === '/containers/create' || ep === '/volumes/create') assert.match(r.json().message, /JSON|must be|invalid/i, `${ep} ${JSON.stringify(b)}`);
      }
    }
    await alive(pid);
  });

  test('wrong types are 400s naming the field; nothing is created', async () => {
    const name = uniqueName();
    const cases: [string, unknown, RegExp][] = [
      ['/containers/create', { Image: IMAGE, Cmd: 5 }, /Cmd/],
      ['/containers/create', { Image: IMAGE, Env: 'A=1' }, /Env/],
      ['/containers/create', { Image: IMAGE, HostConfig: 'privileged' }, /HostConfig/],
      ['/containers/create', { Image: IMAGE, HostConfig: { Memory: 'lots' } }, /Memory/],
      ['/containers/create', { Image: IMAGE, HostConfig: { Binds: [1, 2] } }, /Binds/],
      ['/containers/create', { Image: 42 }, /Image/],
      ['/containers/create', [IMAGE], /object/],
      ['/containers/create', 'just a string', /object|JSON/],
      ['/networks/create', { Name: 5 }, /Name|name/],
      ['/networks/create', { Name: name, Labels: 'x' }, /Labels|label/i],
      ['/volumes/create', { Name: ['v'] }, /Name|name/],
      ['/volumes/create', { Name: name, Labels: [1] }, /Labels|label/i],
    ];
    for (const [ep, body, message] of cases) {
      const r = await d.api('POST', `${ep}${ep === '/containers/create' ? `?name=${name}` : ''}`, body);
      assertClientError(r, message, `${ep} ${JSON.stringify(body)}`);
    }
    assert.equal((await d.api('GET', `/containers/${name}/json`)).status, 404);
    assert.equal((await d.api('GET', `/networks/${name}`)).status, 404);
    assert.equal((await d.api('GET', `/volumes/${name}`)).status, 404);
  });

  test('unknown fields are ignored, as Docker does', async () => {
    const name = uniqueName();
    const r = await d.api('POST', `/containers/create?name=${name}`, {
      Image: IMAGE,
      Cmd: ['true'],
      NoSuchField: { deep: [1, 2, 3] },
      HostConfig: { AlsoUnknown: true, Memory: 64 * MiB },
    });
    assert.equal(r.status, 201, r.text());
    const c = (await d.api('GET', `/containers/${name}/json`)).json();
    assert.equal(c.HostConfig.Memory, 64 * MiB);
    assert.equal((await d.api('DELETE', `/containers/${name}`)).status, 204);
    const v = uniqueName();
    assert.equal((await d.api('POST', '/volumes/create', { Name: v, Whatever: 1 })).status, 201);
    assert.equal((await d.api('DELETE', `/volumes/${v}`)).status, 204);
  });

  test('a JSON body of hundreds of MB is refused with 413 while it streams in; daemon memory stays bounded', async () => {
    const pid = d.pid!;
    const chunk = Buffer.alloc(MiB, 0x20); // valid JSON whitespace, forever
    chunk[0] = 0x5b; // '['
    const hwmBefore = rssKiB(pid, 'VmHWM');
    for (const ep of ['/containers/create', '/networks/create', '/volumes/create']) {
      const r = await hugeRequest('POST', ep, 400 * MiB, 'application/json', chunk);
      assert.equal(r.status, 413, `${ep}: ${r.raw.slice(0, 300)}`);
      assert.match(r.raw, /larger than \d+ bytes/);
      assert.ok(r.sent < 400 * MiB, `${ep}: the daemon answered before the whole body came (sent ${r.sent})`);
    }
    const grown = rssKiB(pid, 'VmHWM') - hwmBefore;
    assert.ok(grown < 96 * 1024, `peak RSS grew by ${grown} KiB while 3 x 400 MB bodies came in`);
    await alive(pid);
  });
});

describe('names outside Docker rules', () => {
  test('container, image, volume and network names are refused with 400', async () => {
    const pid = d.pid;
    for (const bad of ['a', '-dash', '.dot', 'sp ace', 'a/b', '../../etc', 'ünï', 'x'.repeat(300) + '$', '']) {
      if (bad === '') continue;
      const r = await d.api('POST', `/containers/create?name=${encodeURIComponent(bad)}`, { Image: IMAGE, Cmd: ['true'] });
      if (bad === 'a') {
        // One character is valid for Docker ([a-zA-Z0-9][a-zA-Z0-9_.-]*... the CLI's rule is "+", the daemon's "*").
        if (r.status === 201) assert.equal((await d.api('DELETE', '/containers/a?force=1')).status, 204);
        continue;
      }
      assertClientError(r, /Invalid container name|invalid/i, `container name ${JSON.stringify(bad)}`);
    }
    for (const bad of ['library/UPPER', 'a//b', ':::', 'x:', 'repo:tag:tag', '-lead', 'a@sha256:zz']) {
      const r = await d.api('POST', `/images/${encodeURIComponent(IMAGE)}/tag?repo=${encodeURIComponent(bad)}&tag=t`);
      assertClientError(r, /invalid|reference/i, `image reference ${JSON.stringify(bad)}`);
    }
    for (const badTag of ['-x', 'a'.repeat(129), 'with space', '../x']) {
      const r = await d.api('POST', `/images/${encodeURIComponent(IMAGE)}/tag?repo=ok&tag=${encodeURIComponent(badTag)}`);
      assertClientError(r, /invalid|reference|tag/i, `tag ${JSON.stringify(badTag)}`);
    }
    for (const bad of ['../../outside', '/abs', 'a', '.hidden', 'sp ace', 'x/y']) {
      const r = await d.api('POST', '/volumes/create', { Name: bad });
      assertClientError(r, /invalid characters|invalid/i, `volume name ${JSON.stringify(bad)}`);
    }
    // Docker puts no character rule on network names, but an empty one is refused and none reaches a path.
    const empty = await d.api('POST', '/networks/create', { Name: '' });
    assertClientError(empty, /name/i, 'empty network name');
    // A bind or volume mount named like a traversal stays a client error too.
    const r = await d.api('POST', '/containers/create', { Image: IMAGE, HostConfig: { Binds: ['../../outside:/x'] } });
    assertClientError(r, /invalid|volume name|absolute/i, 'bind of a relative traversal');
    await alive(pid);
  });
});

/** A tar whose single file claims `size` bytes of zeros, gzip-compressed as repeated members (~1000:1). */
function gzipBomb(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'latin1');
  header.write('0000644\0', 100, 'latin1');
  header.write('0000000\0', 108, 'latin1');
  header.write('0000000\0', 116, 'latin1');
  // Sizes beyond 8 GiB need base-256: first byte 0x80, value big-endian.
  header[124] = 0x80;
  header.writeBigUInt64BE(BigInt(size), 124 + 4);
  header.write('14700000000\0', 136, 'latin1');
  header.write('        ', 148, 'latin1');
  header.write('0', 156, 'latin1');
  header.write('ustar\u000000', 257, 'latin1');
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  const zeros = gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
  const parts = [gzipSync(header)];
  for (let n = 0; n < Math.ceil(size / (64 * MiB)); n++) parts.push(zeros);
  return Buffer.concat(parts);
}

async function evilLayers(): Promise<[string, Buffer][]> {
  return [
    ['path traversal', await makeTar([{ name: `../../../../../../../../${absTarget.slice(1)}`, data: 'x' }])],
    ['an absolute path', await makeTar([{ name: `${outside}/abs`, data: 'x' }])],
    // The PAX record overrides the harmless USTAR name (readers must apply it before checking).
    ['path traversal in a PAX path record', await makeTar([{ name: 'harmless', data: 'x', pax: { path: `../../../../../../../../${absTarget.slice(1)}` } }])],
    [
      'a symlink escape',
      await makeTar([
        { name: 'l', type: 'symlink', linkname: outside },
        { name: 'l/pwned', data: 'x' },
      ]),
    ],
    ['a hard-link escape', await makeTar([{ name: 'h', type: 'link', linkname: '../../../../../../../../etc/passwd' }])],
    ['a hard link to an absolute host file', await makeTar([{ name: 'h', type: 'link', linkname: '/etc/shadow' }])],
  ];
}

describe('tar streams', () => {
  test('docker load refuses escapes in layers and in the archive itself; nothing is stored', async () => {
    const pid = d.pid;
    const before = (await d.api('GET', '/images/json?all=1')).json().length;
    const good = await makeTar([{ name: 'ok', data: 'fine' }]);
    for (const [what, layer] of await evilLayers()) {
      const archive = await dockerArchive([{ tags: [`${uniqueName('evil')}:1`], layers: [good, layer] }]);
      const r = await d.docker(['load'], { input: archive });
      assert.notEqual(r.code, 0, `${what}: load must fail`);
      assert.match(r.stderr, /invalid|outside|not a file|\.\./, `${what}: ${r.stderr}`);
    }
    for (const entries of [
      [{ name: '../manifest.json', data: '[]' }],
      [{ name: 'manifest.json', type: 'symlink' as const, linkname: '../../../../etc/hostname' }],
    ] as TarEntry[][]) {
      const r = await d.docker(['load'], { input: await makeTar(entries) });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /invalid archive/);
    }
    assert.equal((await d.api('GET', '/images/json?all=1')).json().length, before);
    await alive(pid);
  });

  test('device nodes in a layer stay unusable inside the container (device cgroup)', async () => {
    const tag = `${uniqueName('devs')}:1`;
    const layer = await makeTar([
      { name: 'mem', type: 'character-device', devmajor: 1, devminor: 1, mode: 0o666 },
      { name: 'disk', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o666 },
    ]);
    // Docker accepts device nodes in layers (they are files of the image); the cgroup is what guards them.
    const archive = await dockerArchive([{ tags: [tag], layers: [layer] }]);
    const l = await d.docker(['load'], { input: archive });
    assert.equal(l.code, 0, l.stderr);
    const name = uniqueName();
    // The device-only image has no shell: copy the same nodes into a busybox container.
    const c = await d.docker(['create', '--name', name, IMAGE, 'sh', '-c', 'head -c1 /mem; echo rc=$?; head -c1 /disk; echo rc=$?']);
    assert.equal(c.code, 0, c.stderr);
    const put = await d.api('PUT', `/containers/${name}/archive?path=/`, layer, { headers: { 'Content-Type': 'application/x-tar' } });
    assert.equal(put.status, 200, put.text());
    const r = await d.docker(['start', '-a', name]);
    assert.match(r.stdout + r.stderr, /Operation not permitted/);
    assert.doesNotMatch(r.stdout, /rc=0/);
    await d.docker(['rm', '-f', name]);
    await d.docker(['rmi', tag]);
  });

  test('docker import refuses escapes and duplicated entries stay confined', async () => {
    const pid = d.pid;
    for (const [what, layer] of await evilLayers()) {
      const r = await d.api('POST', `/images/create?fromSrc=-&repo=${uniqueName('imp')}`, layer, { headers: { 'Content-Type': 'application/x-tar' } });
      assertClientError(r, /invalid|outside|not a file|\.\./, `import with ${what}`);
    }
    // Duplicates: the last entry wins, as in Docker, and nothing breaks.
    const dup = await makeTar([
      { name: 'f', data: 'one' },
      { name: 'f', data: 'two' },
      { name: 'd/', type: 'directory' },
      { name: 'd', data: 'file replaces dir' },
      { name: 'f', type: 'symlink', linkname: outside },
    ]);
    const repo = uniqueName('dup');
    const r = await d.api('POST', `/images/create?fromSrc=-&repo=${repo}`, dup, { headers: { 'Content-Type': 'application/x-tar' } });
    assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `duplicates: ${r.status} ${r.text()}`);
    if (r.status === 200) assert.equal((await d.api('DELETE', `/images/${repo}`)).status, 200);
    await alive(pid);
  });

  test('docker build refuses a context with escapes', async () => {
    const pid = d.pid;
    for (const [what, layer] of await evilLayers()) {
      // A Dockerfile plus the hostile entries, in one context tar.
      const entries: TarEntry[] = [{ name: 'Dockerfile', data: `FROM ${IMAGE}\nCOPY . /ctx\n` }];
      const ctxTar = Buffer.concat([(await makeTar(entries)).subarray(0, 1024), layer]);
      const r = await d.api('POST', `/build?t=${uniqueName('b')}`, ctxTar, { headers: { 'Content-Type': 'application/x-tar' } });
      assert.ok(r.status < 500, `${what}: ${r.status}`);
      const lines = r.text().trim().split('\n').map((l) => JSON.parse(l) as { error?: string });
      const err = lines.find((l) => l.error)?.error ?? (r.status >= 400 ? JSON.parse(r.text()).message : undefined);
      assert.ok(err, `build with ${what} must fail: ${r.text().slice(0, 300)}`);
      assert.match(err, /invalid|outside|not a file|\.\.|build context/i, what);
    }
    await alive(pid);
  });

  test('docker cp into a container keeps every entry inside the container', async () => {
    const pid = d.pid;
    const name = uniqueName();
    assert.equal((await d.docker(['create', '--name', name, IMAGE, 'true'])).code, 0);
    for (const [what, layer] of await evilLayers()) {
      const r = await d.api('PUT', `/containers/${name}/archive?path=/`, layer, { headers: { 'Content-Type': 'application/x-tar' } });
      assert.ok(r.status < 500, `cp with ${what}: ${r.status} ${r.text()}`);
      if (r.status !== 200) assert.ok(r.json().message, `cp with ${what}: a message`);
    }
    // A symlink already in the container pointing at the host's /tmp: writes through it land in the container.
    const plant = await makeTar([{ name: 'hostlink', type: 'symlink', linkname: path.dirname(absTarget) }]);
    assert.equal((await d.api('PUT', `/containers/${name}/archive?path=/`, plant, { headers: { 'Content-Type': 'application/x-tar' } })).status, 200);
    const through = await makeTar([{ name: path.basename(absTarget), data: 'x' }]);
    const r = await d.api('PUT', `/containers/${name}/archive?path=/hostlink`, through, { headers: { 'Content-Type': 'application/x-tar' } });
    assert.ok(r.status < 500, `cp through a planted symlink: ${r.status} ${r.text()}`);
    await d.docker(['rm', '-f', name]);
    await alive(pid);
  });

  test('gzip bombs stop at the limit with a clear error, for load, import and build; nothing stays staged', async () => {
    const pid = d.pid!;
    const bomb = gzipBomb('layer.tar', 8 * 1024 * MiB); // ~8 MB that inflates to 8 GiB
    assert.ok(bomb.length < 16 * MiB);
    const imageDirSize = () => du(path.join(d.dataRoot, 'image'));
    const before = imageDirSize();
    const load = await d.docker(['load'], { input: bomb, timeoutMs: 120_000 });
    assert.notEqual(load.code, 0);
    assert.match(load.stderr, /exceeds the limit of \d+ bytes.*compression bomb/);
    const imp = await d.api('POST', `/images/create?fromSrc=-&repo=${uniqueName('bomb')}`, bomb, { headers: { 'Content-Type': 'application/x-tar' } });
    assertClientError(imp, /exceeds the limit.*compression bomb/, 'import of a bomb');
    const build = await d.api('POST', `/build?t=${uniqueName('bomb')}`, bomb, { headers: { 'Content-Type': 'application/x-tar' } });
    assert.match(build.text(), /exceeds the limit.*compression bomb/);
    // A bomb as a layer inside a normal-looking archive.
    const inner = gzipBomb('x', 2 * 1024 * MiB);
    const archive = await makeTar([
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['bomb:1'], Layers: ['l.tar'] }]) },
      { name: 'c.json', data: JSON.stringify({ rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } }) },
      { name: 'l.tar', data: inner },
    ]);
    const l2 = await d.docker(['load'], { input: archive, timeoutMs: 120_000 });
    assert.notEqual(l2.code, 0);
    assert.match(l2.stderr, /exceeds the limit.*compression bomb/);
    assert.ok(imageDirSize() - before < 16 * MiB, 'staging is cleaned up after a refused bomb');
    await alive(pid);
  });
});

function du(dir: string): number {
  let total = 0;
  const walk = (p: string) => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const q = path.join(p, e.name);
      if (e.isDirectory()) walk(q);
      else if (e.isFile()) total += statSync(q).size;
    }
  };
  if (existsSync(dir)) walk(dir);
  return total;
}
