// Path → endpoint table, fixed at start. The per-request work is one Map lookup.
import { methodNotAllowed, notFound } from '../core/errors.js';
import { answerOptions, remoteAddress } from '../core/http.js';
import type { Handler } from '../core/listener.js';
import type { AuthContext } from './context.js';
import { pathOf } from './context.js';
import { authorizationEndpoint } from './endpoints/authorize/index.js';
import { discoveryEndpoint } from './endpoints/discovery.js';
import { introspectionEndpoint } from './endpoints/introspect.js';
import { jwksEndpoint } from './endpoints/jwks.js';
import { logoutEndpoint } from './endpoints/logout.js';
import { pushedAuthorizationEndpoint } from './endpoints/par.js';
import { revocationEndpoint } from './endpoints/revoke.js';
import { tokenEndpoint } from './endpoints/token.js';
import { userinfoEndpoint } from './endpoints/userinfo.js';
import type { Endpoint } from './endpoints/types.js';
import { bindRequest } from './request-scope.js';
import { AllowedOrigins, corsActual, corsPreflight, type CorsPolicy } from './cors.js';
import { clientsChangeStamp } from '../storage/open.js';

/** Endpoints browser apps call cross-origin (cors.ts), and the methods a preflight allows. */
const CORS: ReadonlyMap<Endpoint, CorsPolicy> = new Map([
  [tokenEndpoint, { methods: 'POST' }],
  [pushedAuthorizationEndpoint, { methods: 'POST' }],
  [revocationEndpoint, { methods: 'POST' }],
  [userinfoEndpoint, { methods: 'GET, POST' }],
]);

/**
 * The methods each endpoint serves, as Allow says them (RFC 9110 §10.2.1): its own, and OPTIONS
 * where it answers CORS preflights.
 */
function allowOf(endpoint: Endpoint): readonly string[] {
  return CORS.has(endpoint) ? [...endpoint.methods, 'OPTIONS'] : endpoint.methods;
}

/** Staleness bound of the allowed origins: the client cache's (start.ts), at most 2 s. */
const ORIGINS_MAX_TTL_MS = 2000;

function authRoutes(ctx: AuthContext): Map<string, Endpoint> {
  const e = ctx.endpoints;
  const base = pathOf(e.issuer).replace(/\/$/, '');
  const routes = new Map<string, Endpoint>();
  // OIDC Discovery appends to the issuer path; RFC 8414 §3 inserts the well-known part before it
  routes.set(`${base}/.well-known/openid-configuration`, discoveryEndpoint);
  routes.set(`${base}/.well-known/oauth-authorization-server`, discoveryEndpoint);
  if (base !== '') {
    routes.set(`/.well-known/oauth-authorization-server${base}`, discoveryEndpoint);
    routes.set(`/.well-known/openid-configuration${base}`, discoveryEndpoint);
  }
  routes.set(pathOf(e.jwks), jwksEndpoint);
  routes.set(pathOf(e.token), tokenEndpoint);
  routes.set(pathOf(e.introspection), introspectionEndpoint);
  routes.set(pathOf(e.revocation), revocationEndpoint);
  routes.set(pathOf(e.authorization), authorizationEndpoint);
  routes.set(pathOf(e.userinfo), userinfoEndpoint);
  routes.set(pathOf(e.endSession), logoutEndpoint);
  routes.set(pathOf(e.pushedAuthorization), pushedAuthorizationEndpoint);
  return routes;
}

export function authHandler(ctx: AuthContext): Handler {
  const routes = authRoutes(ctx);
  const origins = new AllowedOrigins(ctx.storage.clients, {
    ttlMs: Math.min(ctx.config.keys.refresh_interval * 1000, ORIGINS_MAX_TTL_MS),
    changeStamp: clientsChangeStamp(ctx.storage),
  });
  // Not async: the endpoint's promise is handed on as it is (one promise fewer per request);
  // the errors thrown here reach the listener's try/catch all the same.
  const allowed = new Map<Endpoint, readonly string[]>([...new Set(routes.values())].map((e) => [e, allowOf(e)]));
  return function routeAuthRequest(req, res, rc) {
    const endpoint = routes.get(rc.path);
    if (!endpoint) throw notFound(`no endpoint at ${rc.path}`);
    const policy = CORS.get(endpoint);
    const cors = req.headers.origin !== undefined ? policy : undefined;
    if (req.method === 'OPTIONS' && policy !== undefined) {
      // a CORS preflight; without Origin, a plain OPTIONS: the methods served (RFC 9110 §9.3.7)
      if (cors !== undefined) return corsPreflight(origins, cors, req, res);
      return answerOptions(req, res, 204, allowed.get(endpoint)!.join(', '));
    }
    if (!endpoint.methods.includes(req.method ?? '')) {
      req.resume();
      throw methodNotAllowed(allowed.get(endpoint)!);
    }
    // audit events of this request carry its request id and IP (request-scope.ts)
    bindRequest(req, { request_id: rc.requestId, ip: remoteAddress(req) });
    // only requests with an Origin wait for the CORS check; server-side clients send none
    if (cors !== undefined) return corsActual(origins, req, res).then(() => endpoint.handle(ctx, req, res, rc));
    return endpoint.handle(ctx, req, res, rc);
  };
}
