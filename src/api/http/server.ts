// HTTP server for the Docker Engine API: routing, the /v1.NN prefix and
// version checks, common headers, error answers and connection hijacking.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import FindMyWay from 'find-my-way';
import type { Logger } from '../../core/log.ts';
import { Ctx } from './context.ts';
import { toHttpError } from './errors.ts';

export type Handler = (ctx: Ctx) => Promise<void> | void;
export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';

export const MIN_API_VERSION = 1.24;
export const MAX_API_VERSION = 1.5;
export const API_VERSION_STRING = '1.50';
export const MIN_API_VERSION_STRING = '1.24';

const VERSION_PREFIX = /^\/v(\d+)\.(\d+)(?=\/)/;

export interface TcpTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

export interface Routes {
  add(method: Method | Method[], path: string, handler: Handler): void;
}

export class ApiServer implements Routes {
  private readonly router = FindMyWay({ ignoreTrailingSlash: true, caseSensitive: true });
  private readonly server: http.Server;
  /** Further listeners (a TCP port beside the unix socket), served by the same routes. */
  private readonly extra: http.Server[] = [];
  private readonly log: Logger;
  private readonly baseHeaders: Record<string, string>;
  /** Requests received so far, and those still being answered (streams and hijacked connections included): the daemon's idle collection watches both. */
  requestCount = 0;
  activeRequests = 0;
  /** Called as each request arrives. */
  onRequest: () => void = () => {};

  constructor(opts: { log: Logger; serverHeader: string }) {
    this.log = opts.log;
    this.baseHeaders = {
      'Api-Version': API_VERSION_STRING,
      'Docker-Experimental': 'false',
      Ostype: 'linux',
      Server: opts.serverHeader,
    };
    this.server = this.createServer();
  }

  /** With `tls`: HTTPS that requires a client certificate signed by tls.ca (Docker's --tlsverify). */
  private createServer(tls?: TcpTls): http.Server {
    const options = { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 };
    const server = tls
      ? // allowHalfOpen: a client ends its stdin of an attach with TLS close_notify and still reads the output.
        https.createServer({ ...options, allowHalfOpen: true, cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true })
      : http.createServer(options);
    server.on('request', (req, res) => {
      this.requestCount++;
      this.activeRequests++;
      res.once('close', () => this.activeRequests--);
      this.onRequest();
      void this.dispatch(req, res, undefined);
    });
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      this.requestCount++;
      this.activeRequests++;
      socket.once('close', () => this.activeRequests--);
      this.onRequest();
      if (head.length > 0) socket.unshift(head);
      void this.dispatch(req, undefined, socket);
    });
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    });
    return server;
  }

  add(method: Method | Method[], path: string, handler: Handler): void {
    for (const m of Array.isArray(method) ? method : [method]) {
      this.router.on(m, path, handler as unknown as FindMyWay.Handler<FindMyWay.HTTPVersion.V1>);
    }
  }

  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Also serves on a TCP address (over TLS when given, plain HTTP only for --insecure-tcp); resolves with the bound port. */
  listenTcp(port: number, host: string, tls?: TcpTls): Promise<number> {
    const server = this.createServer(tls);
    this.extra.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve((server.address() as { port: number }).port);
      });
    });
  }

  /** Stops accepting connections and closes idle and streaming ones. */
  async close(): Promise<void> {
    await Promise.all(
      [this.server, ...this.extra].map(
        (server) =>
          new Promise<void>((resolve) => {
            if (!server.listening) return resolve();
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse | undefined, socket: Duplex | undefined) {
    const url = new URL(req.url ?? '/', 'http://berth');
    let path = url.pathname;
    let apiVersion = MAX_API_VERSION;
    const m = VERSION_PREFIX.exec(path);
    let versionError: string | undefined;
    if (m) {
      apiVersion = Number(`${m[1]}.${m[2].padStart(2, '0')}`);
      path = path.slice(m[0].length);
      if (apiVersion > MAX_API_VERSION) {
        versionError = `client version ${m[1]}.${m[2]} is too new. Maximum supported API version is ${API_VERSION_STRING}`;
      } else if (apiVersion < MIN_API_VERSION) {
        versionError = `client version ${m[1]}.${m[2]} is too old. Minimum supported API version is ${MIN_API_VERSION_STRING}, please upgrade your client to a newer version`;
      }
    }
    const method = (req.method ?? 'GET') as Method;
    const route = this.router.find(method as FindMyWay.HTTPMethod, path);
    const ctx = new Ctx({
      req,
      res,
      socket,
      params: route?.params ?? {},
      query: url.searchParams,
      apiVersion,
      baseHeaders: this.baseHeaders,
    });
    const started = performance.now();
    try {
      if (versionError) {
        ctx.send(400, { message: versionError });
      } else if (!route) {
        ctx.send(404, { message: 'page not found' });
      } else {
        await (route.handler as unknown as Handler)(ctx);
        if (!ctx.answered) ctx.send(204);
      }
    } catch (err) {
      const { status, message } = toHttpError(err, (msg, e) =>
        this.log.error(msg, { method, path, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
      );
      if (!ctx.answered) {
        ctx.send(status, status === 304 ? undefined : { message });
      } else {
        // The answer already started (a stream): all we can do is end it.
        res?.destroy();
        socket?.destroy();
      }
    }
    this.log.debug('request', { method, path, ms: Math.round(performance.now() - started) });
  }
}
