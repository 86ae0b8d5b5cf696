// Debian's docker-compose (1.29, the Python implementation over docker-py)
// against a test daemon: a project directory of its own and a unique
// project name, so that concurrent tests never share containers, networks
// or volumes.
//
//   const p = await composeProject(d, { 'docker-compose.yml': yaml });
//   after(() => p.remove());
//   await p.ok(['up', '-d']);
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Daemon, DockerResult } from './daemon.ts';
import { repoRoot, uniqueName } from './daemon.ts';

/**
 * The three-tier application (test/fixtures/compose-3tier): its Debian base
 * image holds what the tiers need, installed by debootstrap, so that their
 * builds need no network.
 */
export const THREE_TIER = {
  fixture: path.join(repoRoot, 'test', 'fixtures', 'compose-3tier'),
  packages: ['nginx-light', 'python3-pymysql', 'mariadb-server'],
  // The package set-up's system tables: the db tier makes its own in its volume.
  emptyDirs: ['var/lib/mysql'],
};

export interface ComposeProject {
  /** Project name (COMPOSE_PROJECT_NAME): the prefix of its containers, networks and volumes. */
  name: string;
  dir: string;
  /** Runs docker-compose in the project directory. */
  run(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number; input?: string }): Promise<DockerResult>;
  /** Like run, but fails the test when docker-compose exits non-zero. */
  ok(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number; input?: string }): Promise<string>;
  /** Starts docker-compose (e.g. `events`); output() is its stdout so far, stop() ends it with SIGTERM. */
  background(args: string[]): { output(): string; stop(): Promise<DockerResult> };
  /** Writes (or replaces) a file of the project. */
  write(file: string, text: string): Promise<void>;
  /** `down -v --remove-orphans` and the directory. */
  remove(): Promise<void>;
}

/**
 * A compose project for daemon d: files (name -> text) written to a fresh
 * directory, or a fixture directory copied there.
 */
export async function composeProject(
  d: Daemon,
  files: Record<string, string> | { fixture: string },
  opts: { env?: Record<string, string>; prefix?: string } = {},
): Promise<ComposeProject> {
  // Compose project names: lowercase letters, digits, no dashes in 1.29's container names.
  const name = uniqueName(opts.prefix ?? 'cp').replace(/-/g, '');
  const dir = await mkdtemp(path.join(d.dir, `compose-${name}-`));
  if ('fixture' in files) await cp(files.fixture, dir, { recursive: true });
  else for (const [f, text] of Object.entries(files)) await writeFileIn(dir, f, text);

  function environment(ropts: { env?: Record<string, string> }): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DOCKER_HOST: d.host,
      DOCKER_CONFIG: path.join(d.dir, 'docker-config'),
      COMPOSE_PROJECT_NAME: name,
      // (run and exec go through the docker CLI, compose's default: its
      // in-process dockerpty path attaches only after the start and loses
      // early output on any engine.)
      ...opts.env,
      ...ropts.env,
    };
    for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_API_VERSION', 'COMPOSE_FILE', 'COMPOSE_INTERACTIVE_NO_CLI', 'NODE_TEST_CONTEXT']) {
      if (!ropts.env || !(k in ropts.env)) delete env[k];
    }
    return env;
  }

  function background(args: string[]): { output(): string; stop(): Promise<DockerResult> } {
    const c = spawn('docker-compose', ['--ansi', 'never', ...args], { cwd: dir, env: environment({}), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    c.stdout.on('data', (b: Buffer) => out.push(b));
    c.stderr.on('data', (b: Buffer) => err.push(b));
    const closed = new Promise<DockerResult>((resolve) =>
      c.on('close', (code) => resolve({ code: code ?? 143, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })),
    );
    return {
      output: () => Buffer.concat(out).toString('utf8'),
      stop() {
        c.kill('SIGTERM');
        return closed;
      },
    };
  }

  function run(args: string[], ropts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<DockerResult> {
    const env = environment(ropts);
    const timeoutMs = ropts.timeoutMs ?? 120_000;
    return new Promise((resolve, reject) => {
      const c = spawn('docker-compose', ['--ansi', 'never', ...args], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      c.stdout.on('data', (b: Buffer) => out.push(b));
      c.stderr.on('data', (b: Buffer) => err.push(b));
      c.stdin.on('error', () => {});
      const timer = setTimeout(() => {
        c.kill('SIGKILL');
        reject(new Error(`docker-compose ${args.join(' ')}: no exit within ${timeoutMs} ms\nstdout: ${Buffer.concat(out)}\nstderr: ${Buffer.concat(err)}`));
      }, timeoutMs);
      c.on('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`docker-compose ${args.join(' ')}: ${e.message}`));
      });
      c.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 143), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      c.stdin.end(ropts.input);
    });
  }

  async function ok(args: string[], ropts?: { env?: Record<string, string>; timeoutMs?: number; input?: string }): Promise<string> {
    const r = await run(args, ropts);
    assert.equal(r.code, 0, `docker-compose ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  }

  return {
    name,
    dir,
    run,
    ok,
    background,
    write: (file, text) => writeFileIn(dir, file, text),
    async remove() {
      await run(['down', '-v', '--remove-orphans', '-t', '1']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function writeFileIn(dir: string, file: string, text: string): Promise<void> {
  const p = path.join(dir, file);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, text);
}
