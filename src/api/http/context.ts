// Per-request context handed to handlers: parsed path, query, API version and
// helpers to answer, stream or hijack the connection.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { invalid } from '../../core/errors.ts';

export const MAX_JSON_BODY = 4 * 1024 * 1024;

/** The one HTTP-only failure: it has no meaning below the API edge. */
export class PayloadTooLarge extends Error {}

export class Ctx {
  readonly req: IncomingMessage;
  readonly params: Record<string, string | undefined>;
  readonly query: URLSearchParams;
  /** API version the client asked for (e.g. 1.43), the newest when it gave none. */
  readonly apiVersion: number;
  /** Set for requests that arrived with "Connection: Upgrade". */
  private readonly upgradeSocket?: Duplex;
  private readonly res?: ServerResponse;
  private readonly baseHeaders: Record<string, string>;
  answered = false;

  constructor(opts: {
    req: IncomingMessage;
    res?: ServerResponse;
    socket?: Duplex;
    params: Record<string, string | undefined>;
    query: URLSearchParams;
    apiVersion: number;
    baseHeaders: Record<string, string>;
  }) {
    this.req = opts.req;
    this.res = opts.res;
    this.upgradeSocket = opts.socket;
    this.params = opts.params;
    this.query = opts.query;
    this.apiVersion = opts.apiVersion;
    this.baseHeaders = opts.baseHeaders;
  }

  param(name: string): string {
    const v = this.params[name];
    if (v === undefined) throw invalid(`missing path parameter ${name}`);
    return decodeURIComponent(v);
  }

  /** Docker's boolean query values: 1/true/True are true, 0/false/empty are false. */
  bool(name: string, fallback = false): boolean {
    const v = this.query.get(name);
    if (v === null) return fallback;
    if (['1', 'true', 'True', 'TRUE'].includes(v)) return true;
    if (['0', 'false', 'False', 'FALSE', ''].includes(v)) return false;
    throw invalid(`invalid value for ${name}: ${JSON.stringify(v)}: expected a boolean`);
  }

  int(name: string): number | undefined {
    const v = this.query.get(name);
    if (v === null || v === '') return undefined;
    if (!/^-?\d+$/.test(v)) throw invalid(`invalid value for ${name}: ${JSON.stringify(v)}: expected an integer`);
    return Number(v);
  }

  /** Parses the JSON body, bounded in size. Empty body -> undefined. */
  async json<T = unknown>(): Promise<T | undefined> {
    const raw = await this.body(MAX_JSON_BODY);
    if (raw.length === 0) return undefined;
    try {
      return JSON.parse(raw.toString('utf8')) as T;
    } catch (err) {
      throw invalid(`invalid JSON in request body: ${(err as Error).message}`);
    }
  }

  async body(limit: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.req) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        throw new PayloadTooLarge(`request body larger than ${limit} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  send(status: number, body?: unknown, headers: Record<string, string> = {}): void {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body) + '\n');
    const all: Record<string, string> = { ...this.baseHeaders, ...headers };
    if (payload !== undefined && !all['Content-Type']) {
      all['Content-Type'] = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    }
    if (payload !== undefined) all['Content-Length'] = String(payload.length);
    this.answered = true;
    if (this.res) {
      this.res.writeHead(status, all);
      this.res.end(this.req.method === 'HEAD' ? undefined : payload);
      return;
    }
    // A request that asked to upgrade but is answered normally (an error).
    const socket = this.upgradeSocket!;
    const lines = [`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Status'}`];
    for (const [k, v] of Object.entries(all)) lines.push(`${k}: ${v}`);
    lines.push('Connection: close', '', '');
    socket.write(lines.join('\r\n'));
    socket.end(payload);
  }

  /** Starts a streamed response (chunked) and returns the writable side. */
  stream(status: number, contentType: string, headers: Record<string, string> = {}): NodeJS.WritableStream & { destroyed: boolean } {
    this.answered = true;
    if (this.res) {
      this.res.writeHead(status, { ...this.baseHeaders, ...headers, 'Content-Type': contentType });
      this.res.flushHeaders();
      return this.res;
    }
    return this.hijack(contentType) as unknown as NodeJS.WritableStream & { destroyed: boolean };
  }

  /**
   * Takes over the connection for attach/exec streams: "101 UPGRADED" when
   * the client asked to upgrade, otherwise "200 OK" and the raw socket.
   */
  hijack(contentType: string): Duplex {
    this.answered = true;
    const headers = { ...this.baseHeaders, 'Content-Type': contentType };
    if (this.upgradeSocket) {
      const lines = ['HTTP/1.1 101 UPGRADED'];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      lines.push('Connection: Upgrade', 'Upgrade: tcp', '', '');
      this.upgradeSocket.write(lines.join('\r\n'));
      return this.upgradeSocket;
    }
    const res = this.res!;
    const socket = res.socket!;
    // Write the status line ourselves and let go of node:http's framing.
    const lines = ['HTTP/1.1 200 OK'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    lines.push('', '');
    socket.write(lines.join('\r\n'));
    res.detachSocket(socket);
    return socket;
  }

  /** True once the client went away. */
  get closed(): boolean {
    return (this.res?.socket ?? this.upgradeSocket)?.destroyed ?? true;
  }

  onClose(fn: () => void): void {
    const s = this.res?.socket ?? this.upgradeSocket;
    if (!s || s.destroyed) return fn();
    s.once('close', fn);
  }
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};
