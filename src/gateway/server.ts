// The gateway's request path: normalize the path, match a route, run its chain, add the
// internal token and proxy (WebSocket upgrades take the same route and chain: upgrade.ts).
// The route table is swapped atomically on reload; a request keeps the table (and so
// the plugin chain and pools) it started with.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { defaultHeader, type RequestContext } from '../core/listener.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics, RouteRecorder } from './metrics.js';
import type { AddressMatcher } from './addresses.js';
import { plainAddress } from './addresses.js';
import type { RouteTable } from './compile.js';
import { GatewayError } from './errors.js';
import { handleForwardAuth } from './forward-auth.js';
import { handleSessionEndpoint, SESSION_ENDPOINTS } from './oidc/endpoints.js';
import { setIdentityHeaders, stripQueryParams, upstreamHeaderList, type HeaderPolicy } from './mutate/headers.js';
import type { InternalTokenMinter } from './mutate/internal-token.js';
import { normalizePath, withoutPathParameters } from '../core/path.js';
import { answerOptions } from '../core/http.js';
import { runPipeline } from './pipeline.js';
import { forward, type ProxyCallbacks } from './proxy.js';
import { notFoundError, sendGatewayError, toGatewayError } from './respond.js';
import { matchedPart, type RouteEntry } from './router.js';
import { peekResponseHeaders, peekStripQuery, RequestState, type CompiledRoute, type GatewayRequest } from './types.js';
import type { ServiceUpstream } from './upstream.js';

/** One compiled table and the requests still using it. */
interface Generation {
  table: RouteTable;
  active: number;
  retired: boolean;
}

export interface GatewayState {
  current: Generation;
  minter: InternalTokenMinter;
  policy: HeaderPolicy;
  trusted: AddressMatcher;
  scheme: 'http' | 'https';
  /** Strict-Transport-Security value, or null on plain HTTP */
  hsts: string | null;
  forwardAuth: { path: string; allow: AddressMatcher } | null;
  logger: Logger;
  metrics: Metrics;
  /** upgraded (WebSocket) client sockets, destroyed on close */
  sockets: Set<Duplex>;
}


