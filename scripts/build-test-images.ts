// Builds the images the tests use, without network access, as `docker save`
// archives (the layout Docker 25+ writes: manifest.json for the legacy
// loader, plus oci-layout, index.json and blobs/sha256/* for OCI loaders).
//
//   node scripts/run.mjs scripts/build-test-images.ts [OUT_DIR]
//
// OUT_DIR defaults to <repo>/.test-data/images. Work is skipped when the
// archives exist and were built from this script and the same busybox binary.
//
// Every tar is written with tar-stream so that owners (numeric, no names),
// modes and timestamps are exactly what we say, whatever the host's tar does.
// Timestamps are fixed: the same inputs give byte-identical archives, and so
// the same layer digests and image IDs on every machine with the same busybox.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import tarStream from 'tar-stream';

const here = fileURLToPath(import.meta.url);
const repoRoot = path.dirname(path.dirname(here));
export const defaultImagesDir = path.join(repoRoot, '.test-data', 'images');
const BUSYBOX = '/bin/busybox';

// Fixed time for every tar entry and every "created" field.
const EPOCH = new Date('2024-01-01T00:00:00Z');
const CREATED = EPOCH.toISOString().replace('.000Z', 'Z');
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** References of the test images, as `docker images` shows them. */
export const testImageRefs = {
  busybox: 'berth-test/busybox:latest',
  layers: 'berth-test/layers:latest',
  stopsignal: 'berth-test/stopsignal:latest',
} as const;

/** What the stopsignal image's entrypoint does on SIGUSR1 (exit code). */
export const STOPSIGNAL_EXIT_CODE = 42;

export interface TestImagePaths {
  busybox: string;
  layers: string;
  stopsignal: string;
}

/** One entry of images.json, written next to the archives. */
export interface TestImageInfo {
  ref: string;
  file: string;
  /** Image ID: "sha256:" + sha256 of the config JSON. */
  id: string;
  diffIds: string[];
}

// ---------------------------------------------------------------- tar writing

export interface TarEntry {
  name: string; // no leading slash; directories without trailing slash
  type: 'file' | 'directory' | 'symlink' | 'link';
  mode?: number;
  uid?: number;
  gid?: number;
  data?: Buffer | string;
  linkname?: string;
}

