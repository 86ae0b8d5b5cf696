// Benchmarks of networking and file transfer, run the same way on both
// engines through the docker CLI:
// - HTTP requests per second through a published port on loopback (busybox
//   httpd in the container, wrk on the host; each request is a new
//   connection, as busybox httpd closes it), both engines' servers up at
//   once and measured in alternating rounds;
// - `docker cp` of a 100 MB directory tree into and out of a container;
// - `docker commit` of a container that changed 10,000 files.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cli } from './docker-cli.ts';
import { summarize, type Summary } from './measure.ts';

const run = promisify(execFile);

export interface NetFilesResult {
  cpIn: Summary;
  cpOut: Summary;
  /** MB/s from the medians. */
  cpInMBps: number;
  cpOutMBps: number;
  commit: Summary;
  commitFiles: number;
  cpBytes: number;
}

/** A tree of 100 directories x 10 files x 100 KiB (100,000 KiB), made once and shared by both engines. */
export function makeCpTree(): { dir: string; bytes: number; cleanup: () => void } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-cp-'));
  const dir = path.join(root, 'tree');
  const chunk = Buffer.alloc(100 * 1024);
  let bytes = 0;
  for (let d = 0; d < 100; d++) {
    mkdirSync(path.join(dir, `d${d}`), { recursive: true });
    for (let f = 0; f < 10; f++) {
      chunk.fill((d * 10 + f) & 0xff);
      writeFileSync(path.join(dir, `d${d}`, `f${f}`), chunk);
      bytes += chunk.length;
    }
  }
  return { dir, bytes, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

function treeBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? treeBytes(p) : statSync(p).size;
  }
  return n;
}

async function waitHttp(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.0\r\n\r\n'));
      let out = '';
      s.on('data', (b) => (out += b.toString()));
      s.on('end', () => resolve(out.startsWith('HTTP/1.')));
      s.on('error', () => resolve(false));
      s.setTimeout(2000, () => s.destroy());
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing answers HTTP on 127.0.0.1:${port}`);
}

/** busybox httpd in a container with port 80 published on an ephemeral port of 127.0.0.1; resolves once it answers. */
export async function startHttpServer(cli: Cli, image: string): Promise<{ id: string; port: number }> {
  const script = 'mkdir /www && echo berth-bench-http > /www/index.html && exec httpd -f -p 80 -h /www';
  const id = (await cli.ok(['run', '-d', '-p', '127.0.0.1::80', image, 'sh', '-c', script])).stdout.trim();
  try {
    const line = (await cli.ok(['port', id, '80/tcp'])).stdout.trim().split('\n')[0];
    const port = Number(/:(\d+)$/.exec(line)?.[1]);
    if (!port) throw new Error(`docker port printed ${JSON.stringify(line)}`);
    await waitHttp(port);
    return { id, port };
  } catch (err) {
    await cli.run(['rm', '-f', id]);
    throw err;
  }
}

/** One wrk pass against 127.0.0.1:port: requests, requests per second and wrk's error lines (if any). */
export async function wrkOnce(port: number, seconds: number): Promise<{ requests: number; requestsPerSecond: number; errors: string }> {
  const { stdout } = await run('wrk', ['-t', '2', '-c', '16', '-d', `${seconds}s`, `http://127.0.0.1:${port}/`], { timeout: (seconds + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(stdout)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1]);
  if (!Number.isFinite(rps) || !Number.isFinite(requests)) throw new Error(`wrk printed no Requests/sec: ${stdout}`);
  const errors = stdout.match(/Socket errors:.*|Non-2xx or 3xx responses:.*/g) ?? [];
  return { requests, requestsPerSecond: rps, errors: errors.join('; ') };
}

const TICKS_PER_SECOND = 100;

/** CPU seconds of this process's waited-for children (wrk, once it has exited). */
function childrenCpuSeconds(): number {
  const rest = readFileSync('/proc/self/stat', 'utf8').split(') ').pop()!.split(' ');
  // rest[0] is field 3 (state): cutime and cstime are fields 16 and 17.
  return (Number(rest[13]) + Number(rest[14])) / TICKS_PER_SECOND;
}

