// A client for one repository of one registry, speaking the distribution
// protocol (v2) over node:http/https: picks the endpoint (mirror, HTTPS,
// plain HTTP for insecure registries) by pinging /v2/, answers the
// WWW-Authenticate challenge (basic, or bearer tokens from the realm), follows
// blob redirects (without our credentials when they leave the registry) and
// turns registry error bodies into Berth errors with Docker's wording.
// Credentials live in this object for one operation and are never logged.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { BerthError, type ErrorKind } from '../../core/errors.ts';
import { parseChallenges, type Challenge } from './challenge.ts';
import { endpointsFor, tlsFor, type Endpoint, type RegistryConfig } from './endpoints.ts';

/** Credentials a client sent (X-Registry-Auth, POST /auth); used for one request only. */
export interface Credentials {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A Buffer can be sent again after a 401; a stream only once (authenticate first). */
  body?: Buffer | Readable;
  /** Follow 3xx answers (blob downloads). */
  redirect?: boolean;
}

export type Response = http.IncomingMessage;

const TLS_PROTOCOL_ERRORS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ECONNRESET']);

export class RegistryClient {
  readonly domain: string;
  readonly repo: string;
  readonly endpoint: Endpoint;
  private readonly creds: Credentials | undefined;
  private readonly agent: http.Agent;
  private readonly config: RegistryConfig;
  private challenge: Challenge | undefined;
  private token: string | undefined;
  private readonly scopes: Set<string>;

  private constructor(opts: { domain: string; repo: string; endpoint: Endpoint; creds?: Credentials; config: RegistryConfig; scopes: string[]; challenge?: Challenge }) {
    this.domain = opts.domain;
    this.repo = opts.repo;
    this.endpoint = opts.endpoint;
    this.creds = opts.creds;
    this.config = opts.config;
    this.scopes = new Set(opts.scopes);
    this.challenge = opts.challenge;
    const agentOpts = { keepAlive: true, maxSockets: 16, ...opts.endpoint.tls };
    this.agent = opts.endpoint.base.startsWith('https:') ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
  }

  /**
   * Connects to the first endpoint of `domain` that answers /v2/. `actions`
   * are the repository actions tokens are asked for ("pull", "push").
   */
  static async open(opts: {
    domain: string;
    repo: string;
    config: RegistryConfig;
    creds?: Credentials;
    actions: string[];
    mirrors?: boolean;
  }): Promise<RegistryClient> {
    let endpoints = await endpointsFor(opts.domain, opts.config, opts.actions.length === 1 && opts.actions[0] === 'pull');
    if (opts.mirrors === false) endpoints = endpoints.filter((e) => !e.mirror);
    const scopes = opts.repo ? [`repository:${opts.repo}:${opts.actions.join(',')}`] : [];
    let lastError: unknown;
    for (let i = 0; i < endpoints.length; i++) {
      const endpoint = endpoints[i];
      const client = new RegistryClient({ ...opts, endpoint, scopes });
      try {
        await client.ping();
        return client;
      } catch (err) {
        client.close();
        lastError = err;
        const code = (err as NodeJS.ErrnoException).code ?? '';
        const next = endpoint.fallback === 'any-error' || endpoint.mirror || (endpoint.fallback === 'not-tls' && TLS_PROTOCOL_ERRORS.has(code));
        if (!next || i === endpoints.length - 1) break;
      }
    }
    throw connectError(lastError, endpoints[0]?.base ?? opts.domain);
  }

  /** GET /v2/: learns the authentication challenge. */
  private async ping(): Promise<void> {
    const res = await this.raw('GET', `${this.endpoint.base}/v2/`, {}, undefined);
    res.resume();
    if (res.statusCode === 401) {
      this.challenge = pickChallenge(res.headers['www-authenticate']);
      return;
    }
    if (res.statusCode !== 200) throw new BerthError('unavailable', `${this.endpoint.base}/v2/ answered ${res.statusCode} ${res.statusMessage ?? ''}`.trim());
  }

