// A small Engine API client over a unix socket (node:http), for scenarios
// where the docker CLI's own start-up (~50 ms of Go runtime per call) would
// hide what the engine does: throughput, API latency, stats streams.
// Connections are kept alive, as SDKs do.
import http from 'node:http';

export interface ApiResult {
  status: number;
  body: Buffer;
  /** Wall time from request to the last byte, in milliseconds. */
  ms: number;
  json(): any;
}

export interface ApiClient {
  socket: string;
  request(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<ApiResult>;
  /** Like request, but throws unless the status is 2xx (or in `accept`). */
  ok(method: string, path: string, body?: unknown, timeoutMs?: number, accept?: number[]): Promise<ApiResult>;
  /** Opens a streaming GET; onChunk gets each body chunk; resolves with a stop function once headers are in. */
  stream(path: string, onChunk: (b: Buffer) => void): Promise<() => void>;
  close(): void;
}

export function apiClient(socket: string): ApiClient {
  // One agent per engine: keep-alive sockets are reused across calls.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  function request(method: string, path: string, body?: unknown, timeoutMs = 120_000): Promise<ApiResult> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    return new Promise((resolve, reject) => {
      const start = process.hrtime.bigint();
      const req = http.request({ socketPath: socket, method, path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            body: buf,
            ms: Number(process.hrtime.bigint() - start) / 1e6,
            json: () => JSON.parse(buf.toString('utf8')),
          });
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path} (${socket}): no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async function ok(method: string, path: string, body?: unknown, timeoutMs?: number, accept: number[] = []): Promise<ApiResult> {
    const r = await request(method, path, body, timeoutMs);
    if ((r.status < 200 || r.status >= 300) && !accept.includes(r.status)) {
      throw new Error(`${method} ${path} (${socket}) answered ${r.status}: ${r.body.toString('utf8').slice(0, 500)}`);
    }
    return r;
  }

  function stream(path: string, onChunk: (b: Buffer) => void): Promise<() => void> {
    return new Promise((resolve, reject) => {
      // A socket of its own: a stream never ends by itself and must not hold a pooled one.
      const req = http.request({ socketPath: socket, method: 'GET', path, agent: false }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`GET ${path} (${socket}) answered ${res.statusCode}`));
          return;
        }
        res.on('data', onChunk);
        res.on('error', () => {});
        resolve(() => req.destroy());
      });
      req.on('error', (err) => reject(err));
      req.end();
    });
  }

  return { socket, request, ok, stream, close: () => agent.destroy() };
}

/** Runs fn over items with at most `clients` in flight; results keep the items' order. */
export async function withClients<T, R>(items: T[], clients: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i]!, i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(clients, items.length) }, worker));
  return out;
}
