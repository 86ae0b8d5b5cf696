// Registries that want credentials or speak TLS: basic auth (htpasswd with
// bcrypt), bearer tokens from a token server the test runs (JWTs signed
// with a certificate the registry trusts), and TLS with a CA the test makes
// and the daemon learns from its certs.d directory.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, createSign, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { dockerOk, startDaemon, uniqueName, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';
import { startRegistry, type Registry } from './helpers/registry.ts';

const run = promisify(execFile);
let d: Daemon;
let IMAGE: string;
let work: string;
let certsDir: string;

before(async () => {
  work = await mkdtemp(path.join(process.env.BERTH_TEST_TMPDIR || tmpdir(), 'berth-regauth-'));
  certsDir = path.join(work, 'certs.d');
  await mkdir(certsDir);
  d = await startDaemon({ args: ['--registry-certs-dir', certsDir] });
  IMAGE = await loadTestImage(d, 'busybox');
});
after(async () => {
  await d?.cleanup();
  await rm(work, { recursive: true, force: true });
});

async function docker(args: string[], input?: string) {
  return d.docker(args, { input, timeoutMs: 120_000 });
}

const ok = (args: string[], input?: string): Promise<string> => dockerOk(d, args, { input, timeoutMs: 120_000 });

describe('basic auth', () => {
  let reg: Registry;
  before(async () => {
    reg = await startRegistry({ htpasswd: { alice: 's3cret-pw' } });
  });
  after(() => reg?.stop());

  test('push needs a login; a wrong password is refused; login, push, pull, logout', async () => {
    const ref = `${reg.host}/${uniqueName('basic')}:1`;
    await ok(['tag', IMAGE, ref]);
    const anon = await docker(['push', ref]);
    assert.notEqual(anon.code, 0, 'push without credentials fails');
    assert.match(anon.stderr + anon.stdout, /unauthorized|authentication required/);

    const wrong = await docker(['login', '-u', 'alice', '--password-stdin', reg.host], 'not-the-password');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /401|unauthorized/i);

    assert.match(await ok(['login', '-u', 'alice', '--password-stdin', reg.host], 's3cret-pw'), /Login Succeeded/);
    await ok(['push', ref]);
    await ok(['rmi', ref]);
    await ok(['pull', ref]);
    assert.equal((await ok(['run', '--rm', ref, 'echo', 'basic-ok'])).trim(), 'basic-ok');
    assert.ok(!d.logs().includes('s3cret-pw'), 'the password never reaches the daemon log');

    await ok(['logout', reg.host]);
    await ok(['rmi', ref]);
    const denied = await docker(['pull', ref]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /pull access denied/);
  });
});

/**
 * A token server: grants what is asked to alice (Basic auth), nothing to
 * anyone else. Asked for offline access (GET ...&offline_token=true) it also
 * hands out a refresh token, which later buys tokens through the OAuth form
 * POST (grant_type=refresh_token), as Docker's token servers do.
 */