export async function writeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: Buffer) => chunks.push(c));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const header: tarStream.Headers = {
      name: e.type === 'directory' ? e.name.replace(/\/?$/, '/') : e.name,
      type: e.type,
      mode: e.mode ?? (e.type === 'directory' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: '',
      gname: '',
      mtime: EPOCH,
    };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.type === 'file') pack.entry(header, e.data ?? Buffer.alloc(0), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function dir(name: string, mode = 0o755, uid = 0, gid = 0): TarEntry {
  return { name, type: 'directory', mode, uid, gid };
}

function file(name: string, data: string | Buffer, mode = 0o644): TarEntry {
  return { name, type: 'file', mode, data };
}

// ---------------------------------------------------------------- layers

async function busyboxLayer(busybox: Buffer): Promise<Buffer> {
  const applets = execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().replace(/^\/+/, ''))
    .filter((l) => l !== '' && l !== 'bin/busybox');
  // Directories: name -> [mode, uid/gid]; parents sort before children.
  const dirs = new Map<string, [number, number]>();
  for (const d of ['bin', 'dev', 'etc', 'home', 'proc', 'sbin', 'sys', 'usr', 'usr/bin', 'usr/sbin', 'var']) dirs.set(d, [0o755, 0]);
  dirs.set('root', [0o700, 0]).set('tmp', [0o1777, 0]).set('var/tmp', [0o1777, 0]).set('home/app', [0o755, 1000]);
  for (const a of applets) {
    for (let d = path.posix.dirname(a); d !== '.'; d = path.posix.dirname(d)) if (!dirs.has(d)) dirs.set(d, [0o755, 0]);
  }
  const entries: TarEntry[] = [...dirs.keys()].sort().map((d) => dir(d, dirs.get(d)![0], dirs.get(d)![1], dirs.get(d)![1]));
  entries.push(file('bin/busybox', busybox, 0o755));
  for (const a of [...new Set(applets)].sort()) entries.push({ name: a, type: 'symlink', linkname: '/bin/busybox' });
  entries.push(
    file(
      'etc/passwd',
      'root:x:0:0:root:/root:/bin/sh\n' +
        'app:x:1000:1000:app:/home/app:/bin/sh\n' +
        'nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    ),
    file('etc/group', 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n'),
    file('etc/shadow', 'root:*::0:::::\napp:*::0:::::\nnobody:*::0:::::\n', 0o640),
  );
  return writeTar(entries);
}

async function filesLayer(): Promise<Buffer> {
  return writeTar([
    dir('data'),
    file('data/a.txt', 'a from layer 2\n'),
    file('data/b.txt', 'b from layer 2\n'),
    dir('data/keep'),
    file('data/keep/x.txt', 'x from layer 2\n'),
    dir('opaque'),
    file('opaque/old1', 'old1 from layer 2\n'),
    file('opaque/old2', 'old2 from layer 2\n'),
  ]);
}

async function whiteoutLayer(): Promise<Buffer> {
  return writeTar([
    dir('data'),
    file('data/.wh.b.txt', ''),
    file('data/c.txt', 'c from layer 3\n'),
    dir('opaque'),
    file('opaque/.wh..wh..opq', ''),
    file('opaque/new.txt', 'new from layer 3\n'),
  ]);
}

// ---------------------------------------------------------------- archives

export interface ImageSpec {
  ref: string;
  layers: { tar: Buffer; createdBy: string }[];
  config: Record<string, unknown>;
  /** History entries without a layer, appended after the layer entries. */
  extraHistory?: string[];
}

export interface BuiltImage {
  archive: Buffer;
  id: string;
  diffIds: string[];
}

export async function buildArchive(spec: ImageSpec): Promise<BuiltImage> {
  const diffIds = spec.layers.map((l) => 'sha256:' + sha256(l.tar));
  const history: Record<string, unknown>[] = spec.layers.map((l) => ({ created: CREATED, created_by: l.createdBy }));
  for (const h of spec.extraHistory ?? []) history.push({ created: CREATED, created_by: h, empty_layer: true });
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: CREATED,
    config: spec.config,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history,
  };
  const configJson = Buffer.from(JSON.stringify(config));
  const configHex = sha256(configJson);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: 'sha256:' + configHex, size: configJson.length },
    layers: spec.layers.map((l, i) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: diffIds[i],
      size: l.tar.length,
    })),
  };
  const manifestJson = Buffer.from(JSON.stringify(manifest));
  const manifestHex = sha256(manifestJson);
  const colon = spec.ref.lastIndexOf(':');
  const repo = spec.ref.slice(0, colon);
  const tag = spec.ref.slice(colon + 1);
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: 'sha256:' + manifestHex,
        size: manifestJson.length,
        annotations: {
          'io.containerd.image.name': `docker.io/${repo}:${tag}`,
          'org.opencontainers.image.ref.name': tag,
        },
      },
    ],
  };
  const dockerManifest = [
    {
      Config: `blobs/sha256/${configHex}`,
      RepoTags: [spec.ref],
      Layers: diffIds.map((d) => `blobs/sha256/${d.slice('sha256:'.length)}`),
    },
  ];
  const topLayer = diffIds[diffIds.length - 1]!.slice('sha256:'.length);
  // Blobs in the order Docker writes them; a blob shared by two layers once.
  const blobs = new Map<string, Buffer>();
  spec.layers.forEach((l, i) => blobs.set(diffIds[i]!.slice('sha256:'.length), l.tar));
  blobs.set(configHex, configJson);
  blobs.set(manifestHex, manifestJson);
  const entries: TarEntry[] = [dir('blobs'), dir('blobs/sha256')];
  for (const [hex, data] of blobs) entries.push(file(`blobs/sha256/${hex}`, data));
  entries.push(
    file('index.json', JSON.stringify(index) + '\n'),
    file('manifest.json', JSON.stringify(dockerManifest) + '\n'),
    file('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' })),
    file('repositories', JSON.stringify({ [repo]: { [tag]: topLayer } }) + '\n'),
  );
  return { archive: await writeTar(entries), id: 'sha256:' + configHex, diffIds };
}

async function writeAtomic(target: string, data: Buffer | string): Promise<void> {
  const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, target);
}

// ---------------------------------------------------------------- entry

/**
 * Builds (or finds up to date) the test image archives in outDir and returns
 * their paths. Safe to call from several processes at once: files are
 * replaced atomically and the builds are deterministic.
 */
