// Path → endpoint table, fixed at start. The per-request work is one Map lookup.
import { methodNotAllowed, notFound } from '../core/errors.js';
import { remoteAddress } from '../core/http.js';
import type { Handler } from '../core/listener.js';
import type { AuthContext } from './context.js';
import { pathOf } from './context.js';
import { authorizationEndpoint } from './endpoints/authorize/index.js';
import { discoveryEndpoint } from './endpoints/discovery.js';
import { introspectionEndpoint } from './endpoints/introspect.js';
import { jwksEndpoint } from './endpoints/jwks.js';
import { logoutEndpoint } from './endpoints/logout.js';
import { revocationEndpoint } from './endpoints/revoke.js';
import { tokenEndpoint } from './endpoints/token.js';
import { userinfoEndpoint } from './endpoints/userinfo.js';
import type { Endpoint } from './endpoints/types.js';
import { bindRequest } from './request-scope.js';

export function authRoutes(ctx: AuthContext): Map<string, Endpoint> {
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
  return routes;
}

export function authHandler(ctx: AuthContext): Handler {
  const routes = authRoutes(ctx);
  // Not async: the endpoint's promise is handed on as it is (one promise fewer per request);
  // the errors thrown here reach the listener's try/catch all the same.
  return function routeAuthRequest(req, res, rc) {
    const endpoint = routes.get(rc.path);
    if (!endpoint) throw notFound(`no endpoint at ${rc.path}`);
    if (!endpoint.methods.includes(req.method ?? '')) {
      req.resume();
      throw methodNotAllowed(endpoint.methods);
    }
    // audit events of this request carry its request id and IP (request-scope.ts)
    bindRequest(req, { request_id: rc.requestId, ip: remoteAddress(req) });
    return endpoint.handle(ctx, req, res, rc);
  };
}