  /**
   * Checks the credentials (docker login): a token for no repository, or /v2/
   * answering 200. A token server that hands out refresh tokens (asked for
   * offline access, as Docker asks) gives one back: the CLI keeps it as the
   * identity token instead of the password.
   */
  async verifyLogin(): Promise<{ refreshToken?: string }> {
    if (!this.challenge) return {};
    if (this.challenge.scheme === 'bearer') {
      if (!this.creds?.username && !this.creds?.identityToken) throw new BerthError('unauthorized', 'unauthorized: no credentials given');
      const { refreshToken } = await this.fetchToken(true);
      return { refreshToken };
    }
    const res = await this.request('GET', '/v2/');
    res.resume();
    if (res.statusCode !== 200) {
      throw new BerthError('unauthorized', `login attempt to ${this.endpoint.base}/v2/ failed with status: ${res.statusCode} ${http.STATUS_CODES[res.statusCode ?? 0] ?? ''}`.trim());
    }
    return {};
  }

  /** Asks tokens to also cover `scope` from now on (cross-repository mounts). */
  addScope(scope: string): void {
    if (this.scopes.has(scope)) return;
    this.scopes.add(scope);
    this.token = undefined;
  }

  /** A request against the registry; `target` is a path ("/v2/...") or an absolute URL (upload locations). */
  async request(method: string, target: string, opts: RequestOptions = {}): Promise<Response> {
    const url = target.startsWith('/') ? `${this.endpoint.base}${target}` : new URL(target, this.endpoint.base + '/').toString();
    for (let attempt = 0; ; attempt++) {
      const headers = { ...opts.headers };
      const auth = await this.authorization();
      if (auth) headers.Authorization = auth;
      let res = await this.raw(method, url, headers, opts.body);
      if (res.statusCode === 401 && attempt === 0 && !(opts.body && !Buffer.isBuffer(opts.body))) {
        const fresh = pickChallenge(res.headers['www-authenticate']);
        res.resume();
        if (fresh) {
          this.challenge = fresh;
          this.token = undefined;
          if (fresh.params.scope) for (const s of fresh.params.scope.split(' ')) this.scopes.add(s);
          continue;
        }
      }
      let hops = 0;
      while (opts.redirect && res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && res.headers.location && hops++ < 5) {
        res.resume();
        const next = new URL(res.headers.location, url);
        const same = next.origin === new URL(url).origin;
        const h = { ...opts.headers };
        if (same && auth) h.Authorization = auth;
        res = same ? await this.raw(method, next.toString(), h, undefined) : await this.foreign(method, next, h);
      }
      return res;
    }
  }

  /** A request to another host (a blob redirect to storage): its own TLS material, none of our credentials. */
  private async foreign(method: string, url: URL, headers: Record<string, string>): Promise<Response> {
    const tls = url.protocol === 'https:' ? await tlsFor(url.host, this.config.certsDir) : {};
    return send(method, url.toString(), headers, undefined, undefined, tls);
  }

  private raw(method: string, url: string, headers: Record<string, string>, body: Buffer | Readable | undefined): Promise<Response> {
    return send(method, url, { 'User-Agent': 'berth/0.1', ...headers }, body, this.agent, undefined);
  }

