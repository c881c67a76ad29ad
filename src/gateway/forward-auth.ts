// The forward-auth decision endpoint (`gateway.forward_auth.path`, default
// /_drawbridge/authz) for proxies that ask before they forward: nginx `auth_request`,
// Traefik ForwardAuth, Envoy ext_authz (HTTP). It finds the route the original request
// would take and runs that route's chain without proxying:
//   200 + `Authorization: Bearer <internal JWT>` + X-Consumer-* (and any upstream headers
//       plugins set) on allow — the proxy copies them onto the forwarded request;
//   401 with every challenge, 403, 429 … with the usual JSON body on deny.
// The original request is read from X-Forwarded-Method/-Proto/-Host/-Uri (Traefik),
// X-Original-Method/-URI (nginx), or — Envoy — the path after the endpoint's own path and
// the request's own method and Host; descriptions that disagree are refused (originalRequest).
// Only peers in `forward_auth.allow` may ask: the answer carries an internal token.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { RequestContext } from '../core/listener.js';
import { plainAddress, type AddressMatcher } from './addresses.js';
import { forbidden, GatewayError } from './errors.js';
import { omitHeaders } from './mutate/headers.js';
import { normalizePath } from '../core/path.js';
import { runPipeline } from './pipeline.js';
import { sendGatewayError, toGatewayError } from './respond.js';
import { createRequest, findRoute, forwardIdentity, withGeneration, type GatewayState } from './server.js';
import type { GatewayRequest } from './types.js';

/** The one value of a forwarding header: undefined when absent or empty, null when repeated. */
function single(req: IncomingMessage, name: string): string | undefined | null {
  const values = req.headersDistinct[name];
  if (values === undefined) return undefined;
  if (values.length !== 1) return null;
  const value = values[0]!.trim();
  return value === '' ? undefined : value;
}

/** The first entry of a comma-separated forwarding header (X-Forwarded-Host/-Proto). */
function firstEntry(value: string | undefined): string | undefined {
  return value === undefined ? undefined : value.split(',', 1)[0]!.trim() || undefined;
}

interface Target {
  path: string;
  query: string;
}

function parseTarget(target: string): Target {
  const q = target.indexOf('?');
  const path = normalizePath(q === -1 ? target : target.slice(0, q));
  if (path === undefined || target.indexOf('#') !== -1) throw new GatewayError('invalid_request', 400, 'malformed forwarded URI', { reason: 'bad_path' });
  return { path, query: q === -1 ? '' : target.slice(q + 1) };
}

function conflict(what: string): GatewayError {
  return forbidden(`the forwarded request's ${what} is described twice, differently`, 'forward_auth_conflict');
}

/** The one value all present descriptions agree on; a conflict (403) when they do not. */
function agreed<T>(what: string, values: Array<T | undefined>, same: (a: T, b: T) => boolean): T | undefined {
  let found: T | undefined;
  for (const value of values) {
    if (value === undefined) continue;
    if (found !== undefined && !same(found, value)) throw conflict(what);
    found = value;
  }
  return found;
}

interface OriginalRequest {
  method: string;
  path: string;
  query: string;
  host: string;
}

/**
 * The original request as the asking proxy describes it. Each proxy sets its own headers
 * and passes the client's others on: nginx sets X-Original-URI/-Method and Host (a client
 * may add X-Forwarded-*), Traefik sets X-Forwarded-* (a client may add X-Original-*), Envoy
 * appends the path to ours and keeps method and Host (a client may add either). So every
 * description present must agree — the URIs, the methods (and with a path suffix, the
 * call's own method), and the hosts: X-Forwarded-Host is read only when neither
 * X-Original-URI nor a path suffix says the proxy kept Host, and otherwise must match it.
 * A repeated header or a disagreement is a 403: it never decides for another route.
 */
