// Structural checks of the test image archives: what docker load (legacy
// manifest.json and OCI index.json paths) and Berth's loader rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tarStream from 'tar-stream';
import { buildTestImages, readTestImageInfo, testImageRefs } from './build-test-images.ts';

interface Item {
  header: tarStream.Headers;
  data: Buffer;
}

async function readTar(buf: Buffer): Promise<Map<string, Item>> {
  const out = new Map<string, Item>();
  const extract = tarStream.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      out.set(entry.header.name.replace(/\/$/, ''), { header: entry.header, data: Buffer.concat(chunks) });
    }
  })();
  extract.end(buf);
  await done;
  return out;
}

function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

function json(items: Map<string, Item>, name: string): any {
  const item = items.get(name);
  assert.ok(item, `archive has ${name}`);
  return JSON.parse(item.data.toString('utf8'));
}

interface Loaded {
  outer: Map<string, Item>;
  config: any;
  layers: Map<string, Item>[];
}

async function load(file: string, ref: string): Promise<Loaded> {
  const outer = await readTar(await readFile(file));
  for (const item of outer.values()) {
    assert.equal(item.header.uid, 0);
    assert.equal(item.header.gid, 0);
  }
  // Legacy docker-archive view.
  const manifest = json(outer, 'manifest.json');
  assert.equal(manifest.length, 1);
  assert.deepEqual(manifest[0].RepoTags, [ref]);
  const configItem = outer.get(manifest[0].Config);
  assert.ok(configItem, 'config blob present');
  const config = JSON.parse(configItem.data.toString('utf8'));
  assert.equal(path.basename(manifest[0].Config), sha256(configItem.data).slice(7), 'config blob named by its digest');
  assert.equal(config.architecture, 'amd64');
  assert.equal(config.os, 'linux');
  assert.equal(config.rootfs.type, 'layers');
  assert.equal(config.rootfs.diff_ids.length, manifest[0].Layers.length);
  const layers: Map<string, Item>[] = [];
  manifest[0].Layers.forEach((p: string, i: number) => {
    const layer = outer.get(p);
    assert.ok(layer, `layer ${p} present`);
    assert.equal(sha256(layer.data), config.rootfs.diff_ids[i], `diff_id ${i} is the sha256 of the layer tar`);
  });
  for (const p of manifest[0].Layers) layers.push(await readTar(outer.get(p)!.data));
  const nonEmpty = config.history.filter((h: any) => !h.empty_layer);
  assert.equal(nonEmpty.length, layers.length, 'one non-empty history entry per layer');
  for (const h of config.history) assert.equal(typeof h.created_by, 'string');

  // OCI layout view.
  assert.deepEqual(json(outer, 'oci-layout'), { imageLayoutVersion: '1.0.0' });
  const index = json(outer, 'index.json');
  assert.equal(index.schemaVersion, 2);
  assert.equal(index.manifests.length, 1);
  const desc = index.manifests[0];
  assert.equal(desc.annotations['io.containerd.image.name'], 'docker.io/' + ref);
  assert.equal(desc.annotations['org.opencontainers.image.ref.name'], ref.split(':')[1]);
  const mItem = outer.get('blobs/sha256/' + desc.digest.slice(7));
  assert.ok(mItem, 'OCI manifest blob present');
  assert.equal(sha256(mItem.data), desc.digest);
  assert.equal(mItem.data.length, desc.size);
  const oci = JSON.parse(mItem.data.toString('utf8'));
  assert.equal(oci.config.digest, sha256(configItem.data));
  assert.equal(oci.config.size, configItem.data.length);
  assert.deepEqual(
    oci.layers.map((l: any) => l.digest),
    config.rootfs.diff_ids,
  );
  return { outer, config, layers };
}

test('test images: structure, digests, contents', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-images-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const paths = await buildTestImages(dir);
  const info = await readTestImageInfo(dir);

  await t.test('busybox', async () => {
    const { config, layers } = await load(paths.busybox, testImageRefs.busybox);
    assert.equal(info.busybox.id, 'sha256:' + createHash('sha256').update(JSON.stringify(config)).digest('hex'));
    assert.deepEqual(config.config.Cmd, ['sh']);
    assert.deepEqual(config.config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    assert.equal(layers.length, 1);
    const l = layers[0]!;
    const bb = l.get('bin/busybox')!;
    assert.equal(bb.header.type, 'file');
    assert.equal(bb.header.mode, 0o755);
    assert.deepEqual(bb.data, await readFile('/bin/busybox'));
    for (const applet of ['bin/sh', 'bin/ls', 'usr/bin/env', 'bin/cat']) {
      assert.equal(l.get(applet)?.header.type, 'symlink', applet);
      assert.equal(l.get(applet)?.header.linkname, '/bin/busybox', applet);
    }
    assert.equal(l.get('tmp')?.header.mode, 0o1777);
    assert.equal(l.get('tmp')?.header.type, 'directory');
    assert.equal(l.get('root')?.header.type, 'directory');
    assert.equal(l.get('home/app')?.header.uid, 1000);
    assert.equal(l.get('home/app')?.header.gid, 1000);
    assert.match(l.get('etc/passwd')!.data.toString(), /^app:x:1000:1000:/m);
    assert.match(l.get('etc/passwd')!.data.toString(), /^nobody:x:65534:65534:/m);
    assert.match(l.get('etc/group')!.data.toString(), /^app:x:1000:/m);
    // Every parent directory comes before its children.
    const seen = new Set<string>();
    for (const name of l.keys()) {
      const parent = path.posix.dirname(name);
      if (parent !== '.') assert.ok(seen.has(parent), `${parent} listed before ${name}`);
      seen.add(name);
    }
  });

  await t.test('layers', async () => {
    const bb = await load(paths.busybox, testImageRefs.busybox);
    const { config, layers } = await load(paths.layers, testImageRefs.layers);
    assert.equal(layers.length, 3);
    assert.equal(config.rootfs.diff_ids[0], bb.config.rootfs.diff_ids[0], 'base layer shared with busybox');
    assert.deepEqual(config.config.Labels, { 'berth.test': 'layers' });
    assert.deepEqual(config.config.Cmd, ['cat', '/data/a.txt']);
    assert.equal(config.config.WorkingDir, '/data');
    const l2 = layers[1]!;
    for (const f of ['data/a.txt', 'data/b.txt', 'data/keep/x.txt', 'opaque/old1', 'opaque/old2']) assert.ok(l2.has(f), f);
    const l3 = layers[2]!;
    assert.ok(l3.has('data/.wh.b.txt'));
    assert.ok(l3.has('opaque/.wh..wh..opq'));
    assert.ok(l3.has('opaque/new.txt'));
    assert.ok(l3.has('data/c.txt'));
    assert.equal(l3.get('data/c.txt')!.data.toString(), 'c from layer 3\n');
  });

  await t.test('stopsignal', async () => {
    const bb = await load(paths.busybox, testImageRefs.busybox);
    const { config } = await load(paths.stopsignal, testImageRefs.stopsignal);
    assert.deepEqual(config.rootfs.diff_ids, bb.config.rootfs.diff_ids);
    assert.equal(config.config.StopSignal, 'SIGUSR1');
    assert.equal(config.config.Entrypoint[0], '/bin/sh');
  });

  await t.test('second call reuses the archives', async () => {
    const before = (await stat(paths.busybox)).mtimeMs;
    await buildTestImages(dir);
    assert.equal((await stat(paths.busybox)).mtimeMs, before);
  });
});