/** A reader of the CPU seconds of a container's cgroup (v1 cpuacct or v2 cpu.stat), from one of its processes. */
function containerCpu(pid: number): () => number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:[^:]*\bcpuacct\b[^:]*:/.test(l));
  if (v1) {
    const dir = readdirSync('/sys/fs/cgroup').find((d) => d.split(',').includes('cpuacct'))!;
    const file = path.join('/sys/fs/cgroup', dir, v1.split(':')[2]!, 'cpuacct.usage');
    return () => Number(readFileSync(file, 'utf8')) / 1e9;
  }
  const file = path.join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3), 'cpu.stat');
  return () => Number(/usage_usec (\d+)/.exec(readFileSync(file, 'utf8'))?.[1]) / 1e6;
}

export interface HttpRounds {
  /** Requests per second, one per round. */
  requestsPerSecond: number[];
  /**
   * CPU milliseconds per 1000 requests, one per round: wrk, the container's
   * cgroup and the engine's own processes (daemons, helpers such as
   * docker-proxy). Kernel work lands on whichever of them sent the packet, so
   * this is the whole path, and unlike the rate it does not depend on what
   * else loads the machine.
   */
  cpuMsPerKiloRequest: number[];
  /** wrk's error lines, per round where there were any. */
  errors: string[];
}

/**
 * HTTP through a published port on every engine at once: a server container
 * on each, then `rounds` wrk passes per engine, alternating engines pass by
 * pass and flipping the order every round. Run one engine after the other
 * (minutes apart), the figures followed whatever else loaded the machine;
 * interleaved, both engines see the same load. A short untimed pass first
 * warms each path (page cache, ARP, conntrack).
 */
export async function httpRounds<K extends string>(
  engines: { key: K; cli: Cli; engineCpu: () => number }[],
  opts: { image: string; rounds: number; seconds: number; problem: (msg: string) => void },
): Promise<Partial<Record<K, HttpRounds>>> {
  const servers: { key: K; cli: Cli; engineCpu: () => number; id: string; port: number; ctrCpu: () => number; out: HttpRounds }[] = [];
  try {
    for (const e of engines) {
      try {
        const srv = await startHttpServer(e.cli, opts.image);
        const pid = Number((await e.cli.ok(['inspect', '-f', '{{.State.Pid}}', srv.id])).stdout.trim());
        servers.push({ ...e, ...srv, ctrCpu: containerCpu(pid), out: { requestsPerSecond: [], cpuMsPerKiloRequest: [], errors: [] } });
      } catch (err) {
        opts.problem(`HTTP through a published port (${e.cli.host}): ${(err as Error).message}`);
      }
    }
    for (const s of servers) await wrkOnce(s.port, 1);
    const cpu = (s: (typeof servers)[number]) => childrenCpuSeconds() + s.ctrCpu() + s.engineCpu();
    for (let r = 0; r < opts.rounds; r++) {
      const order = r % 2 === 0 ? servers : [...servers].reverse();
      for (const s of order) {
        const c0 = cpu(s);
        const w = await wrkOnce(s.port, opts.seconds);
        s.out.cpuMsPerKiloRequest.push(((cpu(s) - c0) * 1e6) / w.requests);
        s.out.requestsPerSecond.push(w.requestsPerSecond);
        if (w.errors) s.out.errors.push(`round ${r + 1}: ${w.errors}`);
      }
    }
    const res: Partial<Record<K, HttpRounds>> = {};
    for (const s of servers) res[s.key] = s.out;
    return res;
  } finally {
    for (const s of servers) await s.cli.run(['rm', '-f', s.id]);
  }
}

