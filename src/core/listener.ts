// One HTTP(S) listener: request ids, /healthz and /readyz, error containment and a
// graceful drain on close (in-flight requests finish, idle keep-alive sockets close).
// Every response is a ListenerResponse (core/listener-response.ts): it carries the
// listener's default headers (X-Request-Id, …) without Node's slow header path.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TlsConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { toAppError } from './errors.js';
import { hasRequestBody, sendError, sendJson } from './http.js';
import { ListenerResponse } from './listener-response.js';
import { answerPlainHttpOnTls } from './plain-http-on-tls.js';
import { newRequestId, requestIdOf } from './request-id.js';

export { defaultHeader, ListenerResponse, type CloseWatcher } from './listener-response.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => Promise<void> | void;

export interface RequestContext {
  requestId: string;
  /** path without the query string */
  path: string;
  query: string;
}

export type ReadinessCheck = () => Promise<void>;

interface ListenerOptions {
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
  /** requests received and not yet closed (what close() waits for) */
  readonly inFlight: number;
  close(timeoutMs?: number): Promise<void>;
}

/** RFC 9112 §3.2 / RFC 3986 §3.2.2: uri-host [ ":" port ] (an IP literal in brackets, or a reg-name, possibly empty). */
const HOST = /^(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|[0-9A-Za-z._~!$&'()*+,;=%-]*)(?::[0-9]*)?$/;

/**
 * The field of the raw header list that must appear once and appears more often (any case), or
 * undefined. Host: RFC 9112 §3.2 makes a second one a 400. Authorization: one credential, not a
 * list (RFC 9110 §11.6.2). Node keeps only the first of either, so the request would be routed or
 * authenticated by one while a proxy in front or a service behind could act on the other (a good
 * Basic first and a wrong one second signed the client in; the other way round, not).
 */
export function repeatedSingleton(raw: string[]): 'Host' | 'Authorization' | undefined {
  let host = false;
  let authorization = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // a length and first-letter test first: toLowerCase() only for a 4-letter name starting
    // with h or a 13-letter one starting with a
    const length = name.length;
    if (length === 4) {
      if ((name.charCodeAt(0) | 32) !== 104 || name.toLowerCase() !== 'host') continue;
      if (host) return 'Host';
      host = true;
    } else if (length === 13) {
      if ((name.charCodeAt(0) | 32) !== 97 || name.toLowerCase() !== 'authorization') continue;
      if (authorization) return 'Authorization';
      authorization = true;
    }
  }
  return undefined;
}

/** The X-Request-Id the listener gave this response. */
function requestIdIn(res: ListenerResponse): string {
  const i = res.defaultHeaders.indexOf('x-request-id');
  return i === -1 ? newRequestId() : res.defaultHeaders[i + 1]!;
}

/** A 400 for a request the listener refuses (before any handler sees it, or when its body breaks off); the connection closes (a body may follow). */
function refuseRequest(res: ServerResponse, requestId: string, description: string): void {
  sendJson(res, 400, { error: 'invalid_request', error_description: description, request_id: requestId }, { 'cache-control': 'no-store', connection: 'close' });
}

/**
 * Runs `then` once the responses to the requests read before a malformed one on this
 * connection are out: responses go in request order (RFC 9112 §9.3.2), so a pipelined
 * request that was fine still gets its answer before the 400. When the request in progress
 * is itself the bad one (its body broke off: a bad chunk), at once: it will not complete.
 */
function afterEarlierResponses(socket: Duplex, then: () => void): void {
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (current === undefined || current === null || current.req?.complete !== true || current.writableFinished) return then();
  // Node hands the connection to the next queued response when this one closes: look again then
  current.once('close', () => process.nextTick(afterEarlierResponses, socket, then));
}

/** `http(s)://authority/path?query` (userinfo and fragment aside). */
const ABSOLUTE_FORM = /^https?:\/\/(?:[^/?#@]*@)?([^/?#]*)([^#]*)/i;

/**
 * RFC 9112 §3.2.2: a server must accept the absolute form of a request target, and its
 * authority replaces the Host header. Routes and handlers see the origin form (req.url too).
 */
function originForm(req: IncomingMessage, url: string): string {
  const m = ABSOLUTE_FORM.exec(url);
  if (m === null) return url;
  const rest = m[2]!;
  const path = rest === '' ? '/' : rest.charCodeAt(0) === 63 ? `/${rest}` : rest;
  if (m[1] !== '') req.headers.host = m[1]!;
  req.url = path;
  return path;
}

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
  // than a closure (and a clock read) per request. It also tells the response's closeWatcher.
  function requestClosed(this: ServerResponse): void {
    inFlight--;
    (this as ListenerResponse).closeWatcher?.responseClosed();
  }

  // Not async: a synchronous handler (or one that returns its own promise) costs no extra
  // promise here; a failure either way ends in failed(). No closure is made here either
  // (logRequestOnClose and watchFailure make theirs only when needed), so a request costs
  // this frame no context object.
  function handle(req: IncomingMessage, res: ServerResponse): void {
    inFlight++;
    const requestId = requestIdOf(req.headers['x-request-id']);
    (res as ListenerResponse).defaultHeaders = draining ? ['x-request-id', requestId, 'connection', 'close'] : ['x-request-id', requestId];
    // RFC 9112 §3.2: more than one Host field is a 400 (Node keeps only the first, so a
    // proxy behind or in front of us could route by another one); so is more than one Authorization
    const repeated = repeatedSingleton(req.rawHeaders);
    if (repeated !== undefined) return refuse(req, res, requestId, `the request has more than one ${repeated} header field`);
    let url = req.url ?? '/';
    // RFC 9112 §3.2: a request target has no fragment. Node's parser lets `#` through, and
    // a router reading `/admin#/x` as one segment would route it past `/admin` while the
    // service behind reads path `/admin`.
    if (url.indexOf('#') !== -1) return refuse(req, res, requestId, 'the request target has a fragment (#)');
    if (url.charCodeAt(0) !== 47) url = originForm(req, url);
    // …and so is a Host that is not host[:port] (routes, preserve_host and X-Forwarded-Host
    // use it), and an HTTP/1.1 request with none (Node's own answer to that has no body)
    const host = req.headers.host;
    if (host === undefined ? req.httpVersionMinor === 1 && req.httpVersionMajor === 1 : !HOST.test(host)) {
      return refuse(req, res, requestId, host === undefined ? 'the request has no Host header field' : 'the Host header field is not a valid host');
    }
    const q = url.indexOf('?');
    const ctx: RequestContext = { requestId, path: q === -1 ? url : url.slice(0, q), query: q === -1 ? '' : url.slice(q + 1) };
    if (accessLog) logRequestOnClose(req, res, ctx);
    else res.on('close', requestClosed);
    let pending: Promise<void> | void;
    try {
      if (ctx.path === '/healthz') return sendJson(res, 200, { status: 'ok' }, { 'cache-control': 'no-store' });
      pending = ctx.path === '/readyz' ? readiness(res) : opts.handler(req, res, ctx);
    } catch (err) {
      return failed(err, res, ctx);
    }
    if (pending !== undefined) watchFailure(pending, res, ctx);
  }

  /** A request the listener refuses itself: counted (and logged) like any other, so a drain does not wait for it. */
  function refuse(req: IncomingMessage, res: ServerResponse, requestId: string, description: string): void {
    if (accessLog) {
      const url = req.url ?? '';
      const end = url.search(/[?#]/);
      logRequestOnClose(req, res, { requestId, path: end === -1 ? url : url.slice(0, end), query: '' });
    } else res.on('close', requestClosed);
    refuseRequest(res, requestId, description);
  }

  function logRequestOnClose(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    const started = process.hrtime.bigint();
    res.on('close', function logRequest() {
      inFlight--;
      (res as ListenerResponse).closeWatcher?.responseClosed();
      // access log: method, path without query (it may carry credentials), status, time
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      opts.logger.info({ listener: opts.name, requestId: ctx.requestId, method: req.method, path: ctx.path, status: res.statusCode, ms: Math.round(ms * 100) / 100 }, 'request');
    });
  }

  function watchFailure(pending: Promise<void>, res: ServerResponse, ctx: RequestContext): void {
    pending.then(undefined, function requestFailed(err: unknown) {
      failed(err, res, ctx);
    });
  }

  function failed(err: unknown, res: ServerResponse, ctx: RequestContext): void {
    const appErr = toAppError(err);
    if (appErr.status >= 500) opts.logger.error({ err: appErr.cause ?? appErr, requestId: ctx.requestId, path: ctx.path }, 'request failed');
    sendError(res, appErr);
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

  const listener = handle;
  const server = (
    opts.tls
      ? createHttpsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key), ServerResponse: ListenerResponse, requireHostHeader: false }, listener)
      : createHttpServer({ ServerResponse: ListenerResponse, requireHostHeader: false }, listener)
  ) as Server;
  if (opts.tls) answerPlainHttpOnTls(server);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  // A client may shut down its sending side once the request is out (RFC 9293 half-close;
  // `nc -N`, some HTTP/1.0 clients) and still read the answer. Node's default answers such a
  // request only if the answer is ready at once: it ends the socket when the FIN arrives, so
  // anything answered after a round trip (introspection, storage, upstream) was lost. With
  // this, the response in progress is written and the socket ends after it.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // Requests Node's parser refuses never reach the handler: answered here, in the same JSON
  // shape as every other error (431 for oversized headers, RFC 6585 §5; else 400).
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    if (!socket.writable) return;
    const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (current instanceof ListenerResponse && current.req?.complete === false && hasRequestBody(current.req.headers)) {
      // The request in progress is the bad one: its body broke off (a bad chunk). Whoever
      // reads the body (the proxy's upstream exchange) stops first, then the request's own
      // response refuses it, so the client, the access log and the metrics see one 400 with
      // its id. A response already under way can only be cut.
      current.closeWatcher?.requestBroken();
      if (current.headersSent) return socket.destroy();
      return refuseRequest(current, requestIdIn(current), 'the request body is malformed');
    }
    const big = err.code === 'HPE_HEADER_OVERFLOW';
    const body = JSON.stringify({
      error: big ? 'request_header_fields_too_large' : 'invalid_request',
      error_description: big ? 'the request headers are too large' : 'malformed HTTP request',
      request_id: newRequestId(),
    });
    const refusal =
      `HTTP/1.1 ${big ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `cache-control: no-store\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    afterEarlierResponses(socket, () => {
      if (socket.writable) socket.end(refusal);
      else socket.destroy();
    });
  });

  // An Expect other than 100-continue (RFC 9110 §10.1.1): 417, in the usual JSON shape (Node's own has no body)
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const requestId = requestIdOf(req.headers['x-request-id']);
    res.on('error', () => undefined);
    sendJson(res, 417, { error: 'expectation_failed', error_description: 'only Expect: 100-continue is supported', request_id: requestId }, { 'x-request-id': requestId, 'cache-control': 'no-store', connection: 'close' });
  });

  // CONNECT (RFC 9110 §9.3.6) asks for a tunnel: no listener of ours is a forward proxy.
  // Without this Node just drops the connection; answer 501 in the usual JSON shape instead.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    const body = JSON.stringify({ error: 'not_implemented', error_description: 'CONNECT is not supported', request_id: newRequestId() });
    socket.end(
      `HTTP/1.1 501 Not Implemented\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\n` +
        `connection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
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
    get inFlight() {
      return inFlight;
    },
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