function originalRequest(req: IncomingMessage, suffix: string, ownQuery: string): OriginalRequest {
  const h = req.headersDistinct;
  for (const name of ['x-forwarded-uri', 'x-original-uri', 'x-forwarded-method', 'x-original-method', 'x-forwarded-host']) {
    if (single(req, name) === null) throw conflict(name.slice(2));
  }
  const originalUri = single(req, 'x-original-uri') ?? undefined;
  const forwardedUri = single(req, 'x-forwarded-uri') ?? undefined;
  const envoy = suffix !== '';
  const own = req.method?.toUpperCase();
  const target = agreed<Target>(
    'URI',
    [
      originalUri === undefined ? undefined : parseTarget(originalUri),
      forwardedUri === undefined ? undefined : parseTarget(forwardedUri),
      envoy ? parseTarget(suffix + (ownQuery === '' ? '' : `?${ownQuery}`)) : undefined,
    ],
    (a, b) => a.path === b.path && a.query === b.query,
  ) ?? { path: '/', query: '' };
  const method =
    agreed<string>(
      'method',
      [single(req, 'x-original-method')?.toUpperCase(), single(req, 'x-forwarded-method')?.toUpperCase(), envoy ? own : undefined],
      (a, b) => a === b,
    ) ?? own ?? 'GET';
  const forwardedHost = firstEntry(single(req, 'x-forwarded-host') ?? undefined)?.toLowerCase();
  const ownHost = (h.host?.[0] ?? '').toLowerCase();
  let host: string;
  if (originalUri !== undefined || envoy) {
    if (forwardedHost !== undefined && forwardedHost !== ownHost) throw conflict('host');
    host = ownHost;
  } else {
    host = forwardedHost ?? ownHost;
  }
  return { method, path: target.path, query: target.query, host };
}

/**
 * The client's address: the rightmost X-Forwarded-For hop, which the asking proxy (a peer in
 * forward_auth.allow) wrote, and further left only past gateway.trusted_proxies — never past
 * an address merely allowed to ask (the default allow list holds every private range, so a
 * client on one could otherwise prepend any address it liked). No header: the peer.
 */
function decisionClient(req: IncomingMessage, trusted: AddressMatcher): string {
  const peer = plainAddress(req.socket.remoteAddress ?? '');
  const raw = req.headers['x-forwarded-for'];
  const xff = Array.isArray(raw) ? raw.join(',') : raw;
  if (xff === undefined || xff.trim() === '') return peer;
  const hops = xff.split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim();
    if (isIP(hop) === 0) return client; // garbage: trust nothing before it
    client = plainAddress(hop);
    if (!trusted(client)) return client;
  }
  return client;
}

export async function handleForwardAuth(
  state: GatewayState,
  fa: { path: string; allow: AddressMatcher },
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  let gr: GatewayRequest | undefined;
  try {
    if (!fa.allow(req.socket.remoteAddress ?? '')) throw forbidden('forward-auth is not allowed from this address', 'forward_auth_denied');
    // the decision request carries no body worth reading
    req.resume();
    const { method, path, query, host } = originalRequest(req, ctx.path.slice(fa.path.length), ctx.query);
    const proto = firstEntry(single(req, 'x-forwarded-proto') ?? undefined)?.toLowerCase();

    await withGeneration(state, async (table) => {
      const entry = findRoute(table, method, host, path, req);
      const decision = createRequest(state, req, res, ctx.requestId, method, path, query, host, entry.route);
      gr = decision;
      // the caller is a proxy we allowed: its X-Forwarded-For names the client
      decision.clientIp = decisionClient(req, state.trusted);
      if (proto === 'http' || proto === 'https') decision.scheme = proto;
      if (await runPipeline(decision, state.metrics)) return;
      forwardIdentity(state, decision);
      for (const name in decision.responseHeaders) res.setHeader(name, decision.responseHeaders[name]!);
      const grant = { ...decision.upstreamHeaders };
      omitHeaders(grant, decision.omitUpstreamHeaders);
      for (const name in grant) res.setHeader(name, grant[name]!);
      res.setHeader('cache-control', 'no-store');
      res.setHeader('content-length', 0);
      res.writeHead(200);
      res.end();
    });
  } catch (err) {
    sendGatewayError(res, toGatewayError(err, state.logger, ctx.requestId), ctx.requestId, gr?.responseHeaders);
  }
}
