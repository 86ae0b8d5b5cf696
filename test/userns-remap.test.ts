// End to end: a daemon started with --userns-remap. Root in its containers
// is an unprivileged id on the host; images, container layers, volumes and
// archives carry the right owners on each side of the mapping.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IdRange } from '../src/core/id-map.ts';
import { tarEntries } from './helpers/tar.ts';
import { freeRange } from '../src/daemon/userns-remap.ts';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

const USER = `bt${Math.random().toString(36).slice(2, 10)}`;
const SUB_FILES = ['/etc/subuid', '/etc/subgid'];
let range: IdRange;
let d: Daemon | undefined;
let IMAGE: string;

function read(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

before(async () => {
  execFileSync('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', USER]);
  // One range for uids and gids, past everything either file hands out.
  range = freeRange(SUB_FILES.map(read).join('\n'));
  for (const f of SUB_FILES) {
    const text = read(f);
    writeFileSync(f, `${text}${text && !text.endsWith('\n') ? '\n' : ''}${USER}:${range.base}:${range.size}\n`);
  }
  d = await startDaemon({ args: ['--userns-remap', USER] });
  IMAGE = await loadTestImage(d, 'busybox');
});

after(async () => {
  await d?.cleanup();
  for (const f of SUB_FILES) {
    const text = read(f);
    if (text) writeFileSync(f, text.split('\n').filter((l) => !l.startsWith(`${USER}:`)).join('\n'));
  }
  execFileSync('userdel', [USER]);
});

const ok = async (args: string[]): Promise<string> => (await dockerOk(d!, args)).trim();
const hostUid = (id: number) => range.base + id;

async function pidOf(c: string): Promise<number> {
  return Number(await ok(['inspect', '-f', '{{.State.Pid}}', c]));
}

/** name -> uid:gid of a tar's entries. */
async function tarOwners(buf: Buffer): Promise<Map<string, string>> {
  return new Map((await tarEntries(buf)).map((e) => [e.header.name, `${e.header.uid}:${e.header.gid}`]));
}