/** One `docker cp` of the tree into a new container and back out; checks what came out. */
export async function cpOnce(cli: Cli, tree: { dir: string; bytes: number }, image: string): Promise<{ cpIn: number; cpOut: number }> {
  const id = (await cli.ok(['create', image, 'sleep', '3600'])).stdout.trim();
  const out = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-cpout-'));
  try {
    const cpIn = (await cli.ok(['cp', tree.dir, `${id}:/data`], 600_000)).ms;
    const cpOut = (await cli.ok(['cp', `${id}:/data`, path.join(out, 'data')], 600_000)).ms;
    const got = treeBytes(path.join(out, 'data'));
    if (got !== tree.bytes) throw new Error(`docker cp out brought ${got} bytes, want ${tree.bytes}`);
    return { cpIn, cpOut };
  } finally {
    rmSync(out, { recursive: true, force: true });
    await cli.run(['rm', '-f', id]);
  }
}

/** One `docker commit` of a container that wrote `files` files (content differs per run: no engine can reuse a layer). */
let commitRun = 0;
export async function commitOnce(cli: Cli, files: number, image: string): Promise<number> {
  const run = `${process.pid}-${++commitRun}`;
  const script = `mkdir /data && cd /data && i=0; while [ $i -lt ${files} ]; do echo $i-${run}-$$ > f$i; i=$((i+1)); done`;
  const id = (await cli.ok(['run', '-d', image, 'sh', '-c', script])).stdout.trim();
  try {
    await cli.ok(['wait', id], 600_000);
    const r = await cli.ok(['commit', id], 600_000);
    await cli.run(['rmi', r.stdout.trim()]);
    return r.ms;
  } finally {
    await cli.run(['rm', '-f', id]);
  }
}

const COMMIT_FILES = 10_000;

/**
 * cp and commit, the engines taking turns run by run (order flipped each
 * round). Both write and delete tens of thousands of files on the same file
 * system: run one engine's repetitions after the other's, the second one
 * created its files among the first one's freshly deleted inodes, which on
 * this host's ext4 (no journal: inode allocation skips recently deleted
 * inodes one by one) cost it up to twice the time.
 */
export async function filesRounds<K extends string>(
  engines: { key: K; cli: Cli }[],
  tree: { dir: string; bytes: number },
  opts: { image: string; repeats: number; problem: (msg: string) => void },
): Promise<Partial<Record<K, NetFilesResult>>> {
  const raw = new Map<K, { cpIn: number[]; cpOut: number[]; commit: number[] }>(engines.map((e) => [e.key, { cpIn: [], cpOut: [], commit: [] }]));
  const failed = new Set<K>();
  const rounds = async (step: (e: { key: K; cli: Cli }) => Promise<void>) => {
    for (let r = 0; r < opts.repeats; r++) {
      for (const e of r % 2 === 0 ? engines : [...engines].reverse()) {
        if (failed.has(e.key)) continue;
        try {
          await step(e);
        } catch (err) {
          failed.add(e.key);
          opts.problem(`docker cp / commit (${e.cli.host}): ${(err as Error).message}`);
        }
      }
    }
  };
  await rounds(async (e) => {
    const { cpIn, cpOut } = await cpOnce(e.cli, tree, opts.image);
    raw.get(e.key)!.cpIn.push(cpIn);
    raw.get(e.key)!.cpOut.push(cpOut);
  });
  await rounds(async (e) => {
    raw.get(e.key)!.commit.push(await commitOnce(e.cli, COMMIT_FILES, opts.image));
  });
  const res: Partial<Record<K, NetFilesResult>> = {};
  const mb = tree.bytes / (1024 * 1024);
  for (const [key, v] of raw) {
    if (failed.has(key)) continue;
    const sIn = summarize(v.cpIn);
    const sOut = summarize(v.cpOut);
    res[key] = {
      cpIn: sIn,
      cpOut: sOut,
      cpInMBps: mb / (sIn.median / 1000),
      cpOutMBps: mb / (sOut.median / 1000),
      commit: summarize(v.commit),
      commitFiles: COMMIT_FILES,
      cpBytes: tree.bytes,
    };
  }
  return res;
}
