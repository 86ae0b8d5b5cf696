// End to end: docker logs and its flags, log drivers and rotation options.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let IMAGE: string;

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

async function ok(args: string[]): Promise<string> {
  const r = await d.docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

test('stdout and stderr kept apart, --tail, --timestamps', async () => {
  const name = uniqueName('logs');
  await ok(['run', '--name', name, IMAGE, 'sh', '-c', 'for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done']);
  const r = await d.docker(['logs', name]);
  assert.equal(r.stdout, 'out1\nout2\nout3\nout4\nout5\n');
  assert.equal(r.stderr, 'err1\nerr2\nerr3\nerr4\nerr5\n');
  // Between two pipes the order is not defined, so --tail is checked on one stream.
  const single = uniqueName('tail');
  await ok(['run', '--name', single, IMAGE, 'sh', '-c', 'for i in 1 2 3 4 5; do echo out$i; done']);
  assert.equal(await ok(['logs', '--tail', '2', single]), 'out4\nout5\n');
  assert.equal(await ok(['logs', '--tail', '0', single]), '');
  const ts = await ok(['logs', '-t', '--tail', '1', single]);
  assert.match(ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z out5\n$/);
  await ok(['rm', single]);
  // The multiplexed format on the wire: stream 1 for stdout, 2 for stderr.
  const raw = await d.api('GET', `/containers/${name}/logs?stdout=1&stderr=1`);
  assert.equal(raw.status, 200);
  const streams = new Set<number>();
  for (let off = 0; off < raw.body.length; off += 8 + raw.body.readUInt32BE(off + 4)) streams.add(raw.body[off]);
  assert.deepEqual([...streams].sort(), [1, 2]);
  await ok(['rm', name]);
});

test('--since, --until and --follow', async () => {
  const name = uniqueName('follow');
  await ok(['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'echo first; sleep 2; echo second; sleep 1']);
  const followed = await d.docker(['logs', '-f', name], { timeoutMs: 20_000 });
  assert.equal(followed.stdout, 'first\nsecond\n', 'follow ends when the container exits');
  const all = await ok(['logs', '-t', name]);
  const secondAt = Date.parse(all.split('\n')[1].split(' ')[0]);
  const since = await ok(['logs', '--since', String((secondAt - 500) / 1000), name]);
  assert.equal(since, 'second\n');
  const until = await ok(['logs', '--until', String((secondAt - 500) / 1000), name]);
  assert.equal(until, 'first\n');
  await ok(['rm', name]);
});

test('the none driver keeps nothing and says so; json-file options are accepted', async () => {
  const name = uniqueName('none');
  await ok(['run', '--log-driver', 'none', '--name', name, IMAGE, 'echo', 'hidden']);
  const r = await d.docker(['logs', name]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /does not support reading/);
  await ok(['rm', name]);
  const rotated = uniqueName('rot');
  await ok(['run', '--name', rotated, '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', IMAGE, 'sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done']);
  const kept = (await ok(['logs', rotated])).split('\n').filter(Boolean);
  assert.ok(kept.length > 0 && kept.length < 200, `rotation keeps only the newest lines (kept ${kept.length})`);
  assert.equal(kept[kept.length - 1], 'line-199-xxxxxxxxxxxxxxxxxxxxxxxx');
  const badDriver = await d.docker(['run', '--rm', '--log-driver', 'nonesuch', IMAGE, 'true']);
  assert.equal(badDriver.code, 125);
  await ok(['rm', rotated]);
});