  private async authorization(): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      if (!this.creds?.username) return undefined;
      return 'Basic ' + Buffer.from(`${this.creds.username}:${this.creds.password ?? ''}`).toString('base64');
    }
    if (c.scheme === 'bearer') {
      if (this.creds?.registryToken) return `Bearer ${this.creds.registryToken}`;
      this.token ??= (await this.fetchToken(false)).token;
      return `Bearer ${this.token}`;
    }
    return undefined;
  }

  private async fetchToken(offline: boolean): Promise<{ token: string; refreshToken?: string }> {
    const c = this.challenge!;
    const realm = c.params.realm;
    if (!realm) throw new BerthError('unauthorized', 'unauthorized: the registry asked for a token but named no realm');
    const url = new URL(realm);
    const form = new URLSearchParams();
    if (c.params.service) form.set('service', c.params.service);
    for (const s of this.scopes) form.append('scope', s);
    let res: Response;
    const tls = url.protocol === 'https:' ? await tlsFor(url.host, this.config.certsDir) : {};
    if (this.creds?.identityToken) {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', this.creds.identityToken);
      form.set('client_id', CLIENT_ID);
      const body = Buffer.from(form.toString());
      res = await send('POST', url.toString(), { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(body.length) }, body, undefined, tls);
    } else {
      if (offline) {
        form.set('offline_token', 'true');
        form.set('client_id', CLIENT_ID);
      }
      for (const [k, v] of form) url.searchParams.append(k, v);
      const headers: Record<string, string> = {};
      if (this.creds?.username) headers.Authorization = 'Basic ' + Buffer.from(`${this.creds.username}:${this.creds.password ?? ''}`).toString('base64');
      res = await send('GET', url.toString(), headers, undefined, undefined, tls);
    }
    const text = (await readBody(res, 1 << 20)).toString('utf8');
    if (res.statusCode !== 200) {
      const kind: ErrorKind = res.statusCode === 401 ? 'unauthorized' : res.statusCode === 403 ? 'forbidden' : 'unavailable';
      throw new BerthError(kind, `Get "${url.origin}${url.pathname}": ${registryErrorText(text) || `${res.statusCode} ${http.STATUS_CODES[res.statusCode ?? 0] ?? ''}`.trim()}`);
    }
    let doc: { token?: string; access_token?: string; refresh_token?: string };
    try {
      doc = JSON.parse(text);
    } catch {
      throw new BerthError('unavailable', `the token server at ${url.origin} answered with something that is not JSON`);
    }
    const token = doc.access_token || doc.token;
    if (!token) throw new BerthError('unavailable', `the token server at ${url.origin} answered without a token`);
    return { token, refreshToken: typeof doc.refresh_token === 'string' && doc.refresh_token ? doc.refresh_token : undefined };
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The client id token servers see (Docker sends "docker"; servers may key refresh tokens by it). */
const CLIENT_ID = 'docker';

function pickChallenge(header: string | string[] | undefined): Challenge | undefined {
  const all = parseChallenges(header);
  return all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
}

function send(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: Buffer | Readable | undefined,
  agent: http.Agent | undefined,
  tls: object | undefined,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const h = { ...headers };
    if (Buffer.isBuffer(body)) h['Content-Length'] = String(body.length);
    else if (!body && !['GET', 'HEAD', 'DELETE'].includes(method)) h['Content-Length'] = '0';
    const req = mod.request(u, { method, headers: h, agent: agent ?? false, ...(agent ? {} : tls) }, resolve);
    req.on('error', reject);
    req.setTimeout(120_000, () => req.destroy(Object.assign(new Error(`${method} ${u.origin}${u.pathname}: no answer within 120 s`), { code: 'ETIMEDOUT' })));
    if (body && !Buffer.isBuffer(body)) {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    } else {
      req.end(body);
    }
  });
}

export async function readBody(res: Response, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res) {
    size += (c as Buffer).length;
    if (size > limit) {
      res.destroy();
      throw new BerthError('invalid', `the registry answered with more than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** "denied: requested access to the resource is denied" from a registry's error body. */
export function registryErrorText(body: string): string {
  try {
    const doc = JSON.parse(body) as { errors?: { code?: string; message?: string }[]; details?: string };
    if (Array.isArray(doc.errors) && doc.errors.length > 0) {
      return doc.errors.map((e) => `${(e.code ?? 'error').toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`.trim()).join(', ');
    }
    if (doc.details) return doc.details;
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 200);
}

/** Reads the error body of an unexpected answer and throws the matching Berth error. */
export async function failure(res: Response, what: string): Promise<never> {
  const text = (await readBody(res, 1 << 20).catch(() => Buffer.alloc(0))).toString('utf8');
  const status = res.statusCode ?? 0;
  const kind: ErrorKind = status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'not-found' : status >= 500 ? 'unavailable' : 'invalid';
  const detail = registryErrorText(text) || (status === 401 ? 'unauthorized: authentication required' : `${status} ${http.STATUS_CODES[status] ?? ''}`.trim());
  throw new BerthError(kind, `${what}: ${detail}`);
}

function connectError(err: unknown, base: string): BerthError {
  if (err instanceof BerthError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT/.test(code)) {
    return new BerthError('unavailable', `Get "${base}/v2/": tls: failed to verify certificate: ${e.message}`);
  }
  if (TLS_PROTOCOL_ERRORS.has(code) && base.startsWith('https:')) {
    return new BerthError('unavailable', `Get "${base}/v2/": http: server gave HTTP response to HTTPS client`);
  }
  return new BerthError('unavailable', `Get "${base}/v2/": ${e?.message ?? String(err)}`);
}
