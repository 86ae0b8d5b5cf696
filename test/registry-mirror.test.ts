// End to end: a registry mirror for Docker Hub names. A daemon started with
// --registry-mirror sends pulls of docker.io names ("busybox" means
// docker.io/library/busybox) to a second local registry, so that neither the
// CLI nor the image's names show the mirror; other registries are untouched.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';
import { startRegistry, type Registry } from './helpers/registry.ts';

let d: Daemon;
let mirror: Registry;
let other: Registry;
let IMAGE: string;

before(async () => {
  mirror = await startRegistry();
  other = await startRegistry();
  d = await startDaemon({ args: ['--registry-mirror', mirror.url] });
  IMAGE = await loadTestImage(d, 'busybox');
});
after(async () => {
  await d?.cleanup();
  await mirror?.stop();
  await other?.stop();
});

const ok = async (args: string[]): Promise<string> => dockerOk(d, args, { timeoutMs: 120_000 });

/** Seeds the mirror with the test image as Docker Hub's `repo` (library/NAME for one-word names). */
async function seedMirror(repo: string, tag: string): Promise<string> {
  const onMirror = `${mirror.host}/${repo}:${tag}`;
  await ok(['tag', IMAGE, onMirror]);
  const pushed = await ok(['push', onMirror]);
  await ok(['rmi', onMirror]);
  return /digest: (sha256:[a-f0-9]{64})/.exec(pushed)![1];
}

test('docker pull NAME resolves to docker.io/library/NAME and is served by the mirror', async () => {
  const name = uniqueName('mirrored');
  const digest = await seedMirror(`library/${name}`, 'latest');
  const out = await ok(['pull', name]);
  assert.match(out, new RegExp(`Pulling from library/${name}`));
  assert.match(out, new RegExp(`Digest: ${digest}`));
  assert.match(out, new RegExp(`Status: Downloaded newer image for ${name}:latest`));
  const tags = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .RepoTags}}', name])) as string[];
  const digests = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .RepoDigests}}', name])) as string[];
  // Named as Docker Hub's image (the same image also carries the test image's tag and the seeding push's digest).
  assert.ok(tags.includes(`${name}:latest`), JSON.stringify(tags));
  assert.ok(!tags.some((t) => t.startsWith(mirror.host)), JSON.stringify(tags));
  assert.ok(digests.includes(`${name}@${digest}`), JSON.stringify(digests));
  // The fully qualified name is the same image.
  const again = await ok(['pull', `docker.io/library/${name}:latest`]);
  assert.match(again, /Status: Image is up to date for /);
  assert.equal((await ok(['run', '--rm', name, 'echo', 'via-mirror'])).trim(), 'via-mirror');
  await ok(['rmi', name]);
});

test('user/repo names and docker run of a missing image go through the mirror too', async () => {
  const repo = `${uniqueName('user')}/app`;
  await seedMirror(repo, 'v2');
  const r = await d.docker(['run', '--rm', `${repo}:v2`, 'echo', 'run-via-mirror'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Unable to find image/);
  assert.equal(r.stdout.trim(), 'run-via-mirror');
  await ok(['image', 'inspect', `docker.io/${repo}:v2`]);
  await ok(['rmi', `${repo}:v2`]);
});

test('a build FROM a Docker Hub name pulls it from the mirror', async () => {
  const name = uniqueName('mbase');
  await seedMirror(`library/${name}`, 'latest');
  const tag = uniqueName('mbuilt');
  const r = await d.docker(['build', '-t', tag, '-'], { input: `FROM ${name}\nRUN echo from-mirror > /m\n`, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`latest: Pulling from library/${name}`));
  assert.equal((await ok(['run', '--rm', tag, 'cat', '/m'])).trim(), 'from-mirror');
  await ok(['rmi', tag, name]);
});

test('names of other registries do not use the mirror; pushes never go to it', async () => {
  const ref = `${other.host}/${uniqueName('direct')}:1`;
  await ok(['tag', IMAGE, ref]);
  await ok(['push', ref]);
  await ok(['rmi', ref]);
  await ok(['pull', ref]);
  // The mirror never saw that repository.
  const res = await fetch(`${mirror.url}/v2/_catalog`);
  const catalog = (await res.json()) as { repositories: string[] };
  assert.ok(!catalog.repositories.some((r) => r.includes(ref.split('/')[1].split(':')[0])), JSON.stringify(catalog));
  await ok(['rmi', ref]);

  // A Docker Hub push goes to Docker Hub itself (unreachable here), not to the mirror.
  const hub = `${uniqueName('hubuser')}/pushed:1`;
  await ok(['tag', IMAGE, hub]);
  const push = await d.docker(['push', hub], { timeoutMs: 120_000 });
  assert.notEqual(push.code, 0);
  const after = (await (await fetch(`${mirror.url}/v2/_catalog`)).json()) as { repositories: string[] };
  assert.ok(!after.repositories.includes(hub.split(':')[0]), JSON.stringify(after));
  await ok(['rmi', hub]);
});
