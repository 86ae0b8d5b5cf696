// A private Docker Engine (Debian's docker.io, dockerd 20.10) for the
// benchmark: its own socket, data root, exec root, pid file, config file,
// containerd (dockerd starts one under <exec-root>/containerd with its state
// under <data-root>/containerd), cgroup parent and bridge, all in a temp
// directory. It does not touch the host firewall: --iptables=false,
// --ip-forward=false, --ip-masq=false, and a bridge of our own (created here,
// with a /24 no route on the machine uses) instead of docker0.
//
// What stays shared, because dockerd/containerd 1.6 hard-code it: shim
// sockets in /run/containerd/s (named by a hash of our containerd socket; a
// shim deletes its own on exit), /run/docker/plugins (plugin discovery, only
// read), /opt/containerd (containerd's "opt" plugin dir) and
// /etc/docker/key.json (the engine's identity, written when missing: we
// delete it again if we were the ones who created it).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { killProcessesUnder, removeCgroupTree, unmountUnder } from '../test/helpers/daemon.ts';
import { dockerCli, type Cli } from './docker-cli.ts';

const run = promisify(execFile);

export interface DockerEngine {
  dir: string;
  socket: string;
  host: string;
  /** The docker CLI against this engine. */
  cli: Cli;
  bridge: string;
  subnet: string;
  readonly dockerdPid: number | undefined;
  /** Pid of the containerd that dockerd started, from its pid file. */
  containerdPid(): number | undefined;
  /** The containerd socket; shims of this engine name it in their command line. */
  containerdSocket: string;
  version(): Promise<string>;
  logTail(lines?: number): string;
  /** Removes containers, stops dockerd and its containerd, unmounts, deletes the bridge and the directory. Idempotent. */
  cleanup(): Promise<void>;
}

export interface StartDockerOptions {
  /** Default 60 s. */
  startTimeoutMs?: number;
  /** Parent of the temp directory (default os.tmpdir()). */
  tmpBase?: string;
  /** More dockerd arguments, after ours. */
  extraArgs?: string[];
}

