// Soak: many containers run and removed from several clients at once, with
// the daemon's memory and open file descriptors sampled along the way.
// Neither may keep growing: the second half of the run must not need more
// than the first half did (plus a margin for noise). Sized for CI.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startDaemon, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

const CONTAINERS = Number(process.env.BERTH_SOAK_CONTAINERS ?? 200);
const CLIENTS = 8;
const SAMPLES = 10;

let d: Daemon;
let IMAGE: string;

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

function sample(pid: number): { rssKiB: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
  return { rssKiB, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** One container's whole life through the API, as `docker run --rm` drives it. */
async function runOnce(i: number): Promise<void> {
  const created = await d.api('POST', '/containers/create', { Image: IMAGE, Cmd: ['sh', '-c', `echo soak-${i}`], HostConfig: { NetworkMode: 'none' } });
  assert.equal(created.status, 201, `create ${i}: ${created.text()}`);
  const id = created.json().Id as string;
  const wait = d.api('POST', `/containers/${id}/wait?condition=next-exit`);
  assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 204, `start ${i}`);
  assert.equal((await wait).json().StatusCode, 0, `container ${i} exits 0`);
  const logs = await d.api('GET', `/containers/${id}/logs?stdout=1`);
  assert.ok(logs.body.includes(Buffer.from(`soak-${i}\n`)), `logs of ${i}`);
  assert.equal((await d.api('DELETE', `/containers/${id}`)).status, 204, `rm ${i}`);
}

test(`${CONTAINERS} containers run and removed by ${CLIENTS} clients: memory and fds stay bounded`, { timeout: 600_000 }, async () => {
  const pid = d.pid!;
  const samples: { rssKiB: number; fds: number }[] = [];
  let next = 0;
  let done = 0;
  const every = Math.ceil(CONTAINERS / SAMPLES);
  const client = async () => {
    while (next < CONTAINERS) {
      const i = next++;
      await runOnce(i);
      done += 1;
      if (done % every === 0) samples.push(sample(pid));
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  samples.push(sample(pid));

  const half = Math.floor(samples.length / 2);
  const first = samples.slice(0, half);
  const second = samples.slice(half);
  const maxOf = (xs: typeof samples, k: 'rssKiB' | 'fds') => Math.max(...xs.map((s) => s[k]));
  const report = JSON.stringify(samples);
  assert.ok(maxOf(second, 'fds') <= maxOf(first, 'fds') + 16, `open fds keep growing: ${report}`);
  assert.ok(maxOf(second, 'rssKiB') <= maxOf(first, 'rssKiB') * 1.25 + 24 * 1024, `daemon memory keeps growing: ${report}`);
  // Nothing of the containers is left on the node.
  const left = (await d.api('GET', '/containers/json?all=1')).json();
  assert.equal(left.length, 0, 'every container was removed');
});
