// End to end: the Engine API's edges — versions, errors, bad input — over
// HTTP on the unix socket, plus `docker version` and `docker info`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

let d: Daemon;
let IMAGE: string;

before(async () => {
  d = await startDaemon();
  IMAGE = await loadTestImage(d, 'busybox');
});
after(() => d?.cleanup());

describe('versions', () => {
  test('/_ping answers GET and HEAD with the API version headers', async () => {
    const get = await d.api('GET', '/_ping');
    assert.equal(get.status, 200);
    assert.equal(get.text(), 'OK');
    assert.equal(get.headers['api-version'], '1.50');
    const head = await d.api('HEAD', '/v1.24/_ping');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  test('every path works with and without a /v1.NN prefix, within 1.24..1.50', async () => {
    for (const prefix of ['', '/v1.24', '/v1.30', '/v1.38', '/v1.44', '/v1.50']) {
      const r = await d.api('GET', `${prefix}/containers/json?all=1`);
      assert.equal(r.status, 200, `${prefix}: ${r.text()}`);
      assert.ok(Array.isArray(r.json()));
    }
    const old = await d.api('GET', '/v1.23/version');
    assert.equal(old.status, 400);
    assert.match(old.json().message, /client version 1.23 is too old. Minimum supported API version is 1.24/);
    const young = await d.api('GET', '/v1.99/version');
    assert.equal(young.status, 400);
    assert.match(young.json().message, /is too new/);
  });

  test('older API versions get the older image fields', async () => {
    const old = (await d.api('GET', '/v1.41/images/json')).json();
    const now = (await d.api('GET', '/v1.50/images/json')).json();
    assert.ok('VirtualSize' in old[0]);
    assert.ok(!('VirtualSize' in now[0]));
  });

  test('docker version and docker info describe Berth', async () => {
    const v = await d.docker(['version', '--format', '{{.Server.Platform.Name}}|{{.Server.APIVersion}}|{{.Server.Os}}']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout.trim(), /^Berth \S+\|1\.50\|linux$/);
    const info = JSON.parse((await d.docker(['info', '--format', '{{json .}}'])).stdout);
    assert.equal(info.Driver, 'overlay');
    assert.equal(info.DefaultRuntime, 'runc');
    assert.ok(['1', '2'].includes(info.CgroupVersion));
    assert.ok(info.Images >= 1);
    assert.equal(typeof info.Containers, 'number');
    assert.equal(info.ServerVersion, info.ServerVersion.trim());
  });
});

describe('errors', () => {
  test('unknown ids: 404 with the docker wording', async () => {
    for (const [method, p] of [
      ['GET', '/containers/nope/json'],
      ['POST', '/containers/nope/start'],
      ['POST', '/containers/nope/stop'],
      ['DELETE', '/containers/nope'],
      ['GET', '/containers/nope/logs?stdout=1'],
    ] as const) {
      const r = await d.api(method, p);
      assert.equal(r.status, 404, `${method} ${p}`);
      assert.equal(r.json().message, 'No such container: nope');
    }
    const img = await d.api('GET', '/images/nope:latest/json');
    assert.equal(img.status, 404);
    assert.equal(img.json().message, 'No such image: nope:latest');
    const route = await d.api('GET', '/no/such/route');
    assert.equal(route.status, 404);
  });

  test('malformed JSON, wrong types and bad values: 400 naming the problem, nothing created', async () => {
    const name = uniqueName('bad');
    const before = (await d.api('GET', '/containers/json?all=1')).json().length;
    const malformed = await d.api('POST', `/containers/create?name=${name}`, '{"Image": "x",', { headers: { 'Content-Type': 'application/json' } });
    assert.equal(malformed.status, 400);
    assert.match(malformed.json().message, /invalid JSON/);
    const wrongType = await d.api('POST', `/containers/create?name=${name}`, { Image: IMAGE, Env: 'A=1' });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.json().message, /Env/);
    const wrongHc = await d.api('POST', `/containers/create?name=${name}`, { Image: IMAGE, HostConfig: { Memory: 'lots' } });
    assert.equal(wrongHc.status, 400);
    assert.match(wrongHc.json().message, /HostConfig\.Memory/);
    const badName = await d.api('POST', '/containers/create?name=no%20spaces', { Image: IMAGE });
    assert.equal(badName.status, 400);
    assert.match(badName.json().message, /Invalid container name/);
    const notObject = await d.api('POST', '/containers/create', [1, 2]);
    assert.equal(notObject.status, 400);
    const badBool = await d.api('GET', '/containers/json?all=maybe');
    assert.equal(badBool.status, 400);
    const badFilter = await d.api('GET', '/containers/json?filters=%7Bnope');
    assert.equal(badFilter.status, 400);
    assert.equal((await d.api('GET', '/containers/json?all=1')).json().length, before, 'no container was created');
  });

  test('a huge body gets 413 and the daemon stays up', async () => {
    const huge = Buffer.alloc(8 * 1024 * 1024, 0x20);
    const r = await d.api('POST', '/containers/create', huge, { headers: { 'Content-Type': 'application/json' } }).catch((e) => e);
    if (!(r instanceof Error)) assert.equal(r.status, 413);
    assert.equal((await d.api('GET', '/_ping')).status, 200);
  });

  test('304 for starting a started and stopping a stopped container; 409 for conflicts', async () => {
    const name = uniqueName('codes');
    const created = await d.api('POST', `/containers/create?name=${name}`, { Image: IMAGE, Cmd: ['sleep', '300'] });
    assert.equal(created.status, 201, created.text());
    const id = created.json().Id;
    assert.equal((await d.api('POST', `/containers/${id}/stop`)).status, 304);
    assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 204);
    assert.equal((await d.api('POST', `/containers/${id}/start`)).status, 304);
    const dup = await d.api('POST', `/containers/create?name=${name}`, { Image: IMAGE });
    assert.equal(dup.status, 409);
    assert.match(dup.json().message, new RegExp(`The container name "/${name}" is already in use by container "${id}"`));
    const rm = await d.api('DELETE', `/containers/${id}`);
    assert.equal(rm.status, 409);
    assert.equal((await d.api('POST', `/containers/${id}/stop?t=0`)).status, 204);
    assert.equal((await d.api('POST', `/containers/${id}/stop`)).status, 304);
    const kill = await d.api('POST', `/containers/${id}/kill`);
    assert.equal(kill.status, 409);
    assert.equal((await d.api('DELETE', `/containers/${id}`)).status, 204);
  });

  test('no stack traces or internal paths in error bodies', async () => {
    const r = await d.api('POST', '/containers/create', { Image: 'berth-test/nope' });
    assert.equal(r.status, 404);
    assert.doesNotMatch(r.text(), /\/(var|tmp|run|work)\/|at .*\.ts:\d+/);
  });
});
