// Debian's docker-compose (1.29) bringing up and taking down the three-tier
// application of test/fixtures/compose-3tier (nginx, a Python service,
// MariaDB in a named volume) with its images already built: `up -d` and
// `down`, engines alternating round by round. Both engines import the same
// Debian base image (scripts/build-debian-image.ts, debootstrap, cached) and
// build the tiers once before timing. Goal: at most half of Docker Engine's
// time.
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildDebianImage } from '../../scripts/build-debian-image.ts';
import { THREE_TIER } from '../../test/helpers/compose.ts';
import type { BenchEngine, Row, Scenario, ScenarioContext } from '../scenario.ts';
import { perEngine, summaryOrNull } from '../scenario.ts';
import { freePort } from '../../test/helpers/ports.ts';

const ROUNDS = 5;

function compose(dir: string, env: NodeJS.ProcessEnv, args: string[], timeoutMs = 600_000): Promise<{ code: number; out: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const c = spawn('docker-compose', ['--ansi', 'never', ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => {
      c.kill('SIGKILL');
      reject(new Error(`docker-compose ${args.join(' ')}: no exit within ${timeoutMs} ms: ${out.slice(-1000)}`));
    }, timeoutMs);
    c.on('error', reject);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out, ms: Number(process.hrtime.bigint() - start) / 1e6 });
    });
  });
}

async function ok(dir: string, env: NodeJS.ProcessEnv, args: string[]): Promise<number> {
  const r = await compose(dir, env, args);
  if (r.code !== 0) throw new Error(`docker-compose ${args.join(' ')} exited ${r.code}: ${r.out.trim().slice(-1000)}`);
  return r.ms;
}

interface Project {
  e: BenchEngine;
  dir: string;
  app: string;
  env: NodeJS.ProcessEnv;
  up: number[];
  down: number[];
}

export const composeUpDown: Scenario = {
  name: 'compose',
  title: 'docker-compose up -d / down of a three-tier application (nginx, Python, MariaDB), images built',
  async run(ctx: ScenarioContext) {
    ctx.say('compose: Debian base image for the three-tier application (debootstrap once, then cached)');
    const img = await buildDebianImage({ packages: THREE_TIER.packages, emptyDirs: THREE_TIER.emptyDirs, log: ctx.say });
    const base = `berth-bench/debian-3tier:${img.key}`;
    const rounds = Math.max(1, Math.min(ctx.opts.runs, ROUNDS));
    const projects: Project[] = [];
    try {
      const ready = await perEngine(ctx, 'compose set-up', async (e) => {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-compose-'));
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          DOCKER_HOST: e.cli.host,
          DOCKER_CONFIG: path.join(dir, '.docker'),
          COMPOSE_PROJECT_NAME: `bench3tier${process.pid}`,
          BASE_IMAGE: base,
          WEB_PORT: String(await freePort()),
          DOCKER_BUILDKIT: '0',
          COMPOSE_DOCKER_CLI_BUILD: '0',
        };
        for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_API_VERSION', 'COMPOSE_FILE', 'NODE_TEST_CONTEXT']) delete env[k];
        const p: Project = { e, dir, app: path.join(dir, 'app'), env, up: [], down: [] };
        projects.push(p);
        await mkdir(path.join(dir, '.docker'));
        await cp(THREE_TIER.fixture, p.app, { recursive: true });
        ctx.say(`compose: importing the base image and building the tiers on ${e.label}`);
        await e.cli.ok(['import', img.archive, base], 600_000);
        await ok(p.app, env, ['build']);
        // A warm-up round: the first up also makes the volume and the database's system tables.
        await ok(p.app, env, ['up', '-d']);
        await ok(p.app, env, ['down']);
        return p;
      });
      const timed = [ready.docker, ready.berth].filter((p): p is Project => !!p);
      // Engines alternate round by round (order flipped each round): a
      // machine whose load moves during the run moves both figures alike.
      const failed = new Set<Project>();
      for (let i = 0; i < rounds; i++) {
        for (const p of i % 2 ? [...timed].reverse() : timed) {
          if (failed.has(p)) continue;
          ctx.checkInterrupted();
          try {
            const up = await ok(p.app, p.env, ['up', '-d']);
            const down = await ok(p.app, p.env, ['down']);
            p.up.push(up);
            p.down.push(down);
          } catch (err) {
            ctx.checkInterrupted();
            failed.add(p);
            ctx.problem(`${p.e.label}, compose: ${(err as Error).message}`);
          }
        }
      }
    } finally {
      for (const p of projects) {
        await compose(p.app, p.env, ['down', '-v', '--rmi', 'local', '-t', '1']).catch(() => undefined);
        await p.e.cli.run(['rmi', base]).catch(() => undefined);
        await rm(p.dir, { recursive: true, force: true });
      }
    }
    const of = (key: 'berth' | 'docker') => projects.find((p) => p.e.key === key);
    const res = {
      berth: of('berth') ? { up: of('berth')!.up, down: of('berth')!.down } : null,
      docker: of('docker') ? { up: of('docker')!.up, down: of('docker')!.down } : null,
    };
    const rows: Row[] = [
      { metric: 'docker-compose up -d, three tiers', unit: 'ms', better: 'lower', berth: summaryOrNull(res.berth?.up), docker: summaryOrNull(res.docker?.up), goal: { ratio: 0.5 } },
      { metric: 'docker-compose down, three tiers', unit: 'ms', better: 'lower', berth: summaryOrNull(res.berth?.down), docker: summaryOrNull(res.docker?.down), goal: { ratio: 0.5 } },
    ];
    return { rows, details: res };
  },
};
