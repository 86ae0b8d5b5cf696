// End to end: volumes and mounts through the real docker CLI.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let IMAGE: string;

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

const ok = async (args: string[], input?: string): Promise<string> => (await dockerOk(d, args, { input })).trim();

async function inspect(kind: 'container' | 'volume', name: string): Promise<any> {
  return JSON.parse(await ok([kind, 'inspect', name]))[0];
}

describe('docker volume', () => {
  test('create, inspect, ls with filters, rm', async () => {
    const a = uniqueName('vol');
    const b = uniqueName('vol');
    assert.equal(await ok(['volume', 'create', '--label', 'team=blue', '--label', 'tier', a]), a);
    assert.equal(await ok(['volume', 'create', b]), b);
    const v = await inspect('volume', a);
    assert.equal(v.Name, a);
    assert.equal(v.Driver, 'local');
    assert.deepEqual(v.Labels, { team: 'blue', tier: '' });
    assert.equal(v.Mountpoint, path.join(d.dataRoot, 'volumes', a, '_data'));
    assert.ok(statSync(v.Mountpoint).isDirectory());
    // Creating again is idempotent.
    assert.equal(await ok(['volume', 'create', a]), a);

    const names = (args: string[]) => ok(['volume', 'ls', '-q', ...args]).then((o) => o.split('\n').filter(Boolean));
    assert.deepEqual(await names(['--filter', 'label=team=blue']), [a]);
    assert.deepEqual(await names(['--filter', `name=${b}`]), [b]);
    assert.ok((await names(['--filter', 'driver=local'])).includes(a));
    assert.ok((await names(['--filter', 'dangling=true'])).includes(b));

    await ok(['volume', 'rm', a, b]);
    assert.equal(existsSync(v.Mountpoint), false);
    const missing = await d.docker(['volume', 'inspect', a]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no such volume/);
    // -f ignores a missing volume.
    await ok(['volume', 'rm', '-f', a]);
  });

  test('invalid names and unknown driver options are refused with 400', async () => {
    const r = await d.api('POST', '/volumes/create', { Name: 'bad name!' });
    assert.equal(r.status, 400);
    assert.match(r.json().message, /includes invalid characters for a local volume name/);
    const o = await d.api('POST', '/volumes/create', { Name: uniqueName('vol'), DriverOpts: { nonsense: 'x' } });
    assert.equal(o.status, 400);
    assert.match(o.json().message, /invalid option key: "nonsense"/);
    const drv = await d.api('POST', '/volumes/create', { Name: uniqueName('vol'), Driver: 'flocker' });
    assert.equal(drv.status, 404);
  });

  test('data in a named volume survives container removal and a daemon restart; two containers share it', async () => {
    const vol = uniqueName('vol');
    await ok(['run', '--rm', '-v', `${vol}:/data`, IMAGE, 'sh', '-c', 'echo kept > /data/file']);
    const c1 = uniqueName('c');
    await ok(['run', '-d', '--name', c1, '-v', `${vol}:/shared`, IMAGE, 'sh', '-c', 'echo from-c1 > /shared/c1; sleep 60']);
    assert.equal(await ok(['run', '--rm', '-v', `${vol}:/x:ro`, IMAGE, 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do [ -f /x/c1 ] && break; sleep 0.2; done; cat /x/file /x/c1']), 'kept\nfrom-c1');
    await ok(['rm', '-f', c1]);
    await d.restart();
    assert.equal(await ok(['run', '--rm', '-v', `${vol}:/data`, IMAGE, 'cat', '/data/file']), 'kept');
    await ok(['volume', 'rm', vol]);
  });

  test('removing a volume in use is a 409 and keeps its data', async () => {
    const vol = uniqueName('vol');
    const c = uniqueName('c');
    await ok(['create', '--name', c, '-v', `${vol}:/data`, IMAGE, 'true']);
    const mp = (await inspect('volume', vol)).Mountpoint;
    writeFileSync(path.join(mp, 'precious'), 'yes');
    const r = await d.api('DELETE', `/volumes/${vol}`);
    assert.equal(r.status, 409);
    assert.match(r.json().message, /volume is in use/);
    const forced = await d.docker(['volume', 'rm', '-f', vol]);
    assert.notEqual(forced.code, 0);
    assert.equal(readFileSync(path.join(mp, 'precious'), 'utf8'), 'yes');
    await ok(['rm', c]);
    await ok(['volume', 'rm', vol]);
  });

  test('prune removes unused anonymous volumes, and named ones with --all', async () => {
    const named = uniqueName('vol');
    const label = uniqueName('prune');
    await ok(['volume', 'create', '--label', label, named]);
    const c = uniqueName('c');
    await ok(['create', '--name', c, '-v', '/anon', IMAGE, 'true']);
    const anon = (await inspect('container', c)).Mounts[0].Name;
    await ok(['rm', c]); // without -v: the anonymous volume stays
    await ok(['volume', 'inspect', anon]);
    const out = JSON.parse((await d.api('POST', '/volumes/prune')).text());
    assert.ok(out.VolumesDeleted.includes(anon));
    assert.ok(!out.VolumesDeleted.includes(named));
    await ok(['volume', 'prune', '-f', '--all', '--filter', `label=${label}`]);
    assert.notEqual((await d.docker(['volume', 'inspect', named])).code, 0);
  });
});

describe('mounts', () => {
  test('-v creates a missing host directory, --mount type=bind refuses one; ro binds are read-only', async () => {
    const host = path.join(d.dir, uniqueName('bind'));
    await ok(['run', '--rm', '-v', `${host}:/b`, IMAGE, 'sh', '-c', 'echo hi > /b/f']);
    assert.equal(readFileSync(path.join(host, 'f'), 'utf8'), 'hi\n');
    const missing = path.join(d.dir, uniqueName('nope'));
    const r = await d.docker(['run', '--rm', '--mount', `type=bind,source=${missing},target=/b`, IMAGE, 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bind source path does not exist/);
    assert.equal(existsSync(missing), false);
    const ro = await d.docker(['run', '--rm', '--mount', `type=bind,source=${host},target=/b,readonly`, IMAGE, 'sh', '-c', 'cat /b/f && touch /b/g']);
    assert.equal(ro.stdout, 'hi\n');
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    assert.equal(existsSync(path.join(host, 'g')), false);
  });

  test('inspect shows Mounts for binds, named and anonymous volumes and tmpfs', async () => {
    const host = path.join(d.dir, uniqueName('bind'));
    mkdirSync(host);
    const vol = uniqueName('vol');
    const c = uniqueName('c');
    await ok(['create', '--name', c, '-v', `${host}:/h:ro`, '-v', `${vol}:/named`, '-v', '/anon', '--tmpfs', '/t', IMAGE, 'true']);
    const mounts = (await inspect('container', c)).Mounts;
    const by = (dst: string) => mounts.find((m: any) => m.Destination === dst);
    assert.deepEqual(by('/h'), { Type: 'bind', Source: host, Destination: '/h', Mode: 'ro', RW: false, Propagation: 'rprivate' });
    assert.equal(by('/named').Type, 'volume');
    assert.equal(by('/named').Name, vol);
    assert.equal(by('/named').Source, path.join(d.dataRoot, 'volumes', vol, '_data'));
    assert.equal(by('/named').RW, true);
    assert.match(by('/anon').Name, /^[0-9a-f]{64}$/);
    assert.equal(by('/t').Type, 'tmpfs');
    const anon = by('/anon').Name;
    await ok(['rm', '-v', c]);
    // rm -v takes the anonymous volume, the named one stays.
    assert.notEqual((await d.docker(['volume', 'inspect', anon])).code, 0);
    await ok(['volume', 'inspect', vol]);
    await ok(['volume', 'rm', vol]);
  });

  test('an empty volume gets the image content at its path, unless nocopy', async () => {
    const vol = uniqueName('vol');
    // /etc of the busybox image holds passwd.
    assert.match(await ok(['run', '--rm', '-v', `${vol}:/etc`, IMAGE, 'cat', '/etc/passwd']), /root/);
    assert.ok(existsSync(path.join((await inspect('volume', vol)).Mountpoint, 'passwd')));
    const empty = uniqueName('vol');
    const out = await ok(['run', '--rm', '--mount', `type=volume,source=${empty},target=/etc,volume-nocopy`, IMAGE, 'ls', '-A', '/etc']);
    // Only what the runtime itself mounts there (hostname, hosts, resolv.conf).
    assert.ok(!out.split('\n').includes('passwd'), out);
    await ok(['volume', 'rm', vol, empty]);
  });

  test('--tmpfs and --mount type=tmpfs with size and mode', async () => {
    const out = await ok([
      'run', '--rm', '--tmpfs', '/t1:size=1m', '--mount', 'type=tmpfs,target=/t2,tmpfs-size=2097152,tmpfs-mode=1770',
      IMAGE, 'sh', '-c', "grep -E ' /t[12] ' /proc/mounts; stat -c '%a' /t2",
    ]);
    assert.match(out, /^tmpfs \/t1 tmpfs .*size=1024k/m);
    assert.match(out, /^tmpfs \/t2 tmpfs .*size=2048k/m);
    assert.match(out, /^1770$/m);
  });

  test('--volumes-from shares the mounts of another container, read-only with :ro', async () => {
    const src = uniqueName('c');
    await ok(['create', '--name', src, '-v', '/shared', IMAGE, 'true']);
    await ok(['run', '--rm', '--volumes-from', src, IMAGE, 'sh', '-c', 'echo via-from > /shared/f']);
    assert.equal(await ok(['run', '--rm', '--volumes-from', `${src}:ro`, IMAGE, 'cat', '/shared/f']), 'via-from');
    const ro = await d.docker(['run', '--rm', '--volumes-from', `${src}:ro`, IMAGE, 'touch', '/shared/g']);
    assert.notEqual(ro.code, 0);
    await ok(['rm', '-v', src]);
  });

  test('local driver options: a tmpfs volume and a bind volume', async () => {
    const t = uniqueName('vol');
    await ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m', t]);
    assert.match(await ok(['run', '--rm', '-v', `${t}:/v`, IMAGE, 'sh', '-c', "grep ' /v ' /proc/mounts"]), /tmpfs \/v tmpfs .*size=1024k/);
    const host = path.join(d.dir, uniqueName('dev'));
    mkdirSync(host);
    writeFileSync(path.join(host, 'hello'), 'from host');
    const b = uniqueName('vol');
    await ok(['volume', 'create', '-o', 'type=none', '-o', `device=${host}`, '-o', 'o=bind', b]);
    assert.equal(await ok(['run', '--rm', '-v', `${b}:/v`, IMAGE, 'cat', '/v/hello']), 'from host');
    await ok(['volume', 'rm', t, b]);
    // Removing the bind volume unmounts it and leaves the host directory alone.
    assert.equal(readFileSync(path.join(host, 'hello'), 'utf8'), 'from host');
  });

  test('bad -v and --mount specifications are 400s that create nothing', async () => {
    const before = await ok(['ps', '-aq']);
    const volumesBefore = await ok(['volume', 'ls', '-q']);
    for (const [args, msg] of [
      [['-v', 'relative:path'], /invalid|mount path must be absolute/],
      [['-v', '/a:/b:bogus'], /invalid mode: bogus/],
      [['-v', '/a:/x', '-v', '/b:/x'], /Duplicate mount point: \/x/],
      [['--mount', 'type=tmpfs,source=x,target=/t'], /Source must not be specified/],
    ] as const) {
      const r = await d.docker(['create', ...args, '-v', '/anon', IMAGE, 'true']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, msg);
    }
    assert.equal(await ok(['ps', '-aq']), before);
    assert.equal(await ok(['volume', 'ls', '-q']), volumesBefore);
  });
});

describe('docker system prune', () => {
  test('removes stopped containers, unused networks, dangling images; -a --volumes also unused images and anonymous volumes', async () => {
    const running = uniqueName('keep');
    const used = uniqueName('net');
    const unused = uniqueName('net');
    await ok(['network', 'create', used]);
    await ok(['network', 'create', unused]);
    await ok(['run', '-d', '--name', running, '--network', used, IMAGE, 'sleep', '600']);
    const stopped = uniqueName('gone');
    await ok(['run', '--name', stopped, '-v', '/anon', IMAGE, 'sh', '-c', 'echo x > /x']);
    const anon = (await inspect('container', stopped)).Mounts[0].Name;
    const named = uniqueName('vol');
    await ok(['volume', 'create', named]);
    const dangling = await ok(['commit', stopped]);
    const tagged = uniqueName('img');
    await ok(['commit', stopped, `${tagged}:1`]);
    const stoppedId = (await inspect('container', stopped)).Id;

    const out = await ok(['system', 'prune', '-f']);
    assert.match(out, new RegExp(`Deleted Containers:\\n${stoppedId}`));
    assert.match(out, new RegExp(`Deleted Networks:\\n${unused}`));
    assert.match(out, new RegExp(`deleted: ${dangling}`));
    assert.match(out, /Total reclaimed space:/);
    const names = (kind: string, ...args: string[]) => ok([kind, 'ls', ...args]);
    assert.match(await names('network', '--format', '{{.Name}}'), new RegExp(`^${used}$`, 'm'));
    assert.doesNotMatch(await names('network', '--format', '{{.Name}}'), new RegExp(`^${unused}$`, 'm'));
    assert.match(await names('image', '--format', '{{.Repository}}'), new RegExp(`^${tagged}$`, 'm'));
    // Without --volumes, volumes stay (the anonymous one is unused now).
    assert.match(await names('volume', '-q'), new RegExp(`^${anon}$`, 'm'));
    assert.equal((await inspect('container', running)).State.Running, true);

    const out2 = await ok(['system', 'prune', '-a', '--volumes', '-f']);
    assert.match(out2, new RegExp(`Deleted Volumes:\\n${anon}`));
    assert.match(out2, new RegExp(`untagged: ${tagged}:1`));
    const volumes = await names('volume', '-q');
    assert.doesNotMatch(volumes, new RegExp(`^${anon}$`, 'm'));
    // Named volumes need `docker volume prune -a` (Docker's rule since API 1.42).
    assert.match(volumes, new RegExp(`^${named}$`, 'm'));
    const images = await names('image', '--format', '{{.Repository}}');
    assert.doesNotMatch(images, new RegExp(`^${tagged}$`, 'm'));
    // The running container's image stays.
    assert.match(images, new RegExp(`^${IMAGE.split(':')[0]}$`, 'm'));
    // The build cache step answers too (the classic builder has none of its own).
    const bp = await d.api('POST', '/build/prune');
    assert.deepEqual(bp.json(), { CachesDeleted: null, SpaceReclaimed: 0 });
    await ok(['rm', '-f', running]);
    await ok(['network', 'rm', used]);
    await ok(['volume', 'rm', named]);
  });
});
