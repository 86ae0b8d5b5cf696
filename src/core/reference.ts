// Image references as Docker spells them: [domain/]path[:tag][@digest].
// Familiar form ("busybox:latest") is what RepoTags show; the full form
// ("docker.io/library/busybox:latest") is the canonical identity.
import { invalid } from './errors.ts';

export interface Reference {
  domain: string; // "docker.io" when none was given
  path: string; // "library/busybox"
  tag?: string;
  digest?: string; // "sha256:..."
}

const DEFAULT_DOMAIN = 'docker.io';
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
/** Host name components or a bracketed IPv6 address, with an optional numeric port. */
const DOMAIN = /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function parseReference(input: string): Reference {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(`invalid reference format: ${input}`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(`invalid reference format: ${input}`);
  }
  if (rest === '') throw invalid(`invalid reference format: ${input}`);
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN.test(domain)) throw invalid(`invalid reference format: ${input}`);
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  for (const part of path.split('/')) {
    if (!PATH_COMPONENT.test(part)) {
      throw invalid(`invalid reference format: repository name (${path}) must be lowercase`);
    }
  }
  return { domain, path, tag, digest };
}

/** Reference with ":latest" added when neither tag nor digest was given. */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag || ref.digest ? ref : { ...ref, tag: 'latest' };
}

/** Repository name in familiar form: "busybox", "user/app", "localhost:5000/app". */
export function familiarName(ref: Reference): string {
  if (ref.domain === DEFAULT_DOMAIN) return ref.path.startsWith('library/') ? ref.path.slice(8) : ref.path;
  return `${ref.domain}/${ref.path}`;
}

/** "busybox:latest" / "busybox@sha256:..." as Docker shows them in RepoTags and RepoDigests. */
export function familiarString(ref: Reference): string {
  let s = familiarName(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** Normalizes what a user typed into the familiar "name:tag" form used as a tag key. */
export function normalizeTagged(input: string): string {
  return familiarString(withDefaultTag(parseReference(input)));
}