/** The core listener's handler for gateway requests. */
export function gatewayHandler(state: GatewayState) {
  // not async itself: serve() is the request's only async frame (one promise, one resumption less each)
  return function handleGatewayRequest(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> | void {
    // sent with the headers, however they are written (setHeader now would slow every response)
    if (state.hsts !== null) defaultHeader(res, 'strict-transport-security', state.hsts);
    // `OPTIONS *` (asterisk-form) asks about the server: answered here, without a route or a plugin
    if (ctx.path === '*' && req.url === '*' && req.method === 'OPTIONS') return answerServerOptions(state, req, res);
    const fa = state.forwardAuth;
    if (fa !== null && ctx.path.startsWith(fa.path) && (ctx.path.length === fa.path.length || ctx.path.charCodeAt(fa.path.length) === 47)) {
      return handleForwardAuth(state, fa, req, res, ctx);
    }
    // the browser-session endpoints (oidc-login): callback, logout, back-channel logout
    if (ctx.path.startsWith('/_drawbridge/') && SESSION_ENDPOINTS.has(ctx.path)) {
      const scheme = clientScheme(req, state.trusted, state.scheme);
      return withGeneration(state, (table) => handleSessionEndpoint(table, scheme, state.logger, req, res, ctx));
    }
    return serve(state, enterGeneration(state), req, res, ctx.requestId, ctx.path, ctx.query);
  };
}

/**
 * RFC 9110 §9.3.7: `OPTIONS *` is about the server, not a resource. 200 with `Allow` naming
 * the methods the route table in use proxies (made with the table), and no content; counted
 * as a request without a route. Any other method with `*` goes on to the 400 of a malformed path.
 */
function answerServerOptions(state: GatewayState, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  answerOptions(req, res, 200, state.current.table.allow);
  state.metrics.request('', '', 200, (performance.now() - started) / 1000);
}

/** Counts a request on the table in use; the caller must leaveGeneration() when it is done. */
export function enterGeneration(state: GatewayState): Generation {
  const gen = state.current;
  gen.active++;
  return gen;
}

function leaveGeneration(gen: Generation): void {
  gen.active--;
  // a microtask later: this may run inside a callback of the very pools it closes
  if (gen.active === 0 && gen.retired) queueMicrotask(() => void gen.table.close());
}

export async function withGeneration<T>(state: GatewayState, fn: (table: RouteTable) => Promise<T>): Promise<T> {
  const gen = enterGeneration(state);
  try {
    return await fn(gen.table);
  } finally {
    leaveGeneration(gen);
  }
}

/** Replaces the route table; the old one closes its pools once its last request is done. */
export function swapTable(state: GatewayState, table: RouteTable): void {
  const old = state.current;
  state.current = { table, active: 0, retired: false };
  old.retired = true;
  if (old.active === 0) void old.table.close();
}

/**
 * One request on `gen`'s table (released when done): route, chain, proxy, metrics. Without
 * a promise while the chain answers synchronously: the proxy reports back through the
 * Flight's callbacks, so the common request creates no promise here at all. The Flight is
 * the request's GatewayRequest itself, carrying the routing result too: one object per
 * request (no RouteMatch or Routed beside it).
 */
export function serve(
  state: GatewayState,
  gen: Generation,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  rawPath: string,
  query: string,
): Promise<void> | void {
  const started = performance.now();
  let flight: Flight;
  try {
    const path = normalizedPath(rawPath);
    const host = hostOf(req);
    const method = req.method ?? 'GET';
    const entry = findRoute(gen.table, method, host, path, req);
    flight = new Flight(state, gen, started, entry, req, res, requestId, method, path, query, host);
  } catch (err) {
    // no route (or no valid path): answered and counted without a route
    answerError(state, res, requestId, undefined, err);
    state.metrics.request('', '', res.statusCode, (performance.now() - started) / 1000);
    return leaveGeneration(gen);
  }
  try {
    const answered = runPipeline(flight, state.metrics);
    if (answered === true) return flight.proxied();
    if (answered === false) return flight.forward();
    return flight.afterChain(answered);
  } catch (err) {
    flight.proxyFailed(err);
  }
}

/** The gateway's error response for `err` (a failure is contained here: nothing to reject). */
function answerError(state: GatewayState, res: ServerResponse, requestId: string, gr: GatewayRequest | undefined, err: unknown): void {
  try {
    const error = toGatewayError(err, state.logger, requestId);
    if (error.status >= 502 && error.status <= 504 && gr !== undefined && error.reason !== 'client_closed') {
      state.metrics.upstreamError(gr.route.service.name, error.reason ?? 'error');
      state.logger.warn({ requestId, route: gr.route.id, reason: error.reason }, 'upstream failed');
    }
    sendGatewayError(res, error, requestId, gr === undefined ? undefined : peekResponseHeaders(gr));
  } catch (failure) {
    // the listener would have logged it and cut the response
    state.logger.error({ err: failure, requestId }, 'request failed');
    res.destroy();
  }
}

/** One routed request from its chain to its metrics: how it ends (answered, proxied or failed). */
class Flight extends RequestState implements ProxyCallbacks {
  // declared, set in the constructor (see RequestState)
  declare readonly state: GatewayState;
  declare readonly gen: Generation;
  declare readonly started: number;
  declare readonly upstream: ServiceUpstream;
  /** the prefix strip_path removes ('' when none) */
  declare readonly stripped: string;

  constructor(
    state: GatewayState,
    gen: Generation,
    started: number,
    entry: RouteEntry<ServiceUpstream>,
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    method: string,
    path: string,
    query: string,
    host: string,
  ) {
    const route = entry.route;
    super(req, res, requestId, method, path, query, host, clientAddress(req, state.trusted), clientScheme(req, state.trusted, state.scheme), route);
    this.state = state;
    this.gen = gen;
    this.started = started;
    this.upstream = entry.payload;
    this.stripped = route.stripPath ? matchedPart(entry, path) : '';
  }

  /** the chain's asynchronous answer, then the proxy */
  async afterChain(answered: Promise<boolean>): Promise<void> {
    try {
      if (await answered) return this.proxied();
    } catch (err) {
      return this.proxyFailed(err);
    }
    this.forward();
  }

  /** the chain allowed the request: identity headers, then upstream */
  forward(): void {
    const { stripped, state, path } = this;
    try {
      forwardIdentity(state, this);
      forward(
        this,
        this.upstream,
        stripped === '' ? path : path.slice(stripped.length),
        stripQueryParams(this.query, peekStripQuery(this)),
        upstreamHeaderList(this, state.policy, this.route.preserveHost, stripped),
        this,
      );
    } catch (err) {
      this.proxyFailed(err);
    }
  }

  /** answered (by the chain or the upstream): count it */
  proxied(): void {
    this.finish();
  }

  /** refused or failed: the gateway's error response, then count it */
  proxyFailed(err: unknown): void {
    answerError(this.state, this.res, this.requestId, this, err);
    this.finish();
  }

  private finish(): void {
    const seconds = (performance.now() - this.started) / 1000;
    routeRecorder(this.state.metrics, this.route).request(this.res.statusCode, seconds);
    leaveGeneration(this.gen);
  }
}

/**
 * The route's metrics series, resolved on its first request and kept on the compiled route
 * (no label lookup per request); resolved again should the route meet another registry.
 */
function routeRecorder(metrics: Metrics, route: CompiledRoute): RouteRecorder {
  const cached = route.metrics;
  if (cached !== undefined && cached.registry === metrics) return cached.recorder;
  // the route label is the route's name when it has one (README: "for logs and metrics"): an
  // admin-made route's id is a UUID, which is what the label showed
  const recorder = metrics.forRoute(route.service.name, route.name);
  route.metrics = { registry: metrics, recorder };
  return recorder;
}

interface Routed {
  gr: GatewayRequest;
  upstream: ServiceUpstream;
  /** normalized path */
  path: string;
  /** the prefix strip_path removes ('' when none) */
  stripped: string;
}

/** Normalizes the path and finds the route (400 / 404 otherwise): shared by requests and upgrades. */
export function routeRequest(
  state: GatewayState,
  table: RouteTable,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  rawPath: string,
  query: string,
): Routed {
  const path = normalizedPath(rawPath);
  const host = hostOf(req);
  const method = req.method ?? 'GET';
  const entry = findRoute(table, method, host, path, req);
  const gr = createRequest(state, req, res, requestId, method, path, query, host, entry.route);
  return { gr, upstream: entry.payload, path, stripped: entry.route.stripPath ? matchedPart(entry, path) : '' };
}

/** The normalized request path; 400 when it cannot be one. */
function normalizedPath(rawPath: string): string {
  const path = normalizePath(rawPath);
  if (path === undefined) throw new GatewayError('invalid_request', 400, 'malformed request path', { reason: 'bad_path' });
  return path;
}

/**
 * The route for the request; 404 when none matches. A path with parameters (`;` in a
 * segment) must route as it does without them: Tomcat, Jetty and Spring drop `;x` from
 * `/admin;x/users` and serve `/admin/users`, which a route for `/admin` protects, while
 * segment by segment `admin;x` would fall through to a route for `/` (400 instead).
 */
export function findRoute(table: RouteTable, method: string, host: string, path: string, req: IncomingMessage): RouteEntry<ServiceUpstream> {
  const entry = table.router.find(method, host, path, req.headers);
  if (path.indexOf(';') !== -1 && table.router.find(method, host, withoutPathParameters(path), req.headers) !== entry) {
    throw new GatewayError('invalid_request', 400, 'path parameters (;) would change the route', { reason: 'bad_path' });
  }
  if (entry === undefined) throw notFoundError();
  return entry;
}

/** After the chain allowed the request: the internal token and identity headers for upstream. */
export function forwardIdentity(state: GatewayState, gr: GatewayRequest): void {
  if (gr.identity !== undefined) setIdentityHeaders(gr, gr.identity, state.minter.authorizationFor(gr.identity, gr.route.service.name));
}

/** The GatewayRequest for a routed request (client address and scheme from trusted proxies). */
export function createRequest(
  state: GatewayState,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  method: string,
  path: string,
  query: string,
  host: string,
  route: CompiledRoute,
): RequestState {
  const clientIp = clientAddress(req, state.trusted);
  const scheme = clientScheme(req, state.trusted, state.scheme);
  return new RequestState(req, res, requestId, method, path, query, host, clientIp, scheme, route);
}

function hostOf(req: IncomingMessage): string {
  const host = req.headers.host;
  // V8's toLowerCase scans a one-byte string natively and hands back the same string when
  // nothing changes: faster than any check in JavaScript (a char loop cost ~4x as much)
  return host === undefined ? '' : host.toLowerCase();
}

/**
 * The client's address: the peer, or — when the peer is a trusted proxy — the rightmost
 * X-Forwarded-For entry that is not itself a trusted proxy.
 */
function clientAddress(req: IncomingMessage, trusted: AddressMatcher): string {
  const peer = plainAddress(req.socket.remoteAddress ?? '');
  if (!trusted(peer)) return peer;
  const raw = req.headers['x-forwarded-for'];
  const xff = Array.isArray(raw) ? raw.join(',') : raw;
  if (xff === undefined || xff === '') return peer;
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim();
    if (isIP(hop) === 0) return peer; // garbage in the chain: trust nothing before it
    if (!trusted(hop)) return hop;
  }
  return hops[0]!.trim();
}

function clientScheme(req: IncomingMessage, trusted: AddressMatcher, own: 'http' | 'https'): string {
  const raw = req.headers['x-forwarded-proto'];
  const proto = Array.isArray(raw) ? raw[0] : raw;
  if (proto === undefined || !trusted(req.socket.remoteAddress ?? '')) return own;
  const first = proto.split(',', 1)[0]!.trim().toLowerCase();
  return first === 'https' || first === 'http' ? first : own;
}
