// The real docker CLI against one engine's socket, timed.
import { spawn } from 'node:child_process';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
}

export interface Cli {
  /** DOCKER_HOST value. */
  host: string;
  run(args: string[], timeoutMs?: number): Promise<CliResult>;
  /** Like run, but throws with the CLI's output when it exits non-zero. */
  ok(args: string[], timeoutMs?: number): Promise<CliResult>;
}

const SIGNALS: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2 };

/** A docker CLI bound to `host` with a private config directory (no user settings, contexts or hints). */
export function dockerCli(host: string, configDir: string): Cli {
  // DOCKER_BUILDKIT=0: no buildx plugin here; both engines get the classic builder API.
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: configDir, DOCKER_CLI_HINTS: 'false', DOCKER_BUILDKIT: '0' };
  for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_API_VERSION', 'NODE_TEST_CONTEXT']) delete env[k];

  function run(args: string[], timeoutMs = 120_000): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const start = process.hrtime.bigint();
      let end: bigint | undefined;
      const c = spawn('docker', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      c.stdout.on('data', (b: Buffer) => out.push(b));
      c.stderr.on('data', (b: Buffer) => err.push(b));
      const timer = setTimeout(() => {
        c.kill('SIGKILL');
        reject(new Error(`docker ${args.join(' ')} (${host}): no exit within ${timeoutMs} ms; stderr: ${Buffer.concat(err).toString().trim()}`));
      }, timeoutMs);
      c.on('exit', () => (end = process.hrtime.bigint()));
      c.on('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`docker ${args.join(' ')}: ${e.message}`));
      });
      c.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({
          code: code ?? 128 + (signal ? (SIGNALS[signal] ?? 0) : 0),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          ms: Number((end ?? process.hrtime.bigint()) - start) / 1e6,
        });
      });
    });
  }

  async function ok(args: string[], timeoutMs?: number): Promise<CliResult> {
    const r = await run(args, timeoutMs);
    if (r.code !== 0) {
      throw new Error(`docker ${args.join(' ')} (${host}) exited with ${r.code}: ${(r.stderr + r.stdout).trim().slice(0, 2000)}`);
    }
    return r;
  }

  return { host, run, ok };
}
