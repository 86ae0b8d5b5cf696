// End to end: docker logs and its flags, log drivers and rotation options.
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let IMAGE: string;

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

const ok = async (args: string[]): Promise<string> => dockerOk(d, args);

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

/** The json-file set of a container on disk, oldest first: [file name, entries]. */
async function jsonLogSet(id: string): Promise<[string, { log: string; stream: string; time: string }[]][]> {
  const dir = path.join(d.dataRoot, 'runtime', id);
  const names = (await readdir(dir)).filter((n) => n.startsWith(`${id}-json.log`));
  const order = (n: string) => Number(n.slice(`${id}-json.log`.length + 1) || 0);
  names.sort((a, b) => order(b) - order(a));
  const out: [string, { log: string; stream: string; time: string }[]][] = [];
  for (const n of names) {
    const text = await readFile(path.join(dir, n), 'utf8');
    const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
    const entries = lines.map((l) => {
      const v = JSON.parse(l);
      assert.deepEqual(Object.keys(v), ['log', 'stream', 'time'], `${n}: ${l}`);
      assert.match(v.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      return v;
    });
    out.push([n, entries]);
  }
  return out;
}

test('json-file on disk: max-size and max-file rotate like Docker, LogPath names the file', async () => {
  const name = uniqueName('jsonrot');
  await ok(['run', '--name', name, '--log-opt', 'max-size=1k', '--log-opt', 'max-file=3', IMAGE, 'sh', '-c', 'i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done; echo to-stderr >&2']);
  const c = JSON.parse(await ok(['inspect', name]))[0];
  assert.equal(c.LogPath, path.join(d.dataRoot, 'runtime', c.Id, `${c.Id}-json.log`));
  const set = await jsonLogSet(c.Id);
  assert.deepEqual(set.map(([n]) => n), [`${c.Id}-json.log.2`, `${c.Id}-json.log.1`, `${c.Id}-json.log`]);
  for (const [n] of set) {
    const size = (await stat(path.join(d.dataRoot, 'runtime', c.Id, n))).size;
    assert.ok(size > 0 && size <= 1000, `${n} holds ${size} bytes (max-size=1k)`);
  }
  const entries = set.flatMap(([, e]) => e);
  assert.deepEqual(entries.at(-1), { ...entries.at(-1)!, log: 'to-stderr\n', stream: 'stderr' });
  const stdout = entries.filter((e) => e.stream === 'stdout').map((e) => e.log);
  const first = 300 - stdout.length;
  assert.ok(first > 0, 'older lines were rotated away');
  assert.deepEqual(stdout, Array.from({ length: stdout.length }, (_, i) => `line-${first + i}\n`), 'the newest lines, none missing');
  // docker logs reads the same set: rotated files first, then the current one
  const r = await d.docker(['logs', name]);
  assert.equal(r.stdout, stdout.join(''));
  assert.equal(r.stderr, 'to-stderr\n');
  assert.equal(await ok(['logs', '--tail', '2', name]), 'line-299\n');
  await ok(['rm', name]);
});

test('a partial last line is an entry without a newline; docker logs right after docker run misses nothing', async () => {
  const name = uniqueName('partial');
  const run = await ok(['run', '--name', name, IMAGE, 'sh', '-c', 'echo one; printf two']);
  assert.equal(run, 'one\ntwo');
  assert.equal(await ok(['logs', name]), 'one\ntwo');
  const id = JSON.parse(await ok(['inspect', name]))[0].Id;
  const entries = (await jsonLogSet(id)).flatMap(([, e]) => e);
  assert.deepEqual(entries.map((e) => e.log), ['one\n', 'two']);
  await ok(['rm', name]);
});

test('daemon killed with SIGKILL while a container prints: after the restart no line is lost or doubled', async () => {
  const name = uniqueName('crashlog');
  const total = 1500;
  await ok(['run', '-d', '--name', name, IMAGE, 'sh', '-c', `i=0; while [ $i -lt ${total} ]; do echo line-$i; i=$((i+1)); sleep 0.005; done`]);
  const id = JSON.parse(await ok(['inspect', name]))[0].Id;
  const staged = path.join(d.dataRoot, 'runtime', id, 'ctr.log');
  const stagedLines = async () => (await readFile(staged, 'utf8').catch(() => '')).split('\n').length - 1;
  // Some output converted, then the daemon dies while the container goes on.
  while ((await ok(['logs', '--tail', '1', name])) === '') await sleep(20);
  await d.kill9();
  const atCrash = await stagedLines();
  while ((await stagedLines()) < atCrash + 100) await sleep(20); // it printed on while no daemon ran
  await d.restart();
  assert.equal((await ok(['wait', name])).trim(), '0');
  const out = (await ok(['logs', name])).split('\n').filter(Boolean);
  assert.equal(out.length, total, 'no line lost, none doubled');
  assert.deepEqual(out, Array.from({ length: total }, (_, i) => `line-${i}`));
  const onDisk = (await jsonLogSet(id)).flatMap(([, e]) => e).map((e) => e.log);
  assert.equal(onDisk.length, total);
  await ok(['rm', name]);
});
