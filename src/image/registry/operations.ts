// docker pull / push / login on a node: references and tags resolved against
// the image store, a registry client per operation (its credentials die
// with it), staging and commit through the store's own primitives.
import { BerthError, invalid, isKind, notFound } from '../../core/errors.ts';
import { familiarName, familiarString, parseReference, type Reference } from '../../core/reference.ts';
import type { ImageRecord } from '../../core/types.ts';
import type { RegistryAuth } from '../../agent/agent-api.ts';
import type { ContentStore } from '../content-store.ts';
import type { LayerStore } from '../layer-store.ts';
import type { LoadPlan } from '../load.ts';
import { DOCKER_HUB, type RegistryConfig } from './endpoints.ts';
import { hostPlatform, parsePlatform } from './platform.ts';
import type { Progress } from './progress.ts';
import { pullImage, type BlobSource } from './pull.ts';
import { DEFAULT_CHUNK, pushImage } from './push.ts';
import { failure, readBody, RegistryClient, type Credentials } from './registry-client.ts';

/** What the registry operations need of the image store. */
export interface StoreAccess {
  content: ContentStore;
  layers: LayerStore;
  /** A fresh staging directory and its removal. */
  staging(kind: string): Promise<{ dir: string; done: () => Promise<void> }>;
  pin(digest: string): () => void;
  /** Commits a plan under the store's lock. */
  commit(plan: LoadPlan): Promise<void>;
  find(ref: string): Promise<ImageRecord | undefined>;
  /** Familiar "name:tag" keys of a repository with their image ids. */
  tagsOf(repo: string): Promise<{ tag: string; id: string }[]>;
  addRepoDigest(imageId: string, digestRef: string): Promise<void>;
  sources(diffId: string): Promise<BlobSource[]>;
  remember(source: BlobSource): Promise<void>;
}

export interface RegistryOptions extends RegistryConfig {
  /** Bytes per PATCH of a chunked upload. */
  uploadChunkSize?: number;
}

function credentials(auth: RegistryAuth | undefined): Credentials | undefined {
  if (!auth) return undefined;
  const c: Credentials = { username: auth.username || undefined, password: auth.password || undefined, identityToken: auth.identityToken || undefined, registryToken: auth.registryToken || undefined };
  return c.username || c.identityToken || c.registryToken ? c : undefined;
}

export async function pull(
  acc: StoreAccess,
  config: RegistryOptions,
  input: string,
  opts: { platform?: string; auth?: RegistryAuth; allTags?: boolean },
  progress: Progress,
): Promise<string[]> {
  const ref = parseReference(input);
  const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const open = (mirrors: boolean) => RegistryClient.open({ domain: ref.domain, repo: ref.path, config, creds: credentials(opts.auth), actions: ['pull'], mirrors });
  let client = await open(true).catch((err) => {
    throw pullDenied(err, ref);
  });
  try {
    let refs: Reference[] = [ref];
    if (opts.allTags) {
      if (ref.tag || ref.digest) throw invalid('tag can\'t be used with --all-tags/-a');
      refs = (await listTags(client)).map((tag) => ({ ...ref, tag }));
      if (refs.length === 0) throw notFound(`no tags found for ${familiarName(ref)}`);
    }
    const pulled: string[] = [];
    for (const r of refs) {
      try {
        pulled.push(await pullOne(acc, client, r, platform, progress));
      } catch (err) {
        // A mirror that lacks the image: ask the registry itself.
        if (!client.endpoint.mirror) throw err;
        client.close();
        client = await open(false);
        pulled.push(await pullOne(acc, client, r, platform, progress));
      }
    }
    return pulled;
  } catch (err) {
    throw pullDenied(err, ref);
  } finally {
    client.close();
  }
}

/** Docker's wording when a repository cannot be read; a not-found as Docker's (a 401 would make the CLI prompt for a login). */
function pullDenied(err: unknown, ref: Reference): unknown {
  if (isKind(err, 'unauthorized') || isKind(err, 'forbidden')) {
    return new BerthError('not-found', `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${err.message}`);
  }
  return err;
}