describe('--userns-remap', () => {
  test('root in a container is the first id of the range on the host; docker info shows the remapping', async () => {
    const info = JSON.parse(await ok(['info', '--format', '{{json .}}'])) as { SecurityOptions: string[]; DockerRootDir: string };
    assert.ok(info.SecurityOptions.includes('name=userns'), JSON.stringify(info.SecurityOptions));
    assert.equal(path.basename(info.DockerRootDir), `${range.base}.${range.base}`);
    const c = uniqueName('c');
    await ok(['run', '-d', '--name', c, IMAGE, 'sleep', '600']);
    const pid = await pidOf(c);
    assert.equal(statSync(`/proc/${pid}`).uid, hostUid(0), 'the container process runs as the range base on the host');
    assert.equal(await ok(['exec', c, 'id', '-u']), '0');
    assert.deepEqual((await ok(['exec', c, 'cat', '/proc/self/uid_map'])).split(/\s+/), ['0', String(range.base), String(range.size)]);
    // Image files: root's inside, the range base's on the host.
    assert.match(await ok(['exec', c, 'stat', '-c', '%u:%g', '/bin/busybox', '/']), /^0:0\n0:0$/);
    assert.equal(statSync(`/proc/${pid}/root/bin/busybox`).uid, hostUid(0));
    // Root in the container may write its root file system and its /etc/hosts.
    await ok(['exec', c, 'sh', '-c', 'touch /new && echo "10.9.9.9 extra" >> /etc/hosts']);
    assert.equal(statSync(`/proc/${pid}/root/new`).uid, hostUid(0));
    await ok(['rm', '-f', c]);
    // Root in the container is nobody special to the host's files: a host root's 0600 file bound in stays unreadable.
    const secret = path.join(d!.dir, uniqueName('secret'));
    writeFileSync(secret, 'host root only\n', { mode: 0o600 });
    const denied = await d!.docker(['run', '--rm', '-v', `${secret}:/secret`, IMAGE, 'cat', '/secret']);
    assert.notEqual(denied.code, 0, 'the host root\'s file must not be readable');
    assert.match(denied.stderr + denied.stdout, /Permission denied/);
  });

  test('named volumes and directories -v makes belong to the container root; data outlives the container', async () => {
    const vol = uniqueName('vol');
    const bindDir = path.join(d!.dir, uniqueName('bind'), 'made');
    const c = uniqueName('c');
    await ok(['run', '--name', c, '-v', `${vol}:/data`, '-v', `${bindDir}:/b`, IMAGE, 'sh', '-c', 'stat -c %u /data /b && echo kept > /data/f && echo b > /b/g']);
    assert.equal(await ok(['logs', c]), '0\n0');
    assert.equal(statSync(bindDir).uid, hostUid(0));
    assert.equal(statSync(path.join(bindDir, 'g')).uid, hostUid(0));
    const mountpoint = await ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', vol]);
    assert.equal(statSync(path.join(mountpoint, 'f')).uid, hostUid(0));
    await ok(['rm', c]);
    assert.equal(await ok(['run', '--rm', '-v', `${vol}:/data`, IMAGE, 'cat', '/data/f']), 'kept');
    await ok(['volume', 'rm', vol]);
  });

  test('docker cp, commit and save carry the container ids; the host has them shifted', async () => {
    const c = uniqueName('c');
    await ok(['run', '-d', '--name', c, IMAGE, 'sh', '-c', 'touch /home/mine && chown 1234:1235 /home/mine && exec sleep 600']);
    const src = path.join(d!.dir, uniqueName('in'));
    writeFileSync(src, 'from the host\n');
    chownSync(src, 4321, 4322);
    await ok(['cp', '-a', src, `${c}:/tmp/kept`]);
    await ok(['cp', src, `${c}:/tmp/root`]);
    assert.equal(await ok(['exec', c, 'stat', '-c', '%u:%g', '/tmp/kept', '/tmp/root']), '4321:4322\n0:0');
    const pid = await pidOf(c);
    const onHost = statSync(`/proc/${pid}/root/tmp/kept`);
    assert.deepEqual([onHost.uid, onHost.gid], [hostUid(4321), range.base + 4322]);
    // Out: the archive names the container's ids.
    await ok(['exec', c, 'sh', '-c', 'while [ ! -e /home/mine ]; do sleep 0.1; done']);
    const out = await d!.api('GET', `/containers/${c}/archive?path=/home/mine`);
    assert.equal((await tarOwners(out.body)).get('mine'), '1234:1235');
    // Commit: the layer holds container ids, so the image runs the same anywhere.
    const img = uniqueName('img');
    await ok(['commit', c, img]);
    const saved = await d!.api('GET', `/images/get?names=${img}`);
    assert.equal(saved.status, 200);
    const owners = new Map<string, string>();
    for (const { header, body } of await tarEntries(saved.body)) {
      if (header.name.startsWith('blobs/sha256/') && body.length > 1024 && body.subarray(257, 262).toString() === 'ustar') {
        for (const [k, v] of await tarOwners(body)) owners.set(k, v);
      }
    }
    assert.equal(owners.get('tmp/kept'), '4321:4322', `layer entries: ${JSON.stringify([...owners])}`);
    assert.equal(owners.get('home/mine'), '1234:1235');
    assert.equal(await ok(['run', '--rm', img, 'stat', '-c', '%u:%g', '/tmp/kept', '/home/mine']), '4321:4322\n1234:1235');
    await ok(['rm', '-f', c]);
    await ok(['rmi', img]);
  });

  test('a build: RUN chown and COPY --chown give the container ids', async () => {
    const ctx = path.join(d!.dir, uniqueName('ctx'));
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'f'), 'x\n');
    writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${IMAGE}\nRUN touch /made && chown 2000:2001 /made\nCOPY --chown=3000:3001 f /copied\nCOPY f /plain\n`);
    const img = uniqueName('built');
    const r = await d!.docker(['build', '-q', '-t', img, ctx], { env: { DOCKER_BUILDKIT: '0' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await ok(['run', '--rm', img, 'stat', '-c', '%u:%g', '/made', '/copied', '/plain']), '2000:2001\n3000:3001\n0:0');
    await ok(['rmi', img]);
  });

  test('privileged, host network and host PID need --userns=host; with it the container is not mapped', async () => {
    for (const [flag, message] of [
      ['--privileged', /privileged mode is incompatible with user namespaces/],
      ['--network=host', /cannot share the host's network namespace/],
      ['--pid=host', /cannot share the host PID namespace/],
    ] as const) {
      const r = await d!.docker(['run', '--rm', flag, IMAGE, 'true']);
      assert.notEqual(r.code, 0, `${flag} must be refused`);
      assert.match(r.stderr, message);
    }
    const unmapped = await ok(['run', '--rm', '--userns=host', '--privileged', IMAGE, 'cat', '/proc/self/uid_map']);
    assert.deepEqual(unmapped.split(/\s+/), ['0', '0', '4294967295']);
  });

  test('containers on a user network reach each other by name; removing them leaves no namespaces', async () => {
    const net = uniqueName('net');
    const web = uniqueName('web');
    await ok(['network', 'create', net]);
    await ok(['run', '-d', '--name', web, '--network', net, IMAGE, 'sh', '-c', 'mkdir /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www']);
    const got = await ok(['run', '--rm', '--network', net, IMAGE, 'sh', '-c', `for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://${web}/ && exit 0; sleep 0.2; done; exit 1`]);
    assert.equal(got, 'hello');
    await ok(['rm', '-f', web]);
    await ok(['network', 'rm', net]);
    const leftovers = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(`${d!.networkTag}-`)) : []);
    // Namespaces go in the background after rm: give them a moment.
    for (let i = 0; i < 50 && leftovers('/run/netns').length + leftovers('/run/berth-userns').length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(leftovers('/run/netns'), []);
    assert.deepEqual(leftovers('/run/berth-userns'), []);
  });
});
