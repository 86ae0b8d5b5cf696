// A private Distribution registry (Debian's docker-registry) for a test:
// its own config file, a free loopback port and a temp storage directory;
// optionally basic auth (htpasswd, bcrypt), token auth (a realm the test
// serves) and TLS (a certificate the test made).
//
//   const reg = await startRegistry();
//   after(() => reg.stop());
//   await d.docker(['push', `${reg.host}/app:1`]);
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';

const run = promisify(execFile);

export interface RegistryOptions {
  /** Basic auth: users and passwords (an htpasswd file with bcrypt hashes is made). */
  htpasswd?: Record<string, string>;
  /** Token auth: the realm URL, service and issuer names, and the PEM bundle of the signing certificate. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** TLS: certificate (chain) and key files. */
  tls?: { cert: string; key: string };
}

export interface Registry {
  /** "127.0.0.1:PORT": what image references start with. */
  host: string;
  port: number;
  /** Base URL ("http://127.0.0.1:PORT"). */
  url: string;
  dir: string;
  logs(): string;
  stop(): Promise<void>;
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const dir = await mkdtemp(path.join(process.env.BERTH_TEST_TMPDIR || tmpdir(), 'berth-registry-'));
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: berth-test-secret',
  ];
  if (opts.tls) lines.push('  tls:', `    certificate: ${opts.tls.cert}`, `    key: ${opts.tls.key}`);
  if (opts.htpasswd) {
    const file = path.join(dir, 'htpasswd');
    let content = '';
    for (const [user, pass] of Object.entries(opts.htpasswd)) {
      const { stdout } = await run('htpasswd', ['-nbB', user, pass]);
      content += stdout.trim() + '\n';
    }
    await writeFile(file, content);
    lines.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${file}`);
  } else if (opts.token) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${opts.token.realm}`,
      `    service: ${opts.token.service}`,
      `    issuer: ${opts.token.issuer}`,
      `    rootcertbundle: ${opts.token.rootCertBundle}`,
    );
  }
  const config = path.join(dir, 'config.yml');
  await writeFile(config, lines.join('\n') + '\n');
  let log = '';
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  let exited = false;
  const gone = new Promise<void>((resolve) => child.on('exit', () => ((exited = true), resolve())));
  process.on('exit', () => child.kill('SIGKILL'));
  const scheme = opts.tls ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`docker-registry exited at start:\n${log}`);
    const up = await new Promise<boolean>((resolve) => {
      const mod = opts.tls ? https : http;
      const req = mod.get(`${url}/v2/`, { rejectUnauthorized: false, agent: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 200) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not answer on ${url} within 10 s:\n${log}`);
    }
    await sleep(50);
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    url,
    dir,
    logs: () => log,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await Promise.race([gone, sleep(5000)]);
        if (!exited) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
