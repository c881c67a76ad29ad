// One HTTP(S) listener: request ids, /healthz and /readyz, error containment and a
// graceful drain on close (in-flight requests finish, idle keep-alive sockets close).
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { TlsConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { toAppError } from './errors.js';
import { sendError, sendJson } from './http.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => Promise<void> | void;

export interface RequestContext {
  requestId: string;
  /** path without the query string */
  path: string;
  query: string;
}

export type ReadinessCheck = () => Promise<void>;

export interface ListenerOptions {
  name: string;
  listen: string; // host:port
  tls?: TlsConfig;
  handler: Handler;
  logger: Logger;
  readiness: Record<string, ReadinessCheck>;
}

export interface RunningListener {
  readonly server: Server;
  readonly url: string;
  close(timeoutMs?: number): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`listen: expected host:port, got "${listen}"`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

export async function startListener(opts: ListenerOptions): Promise<RunningListener> {
  const { host, port } = parseListen(opts.listen);
  let inFlight = 0;
  let draining = false;

  const accessLog = opts.logger.isLevelEnabled('info');

  // Without an access log, closing a response only counts it: one shared function rather
  // than a closure (and a clock read) per request.
  function requestClosed(): void {
    inFlight--;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    inFlight++;
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', requestId);
    if (draining) res.setHeader('connection', 'close');
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const ctx: RequestContext = { requestId, path: q === -1 ? url : url.slice(0, q), query: q === -1 ? '' : url.slice(q + 1) };
    if (accessLog) {
      const started = process.hrtime.bigint();
      res.on('close', function logRequest() {
        inFlight--;
        // access log: method, path without query (it may carry credentials), status, time
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        opts.logger.info({ listener: opts.name, requestId, method: req.method, path: ctx.path, status: res.statusCode, ms: Math.round(ms * 100) / 100 }, 'request');
      });
    } else {
      res.on('close', requestClosed);
    }
    try {
      if (ctx.path === '/healthz') return sendJson(res, 200, { status: 'ok' }, { 'cache-control': 'no-store' });
      if (ctx.path === '/readyz') return await readiness(res);
      await opts.handler(req, res, ctx);
    } catch (err) {
      const appErr = toAppError(err);
      if (appErr.status >= 500) opts.logger.error({ err: appErr.cause ?? appErr, requestId, path: ctx.path }, 'request failed');
      sendError(res, appErr);
    }
  }

  async function readiness(res: ServerResponse): Promise<void> {
    const checks: Record<string, string> = {};
    let ok = !draining;
    await Promise.all(
      Object.entries(opts.readiness).map(async ([name, check]) => {
        try {
          await withTimeout(check(), 2000);
          checks[name] = 'ok';
        } catch (err) {
          ok = false;
          checks[name] = 'unavailable';
          opts.logger.warn({ check: name, err: (err as Error).message }, 'readiness check failed');
        }
      }),
    );
    sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : 'unavailable', checks }, { 'cache-control': 'no-store' });
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res);
  };
  const server: Server = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) }, listener)
    : createHttpServer(listener);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${opts.tls ? 'https' : 'http'}://${shownHost}:${addr.port}`;
  opts.logger.info({ listener: opts.name, url }, 'listening');

  return {
    server,
    url,
    close: async function closeListener(timeoutMs = 10_000) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + timeoutMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      await closed;
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
