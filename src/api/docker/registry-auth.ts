// X-Registry-Auth: base64(url) JSON credentials the docker CLI sends with
// pull and push. They go to the registry for this one request and nowhere
// else (never stored, never logged).
import type { IncomingHttpHeaders } from 'node:http';
import { invalid } from '../../core/errors.ts';
import type { RegistryAuth } from '../../agent/agent-api.ts';

export function registryAuthFromHeader(headers: IncomingHttpHeaders): RegistryAuth | undefined {
  const raw = headers['x-registry-auth'];
  if (typeof raw !== 'string' || raw.trim() === '') return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(raw.trim(), 'base64').toString('utf8'));
  } catch {
    throw invalid('invalid X-Registry-Auth header: not base64-encoded JSON');
  }
  return registryAuth(doc);
}

/** The credentials of an AuthConfig object (keys in any case, "auth" as base64 "user:password"). */
export function registryAuth(doc: unknown): RegistryAuth | undefined {
  if (!doc || typeof doc !== 'object') return undefined;
  const get = (k: string): string | undefined => {
    for (const [key, v] of Object.entries(doc)) if (key.toLowerCase() === k && typeof v === 'string' && v !== '') return v;
    return undefined;
  };
  const auth: RegistryAuth = {
    username: get('username'),
    password: get('password'),
    identityToken: get('identitytoken'),
    registryToken: get('registrytoken'),
    serverAddress: get('serveraddress'),
  };
  const combined = get('auth');
  if (combined && !auth.username) {
    const text = Buffer.from(combined, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) {
      auth.username = text.slice(0, colon);
      auth.password = text.slice(colon + 1);
    }
  }
  return auth;
}