async function tokenServer(dir: string) {
  const key = path.join(dir, 'token.key');
  const cert = path.join(dir, 'token.crt');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=berth-test-token']);
  const privateKey = createPrivateKey(await readFile(key));
  const der = new X509Certificate(await readFile(cert)).raw.toString('base64');
  const requests: { scope: string[]; user: string; method?: string }[] = [];
  const refreshTokens = new Set<string>();
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const authz = req.headers.authorization ?? '';
    let user = authz.startsWith('Basic ') ? Buffer.from(authz.slice(6), 'base64').toString() : '';
    let params = url.searchParams;
    if (req.method === 'POST') {
      let body = '';
      for await (const c of req) body += (c as Buffer).toString();
      params = new URLSearchParams(body);
      const rt = params.get('refresh_token') ?? '';
      user = params.get('grant_type') === 'refresh_token' && refreshTokens.has(rt) && params.get('client_id') ? 'alice:tok-pw' : '';
    }
    const scope = params.getAll('scope');
    requests.push({ scope, user: user.split(':')[0], method: req.method });
    if (user !== 'alice:tok-pw') {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scope
      .map((s) => s.split(':'))
      .filter((p) => p.length >= 3 && p[0] === 'repository')
      .map((p) => ({ type: 'repository', name: p.slice(1, -1).join(':'), actions: p[p.length - 1].split(',') }));
    const claims = { iss: 'berth-test-issuer', sub: 'alice', aud: 'berth-test', exp: now + 300, nbf: now - 30, iat: now, jti: uniqueName('jti'), access };
    const signingInput = `${b64({ typ: 'JWT', alg: 'RS256', x5c: [der] })}.${b64(claims)}`;
    const sig = createSign('RSA-SHA256').update(signingInput).sign(privateKey).toString('base64url');
    const doc: Record<string, unknown> = { token: `${signingInput}.${sig}`, expires_in: 300 };
    if (req.method === 'GET' && params.get('offline_token') === 'true' && params.get('client_id')) {
      doc.refresh_token = uniqueName('refresh');
      refreshTokens.add(doc.refresh_token as string);
    }
    if (req.method === 'POST') doc.access_token = doc.token;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(doc));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { realm: `http://127.0.0.1:${port}/token`, cert, requests, refreshTokens, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A registry that trusts a token server of its own, started for one describe block. */
function tokenRegistry(): { reg: Registry; tokens: Awaited<ReturnType<typeof tokenServer>> } {
  const t = {} as { reg: Registry; tokens: Awaited<ReturnType<typeof tokenServer>> };
  before(async () => {
    t.tokens = await tokenServer(work);
    t.reg = await startRegistry({ token: { realm: t.tokens.realm, service: 'berth-test', issuer: 'berth-test-issuer', rootCertBundle: t.tokens.cert } });
  });
  after(async () => {
    await t.reg?.stop();
    await t.tokens?.close();
  });
  return t;
}

describe('bearer token auth', () => {
  const t = tokenRegistry();

  test('login, push and pull through tokens from the realm; anonymous pulls are denied', async () => {
    const name = uniqueName('tok');
    const ref = `${t.reg.host}/${name}:1`;
    await ok(['tag', IMAGE, ref]);
    const wrong = await docker(['login', '-u', 'alice', '--password-stdin', t.reg.host], 'nope');
    assert.notEqual(wrong.code, 0);
    assert.match(await ok(['login', '-u', 'alice', '--password-stdin', t.reg.host], 'tok-pw'), /Login Succeeded/);
    await ok(['push', ref]);
    assert.ok(
      t.tokens.requests.some((r) => r.user === 'alice' && r.scope.includes(`repository:${name}:pull,push`)),
      `a push token was asked for: ${JSON.stringify(t.tokens.requests)}`,
    );
    await ok(['rmi', ref]);
    await ok(['pull', ref]);
    assert.equal((await ok(['run', '--rm', ref, 'echo', 'token-ok'])).trim(), 'token-ok');
    await ok(['logout', t.reg.host]);
    await ok(['rmi', ref]);
    const denied = await docker(['pull', ref]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /pull access denied/);
  });
});

describe('refresh tokens', () => {
  const t = tokenRegistry();

  test('login keeps the refresh token as the identity token instead of the password; push and pull trade it for tokens', async () => {
    const name = uniqueName('refresh');
    const ref = `${t.reg.host}/${name}:1`;
    await ok(['tag', IMAGE, ref]);
    assert.match(await ok(['login', '-u', 'alice', '--password-stdin', t.reg.host], 'tok-pw'), /Login Succeeded/);
    const config = JSON.parse(await readFile(path.join(d.dir, 'docker-config', 'config.json'), 'utf8')) as { auths: Record<string, { auth?: string; identitytoken?: string }> };
    const entry = config.auths[t.reg.host];
    assert.ok(entry?.identitytoken && t.tokens.refreshTokens.has(entry.identitytoken), `the CLI stored a refresh token: ${JSON.stringify(config)}`);
    assert.ok(!Buffer.from(entry.auth ?? '', 'base64').toString().includes('tok-pw'), 'the password is not stored');

    const before = t.tokens.requests.length;
    await ok(['push', ref]);
    await ok(['rmi', ref]);
    await ok(['pull', ref]);
    const later = t.tokens.requests.slice(before);
    assert.ok(later.some((r) => r.method === 'POST' && r.user === 'alice' && r.scope.includes(`repository:${name}:pull,push`)), JSON.stringify(later));
    assert.ok(later.every((r) => r.method === 'POST'), `no password was sent after the login: ${JSON.stringify(later)}`);
    assert.ok(!d.logs().includes(entry.identitytoken!), 'the refresh token never reaches the daemon log');

    t.tokens.refreshTokens.clear(); // revoked: the next pull is denied
    await ok(['rmi', ref]);
    const denied = await docker(['pull', ref]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /pull access denied|unauthorized/);
    await ok(['logout', t.reg.host]);
  });
});

describe('TLS', () => {
  let reg: Registry;
  let caCert: string;
  before(async () => {
    const dir = path.join(work, 'tls');
    await mkdir(dir);
    caCert = path.join(dir, 'ca.crt');
    const caKey = path.join(dir, 'ca.key');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', caCert, '-days', '1', '-subj', '/CN=berth-test-ca']);
    const key = path.join(dir, 'srv.key');
    const csr = path.join(dir, 'srv.csr');
    const crt = path.join(dir, 'srv.crt');
    const ext = path.join(dir, 'ext.cnf');
    await writeFile(ext, 'subjectAltName=IP:127.0.0.1\n');
    await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
    await run('openssl', ['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-out', crt, '-days', '1', '-extfile', ext]);
    reg = await startRegistry({ tls: { cert: crt, key } });
  });
  after(() => reg?.stop());

  test('an unknown CA is refused; with its ca.crt in certs.d push and pull work', async () => {
    const ref = `${reg.host}/${uniqueName('tls')}:1`;
    await ok(['tag', IMAGE, ref]);
    const untrusted = await docker(['push', ref]);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr + untrusted.stdout, /certificate/);
    await mkdir(path.join(certsDir, reg.host), { recursive: true });
    await copyFile(caCert, path.join(certsDir, reg.host, 'ca.crt'));
    await ok(['push', ref]);
    await ok(['rmi', ref]);
    await ok(['pull', ref]);
    assert.equal((await ok(['run', '--rm', ref, 'echo', 'tls-ok'])).trim(), 'tls-ok');
  });
});