export async function buildTestImages(outDir: string = process.env.BERTH_TEST_IMAGES || defaultImagesDir): Promise<TestImagePaths> {
  const paths: TestImagePaths = {
    busybox: path.join(outDir, 'busybox.tar'),
    layers: path.join(outDir, 'layers.tar'),
    stopsignal: path.join(outDir, 'stopsignal.tar'),
  };
  if (!existsSync(BUSYBOX)) {
    throw new Error(`${BUSYBOX} is missing: install Debian's busybox-static (node scripts/setup.mjs --test does)`);
  }
  const busybox = await readFile(BUSYBOX);
  const key = sha256(Buffer.concat([Buffer.from(sha256(await readFile(here))), Buffer.from(sha256(busybox))]));
  const keyFile = path.join(outDir, '.cache-key');
  const infoFile = path.join(outDir, 'images.json');
  if (
    existsSync(keyFile) &&
    (await readFile(keyFile, 'utf8')).trim() === key &&
    Object.values(paths).every((p) => existsSync(p)) &&
    existsSync(infoFile)
  ) {
    return paths;
  }
  await mkdir(outDir, { recursive: true });

  const base = { tar: await busyboxLayer(busybox), createdBy: 'ADD busybox-static /bin/busybox + applet links, /etc/passwd, /etc/group' };
  const baseConfig = { Env: [PATH_ENV], Cmd: ['sh'] };
  const specs: Record<keyof TestImagePaths, ImageSpec> = {
    busybox: { ref: testImageRefs.busybox, layers: [base], config: baseConfig, extraHistory: ['CMD ["sh"]'] },
    layers: {
      ref: testImageRefs.layers,
      layers: [
        base,
        { tar: await filesLayer(), createdBy: 'COPY a.txt b.txt keep/x.txt /data/ ; COPY old1 old2 /opaque/' },
        { tar: await whiteoutLayer(), createdBy: 'RUN rm /data/b.txt && rm -rf /opaque/* && echo new > /opaque/new.txt && echo c > /data/c.txt' },
      ],
      config: {
        Env: [PATH_ENV],
        Cmd: ['cat', '/data/a.txt'],
        WorkingDir: '/data',
        Labels: { 'berth.test': 'layers' },
      },
      extraHistory: ['LABEL berth.test=layers', 'WORKDIR /data', 'CMD ["cat","/data/a.txt"]'],
    },
    stopsignal: {
      ref: testImageRefs.stopsignal,
      layers: [base],
      config: {
        Env: [PATH_ENV],
        // Prints "ready", then waits; on SIGUSR1 prints "got SIGUSR1" and
        // exits 42. SIGTERM does nothing (sh as PID 1), so a stop that sends
        // the wrong signal ends in SIGKILL (137) after the timeout.
        Entrypoint: [
          '/bin/sh',
          '-c',
          `trap 'echo got SIGUSR1; exit ${STOPSIGNAL_EXIT_CODE}' USR1; echo ready; while :; do sleep 1 & wait $!; done`,
        ],
        StopSignal: 'SIGUSR1',
        Labels: { 'berth.test': 'stopsignal' },
      },
      extraHistory: ['ENTRYPOINT ["/bin/sh","-c","trap ... USR1; ..."]', 'STOPSIGNAL SIGUSR1'],
    },
  };
  const info: Record<string, TestImageInfo> = {};
  for (const name of Object.keys(specs) as (keyof TestImagePaths)[]) {
    const built = await buildArchive(specs[name]);
    await writeAtomic(paths[name], built.archive);
    info[name] = { ref: specs[name].ref, file: paths[name], id: built.id, diffIds: built.diffIds };
  }
  await writeAtomic(infoFile, JSON.stringify(info, null, 2) + '\n');
  await writeAtomic(keyFile, key + '\n');
  return paths;
}

/** Reads images.json (written by buildTestImages) from outDir. */
export async function readTestImageInfo(outDir: string = process.env.BERTH_TEST_IMAGES || defaultImagesDir): Promise<Record<keyof TestImagePaths, TestImageInfo>> {
  return JSON.parse(await readFile(path.join(outDir, 'images.json'), 'utf8'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === here) {
  const out = process.argv[2] ? path.resolve(process.argv[2]) : defaultImagesDir;
  const paths = await buildTestImages(out);
  for (const p of Object.values(paths)) console.log(p);
}
