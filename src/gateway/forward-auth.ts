// The forward-auth decision endpoint (`gateway.forward_auth.path`, default
// /_drawbridge/authz) for proxies that ask before they forward: nginx `auth_request`,
// Traefik ForwardAuth, Envoy ext_authz (HTTP). It finds the route the original request
// would take and runs that route's chain without proxying:
//   200 + `Authorization: Bearer <internal JWT>` + X-Consumer-* (and any upstream headers
//       plugins set) on allow — the proxy copies them onto the forwarded request;
//   401 with every challenge, 403, 429 … with the usual JSON body on deny.
// The original request is read from X-Forwarded-Method/-Proto/-Host/-Uri (Traefik),
// X-Original-Method/-URI (nginx), or — Envoy — the path after the endpoint's own path and
// the request's own method and Host. Only peers in `forward_auth.allow` may ask: the answer
// carries an internal token.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../core/listener.js';
import type { AddressMatcher } from './addresses.js';
import { forbidden, GatewayError } from './errors.js';
import { omitHeaders } from './mutate/headers.js';
import { normalizePath } from '../core/path.js';
import { runPipeline } from './pipeline.js';
import { sendGatewayError, toGatewayError } from './respond.js';
import { clientAddress, createRequest, findRoute, forwardIdentity, withGeneration, type GatewayState } from './server.js';
import type { GatewayRequest } from './types.js';

function first(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = Array.isArray(value) ? value[0] : value;
  return v === undefined || v === '' ? undefined : v.split(',', 1)[0]!.trim();
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
    const h = req.headers;
    const method = (first(h['x-forwarded-method']) ?? first(h['x-original-method']) ?? req.method ?? 'GET').toUpperCase();
    const suffix = ctx.path.slice(fa.path.length);
    const uri =
      h['x-forwarded-uri'] ?? h['x-original-uri'] ?? (suffix !== '' ? suffix + (ctx.query === '' ? '' : `?${ctx.query}`) : '/');
    const target = Array.isArray(uri) ? uri[0]! : uri;
    const q = target.indexOf('?');
    const path = normalizePath(q === -1 ? target : target.slice(0, q));
    if (path === undefined || target.indexOf('#') !== -1) throw new GatewayError('invalid_request', 400, 'malformed forwarded URI', { reason: 'bad_path' });
    const query = q === -1 ? '' : target.slice(q + 1);
    const host = (first(h['x-forwarded-host']) ?? h.host ?? '').toLowerCase();
    const proto = first(h['x-forwarded-proto']);

    await withGeneration(state, async (table) => {
      const entry = findRoute(table, method, host, path, req);
      const decision = createRequest(state, req, res, ctx.requestId, method, path, query, host, entry.route);
      gr = decision;
      // the caller is a proxy we allowed: its X-Forwarded-For names the client
      decision.clientIp = clientAddress(req, (address) => fa.allow(address) || state.trusted(address));
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