async function pullOne(acc: StoreAccess, client: RegistryClient, ref: Reference, platform: ReturnType<typeof hostPlatform>, progress: Progress): Promise<string> {
  const { dir, done } = await acc.staging('pull');
  const unpins: (() => void)[] = [];
  try {
    const result = await pullImage(client, ref, platform, {
      content: acc.content,
      layers: acc.layers,
      staging: dir,
      pin: (d) => unpins.push(acc.pin(d)),
      progress,
    });
    const name = familiarString(ref.digest ? ref : { ...ref, tag: ref.tag ?? 'latest' });
    const before = await acc.find(result.image.id);
    const upToDate = result.upToDate && !!before && result.image.tags.every((t) => before.repoTags.includes(t)) && result.image.digests!.every((d) => before.repoDigests.includes(d));
    await acc.commit(result.plan);
    for (const s of result.sources) await acc.remember(s);
    progress({ status: `Digest: ${result.digest}` });
    progress({ status: upToDate ? `Status: Image is up to date for ${name}` : `Status: Downloaded newer image for ${name}` });
    return name;
  } finally {
    for (const u of unpins) u();
    await done();
  }
}

async function listTags(client: RegistryClient): Promise<string[]> {
  const tags: string[] = [];
  let next: string | undefined = `/v2/${client.repo}/tags/list`;
  for (let page = 0; next && page < 100; page++) {
    const res = await client.request('GET', next);
    if (res.statusCode !== 200) await failure(res, `tags of ${client.repo}`);
    const doc = JSON.parse((await readBody(res, 16 << 20)).toString('utf8')) as { tags?: string[] | null };
    tags.push(...(doc.tags ?? []));
    const link = /<([^>]+)>;\s*rel="?next"?/.exec(String(res.headers.link ?? ''));
    next = link?.[1];
  }
  return tags.sort();
}

export async function push(acc: StoreAccess, config: RegistryOptions, input: string, opts: { auth?: RegistryAuth }, progress: Progress): Promise<void> {
  const ref = parseReference(input);
  if (ref.digest) throw invalid('cannot push a digest reference');
  const repo = familiarName(ref);
  const targets: { tag: string; img: ImageRecord }[] = [];
  if (ref.tag) {
    const img = await acc.find(familiarString(ref));
    if (img) targets.push({ tag: ref.tag, img });
  } else {
    for (const t of await acc.tagsOf(repo)) {
      const img = await acc.find(t.id);
      if (img) targets.push({ tag: t.tag.slice(repo.length + 1), img });
    }
  }
  if (targets.length === 0) throw notFound(`An image does not exist locally with the tag: ${repo}`);
  progress({ status: `The push refers to repository [${ref.domain}/${ref.path}]` });
  const client = await RegistryClient.open({ domain: ref.domain, repo: ref.path, config, creds: credentials(opts.auth), actions: ['pull', 'push'] });
  try {
    for (const { tag, img } of targets) {
      const { dir, done } = await acc.staging('push');
      try {
        const { digest, size } = await pushImage(client, img, tag, {
          content: acc.content,
          staging: dir,
          sources: acc.sources,
          remember: acc.remember,
          progress,
          chunkSize: config.uploadChunkSize ?? DEFAULT_CHUNK,
        });
        await acc.addRepoDigest(img.id, `${repo}@${digest}`);
        progress({ status: `${tag}: digest: ${digest} size: ${size}` });
        progress({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: size } });
      } finally {
        await done();
      }
    }
  } finally {
    client.close();
  }
}

/** "https://index.docker.io/v1/", "http://localhost:5000", "localhost:5000" -> registry domain. */
export function registryDomain(serverAddress: string | undefined): string {
  if (!serverAddress) return DOCKER_HUB;
  const host = serverAddress.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'docker.io') return DOCKER_HUB;
  return host;
}

export async function login(config: RegistryOptions, auth: RegistryAuth): Promise<{ identityToken?: string }> {
  const domain = registryDomain(auth.serverAddress);
  const client = await RegistryClient.open({ domain, repo: '', config, creds: credentials(auth), actions: [], mirrors: false });
  try {
    const { refreshToken } = await client.verifyLogin();
    return refreshToken ? { identityToken: refreshToken } : {};
  } finally {
    client.close();
  }
}
