// A multi-platform OCI index in a private registry: an amd64 entry (the
// busybox test image as docker push stored it) and an arm64 entry whose
// only layer is zstd-compressed, pushed through Berth's own registry client.
// docker pull picks by --platform (default: the host's).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { zstdCompressSync } from 'node:zlib';
import { writeTar } from '../scripts/build-test-images.ts';
import { sha256 } from '../src/image/digest.ts';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_ZSTD, OCI_MANIFEST } from '../src/image/registry/manifest.ts';
import { uploadBuffer } from '../src/image/registry/push.ts';
import { readBody, RegistryClient } from '../src/image/registry/registry-client.ts';
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

test('pull --platform picks the entry of an OCI index; zstd layers unpack; no entry is a clear error', async () => {
  const name = uniqueName('multi');
  const repo = `${reg.host}/${name}`;
  await ok(['tag', IMAGE, `${repo}:amd64`]);
  await ok(['push', `${repo}:amd64`]);

  const client = await RegistryClient.open({ domain: reg.host, repo: name, config: { insecure: [], mirrors: [], certsDir: '/nonexistent' }, actions: ['pull', 'push'] });
  try {
    const res = await client.request('GET', `/v2/${name}/manifests/amd64`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(res.statusCode, 200);
    const amd64Manifest = await readBody(res, 1 << 20);

    const tar = await writeTar([{ name: 'platform.txt', type: 'file', data: 'arm64 via zstd\n' }]);
    const layer = zstdCompressSync(tar);
    const config = Buffer.from(
      JSON.stringify({ architecture: 'arm64', variant: 'v8', os: 'linux', config: { Cmd: ['/platform.txt'] }, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }),
    );
    await uploadBuffer(client, layer, sha256(layer));
    await uploadBuffer(client, config, sha256(config));
    const arm64Manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
        layers: [{ mediaType: OCI_LAYER_ZSTD, digest: sha256(layer), size: layer.length }],
      }),
    );
    const put = async (ref: string, type: string, body: Buffer) => {
      const r = await client.request('PUT', `/v2/${name}/manifests/${ref}`, { headers: { 'Content-Type': type }, body });
      const text = (await readBody(r, 1 << 20)).toString();
      assert.equal(r.statusCode, 201, text);
    };
    await put(sha256(arm64Manifest), OCI_MANIFEST, arm64Manifest);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: sha256(amd64Manifest), size: amd64Manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: OCI_MANIFEST, digest: sha256(arm64Manifest), size: arm64Manifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
    );
    await put('multi', OCI_INDEX, index);

    await ok(['pull', '--platform', 'linux/arm64', `${repo}:multi`]);
    assert.equal((await ok(['image', 'inspect', '-f', '{{.Architecture}}', `${repo}:multi`])).trim(), 'arm64');
    const digests = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .RepoDigests}}', `${repo}:multi`]));
    assert.deepEqual(digests, [`${repo}@${sha256(index)}`], 'the repo digest is the index digest');
    const ctr = (await ok(['create', '--platform', 'linux/arm64', `${repo}:multi`])).trim();
    assert.equal(await ok(['cp', `${ctr}:/platform.txt`, '-']).then((t) => t.includes('arm64 via zstd')), true, 'the zstd layer was unpacked');
    await ok(['rm', ctr]);

    await ok(['pull', `${repo}:multi`]);
    assert.equal((await ok(['image', 'inspect', '-f', '{{.Architecture}}', `${repo}:multi`])).trim(), 'amd64', 'the host platform by default');
    assert.equal((await ok(['run', '--rm', `${repo}:multi`, 'echo', 'amd64-ok'])).trim(), 'amd64-ok');

    const none = await d.docker(['pull', '--platform', 'linux/s390x', `${repo}:multi`]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /no matching manifest for linux\/s390x in the manifest list entries/);
  } finally {
    client.close();
  }
});