function tailOf(file: string, lines: number): string {
  try {
    const all = readFileSync(file, 'utf8').trimEnd().split('\n');
    return all.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function ping(socket: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method: 'GET', path: '/_ping', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

// ------------------------------------------------------------------ subnet

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function overlaps(a: string, b: string): boolean {
  const [an, al] = a.split('/');
  const [bn, bl] = b.split('/');
  const len = Math.min(Number(al ?? 32), Number(bl ?? 32));
  if (len === 0) return false; // the default route covers everything; not a conflict
  const mask = len === 32 ? 0xffffffff : ~((1 << (32 - len)) - 1) >>> 0;
  return ((ipToInt(an!) & mask) >>> 0) === ((ipToInt(bn!) & mask) >>> 0);
}

/** A /24 in 10.213.0.0/16 that no IPv4 route or address on the machine overlaps. */
async function freeSubnet(): Promise<string> {
  const used: string[] = [];
  const routes = JSON.parse((await run('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])).stdout) as { dst?: string }[];
  for (const r of routes) if (r.dst && r.dst !== 'default' && /^\d/.test(r.dst)) used.push(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
  const addrs = JSON.parse((await run('ip', ['-j', '-4', 'addr'])).stdout) as { addr_info?: { local: string; prefixlen: number }[] }[];
  for (const l of addrs) for (const a of l.addr_info ?? []) used.push(`${a.local}/${a.prefixlen}`);
  for (let attempt = 0; attempt < 200; attempt++) {
    const cand = `10.213.${Math.floor(Math.random() * 254) + 1}.0/24`;
    if (!used.some((u) => overlaps(u, cand))) return cand;
  }
  throw new Error('no free /24 in 10.213.0.0/16 for the benchmark bridge');
}

// ------------------------------------------------------------------ engine

export async function startDockerEngine(opts: StartDockerOptions = {}): Promise<DockerEngine> {
  const base = opts.tmpBase ?? tmpdir();
  const dir = await mkdtemp(path.join(base, 'berth-bench-docker-'));
  const dataRoot = path.join(dir, 'data');
  const execRoot = path.join(dir, 'exec');
  const configDir = path.join(dir, 'cli');
  const socket = path.join(dir, 'docker.sock');
  const logFile = path.join(dir, 'dockerd.log');
  const configFile = path.join(dir, 'daemon.json');
  const cgroupParent = path.basename(dir);
  const containerdSocket = path.join(execRoot, 'containerd', 'containerd.sock');
  // Interface names are at most 15 bytes.
  const bridge = `bbd${process.pid.toString(36).slice(-4)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`.slice(0, 15);
  const keyFile = '/etc/docker/key.json';
  const keyExisted = existsSync(keyFile);
  const etcDockerExisted = existsSync('/etc/docker');

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let exitInfo: string | undefined;
  let bridgeCreated = false;
  let subnet = '';
  let cleaned: Promise<void> | undefined;

  async function cleanup(): Promise<void> {
    cleaned ??= doCleanup();
    return cleaned;
  }

  async function doCleanup(): Promise<void> {
    const errors: string[] = [];
    // 1. Containers, while the engine still answers.
    if (child && exitInfo === undefined) {
      try {
        const ps = await cli.run(['ps', '-aq', '--no-trunc'], 15_000);
        const ids = ps.stdout.split('\n').filter(Boolean);
        if (ids.length > 0) {
          const r = await cli.run(['rm', '-f', ...ids], 60_000);
          if (r.code !== 0) errors.push(`docker rm -f: ${r.stderr.trim()}`);
        }
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    // 2. dockerd (it stops its containerd on the way out).
    if (child && exitInfo === undefined) {
      child.kill('SIGTERM');
      const timedOut = await Promise.race([exited.then(() => false), sleep(30_000).then(() => true)]);
      if (timedOut) {
        errors.push('dockerd did not exit within 30 s of SIGTERM; killed it');
        child.kill('SIGKILL');
        await exited;
      }
    }
    // 3. Leftovers: containerd, shims and container processes that name or live in our directory.
    killProcessesUnder(dir);
    await sleep(100);
    try {
      await removeCgroupTree(cgroupParent);
    } catch (err) {
      errors.push((err as Error).message);
    }
    try {
      await unmountUnder(dir);
    } catch (err) {
      errors.push((err as Error).message);
    }
    if (bridgeCreated) {
      try {
        await run('ip', ['link', 'del', bridge]);
      } catch (err) {
        errors.push(`ip link del ${bridge}: ${(err as Error).message}`);
      }
    }
    if (!keyExisted) {
      rmSync(keyFile, { force: true });
      if (!etcDockerExisted) rmSync('/etc/docker', { recursive: true, force: true });
    }
    try {
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      errors.push(`rm ${dir}: ${(err as Error).message}`);
    }
    if (errors.length > 0) throw new Error(`Docker Engine cleanup (${dir}):\n  ${errors.join('\n  ')}`);
  }

  const cli = dockerCli(`unix://${socket}`, configDir);

  try {
    await Promise.all([mkdir(dataRoot, { mode: 0o711 }), mkdir(execRoot, { mode: 0o700 }), mkdir(configDir)]);
    // An empty config file: the host's /etc/docker/daemon.json (if any) must not apply.
    await writeFile(configFile, '{}\n');

    subnet = await freeSubnet();
    const gateway = subnet.replace(/\.0\/24$/, '.1/24');
    await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    bridgeCreated = true;
    await run('ip', ['addr', 'add', gateway, 'dev', bridge]);
    await run('ip', ['link', 'set', bridge, 'up']);

    const args = [
      '--host', `unix://${socket}`,
      '--data-root', dataRoot,
      '--exec-root', execRoot,
      '--pidfile', path.join(dir, 'dockerd.pid'),
      '--config-file', configFile,
      '--storage-driver', 'overlay2', // never fall back to vfs silently
      '--cgroup-parent', `/${cgroupParent}`,
      '--bridge', bridge,
      '--iptables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      ...(opts.extraArgs ?? []),
    ];
    const logFd = openSync(logFile, 'a');
    // Own process group: a Ctrl-C in the terminal reaches us, and we stop dockerd in order.
    const c = spawn('dockerd', args, { detached: true, stdio: ['ignore', logFd, logFd], env: { ...process.env } });
    closeSync(logFd);
    child = c;
    exited = new Promise<void>((resolve) => {
      c.on('exit', (code, signal) => {
        exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        resolve();
      });
      c.on('error', (err) => {
        exitInfo = `failed to start: ${err.message}`;
        resolve();
      });
    });
    process.on('exit', () => {
      if (exitInfo === undefined) c.kill('SIGKILL');
    });

    const timeoutMs = opts.startTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    for (;;) {
      if (exitInfo !== undefined) {
        throw new Error(`dockerd ${exitInfo} before its API came up. Last lines of its log (${logFile}, removed on clean-up):\n${tailOf(logFile, 30)}`);
      }
      if (existsSync(socket)) {
        try {
          const status = await ping(socket, 2000);
          if (status === 200) break;
          last = `GET /_ping answered ${status}`;
        } catch (err) {
          last = (err as Error).message;
        }
      } else {
        last = `${socket} does not exist`;
      }
      if (Date.now() > deadline) {
        throw new Error(`dockerd did not answer GET /_ping within ${timeoutMs} ms (${last}). Last lines of its log (${logFile}, removed on clean-up):\n${tailOf(logFile, 30)}`);
      }
      await sleep(100);
    }
  } catch (err) {
    await cleanup().catch((e) => process.stderr.write(`bench: ${(e as Error).message}\n`));
    throw err;
  }

  return {
    dir,
    socket,
    host: cli.host,
    cli,
    bridge,
    subnet,
    get dockerdPid() {
      return exitInfo === undefined ? child?.pid : undefined;
    },
    containerdPid() {
      try {
        const pid = Number(readFileSync(path.join(execRoot, 'containerd', 'containerd.pid'), 'utf8').trim());
        return pid > 0 ? pid : undefined;
      } catch {
        return undefined;
      }
    },
    containerdSocket,
    async version() {
      const r = await cli.run(['version', '--format', '{{.Server.Version}}'], 15_000);
      return r.stdout.trim();
    },
    logTail: (lines = 30) => tailOf(logFile, lines),
    cleanup,
  };
}
