// The admin listener: Bearer `admin_token` on every path but /healthz and /readyz (and `OPTIONS *`), then
// Kong's resource paths and /metrics. Refuses to start on a non-loopback address without
// a token of at least 32 characters (the schema already requires one with admin_listen;
// this is the second lock).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../../config/schema.js';
import { isLoopbackHost } from '../../config/formats.js';
import { adminTokenProblem } from '../../config/schema-gateway.js';
import type { TlsConfig } from '../../config/types.js';
import { safeEqual } from '../../core/crypto-util.js';
import { UnavailableError } from '../../core/errors.js';
import { Refused } from '../../core/refused.js';
import { parseListen, startListener, type ReadinessCheck, type RequestContext, type RunningListener } from '../../core/listener.js';
import { answerOptions, sendText } from '../../core/http.js';
import { METRICS_CONTENT_TYPE } from '../metrics.js';
import type { AdminContext, AdminHandler, AdminRequest } from './context.js';
import { clientsEndpoint } from './clients.js';
import { consumersEndpoint, credentialsEndpoint } from './consumers.js';
import { pluginsEndpoint, routesEndpoint, servicesEndpoint } from './entities.js';
import { sessionsEndpoint } from './sessions.js';
import { usersEndpoint } from './users.js';
import { AdminError, methodNotAllowed, refusedAsAdminError, sendAdminError, sendData } from './respond.js';
import { hasControlCharacter } from '../../core/text.js';

export const ADMIN_CHALLENGE = 'Bearer realm="drawbridge-admin"';

/** `Allow` of the answer to `OPTIONS *`: the methods the admin API's resources take. */
const ADMIN_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

export { isLoopbackHost };

/**
 * Refuses an admin listener that would be open to the network without a token: a
 * ConfigError naming the key (the CLI exits 2 with it).
 */
export function assertAdminListenSafe(listen: string, token: string | undefined): void {
  const { host } = parseListen(listen);
  if ((token === undefined || token === '') && !isLoopbackHost(host)) {
    throw new ConfigError('gateway.admin_token', `required: gateway.admin_listen ${listen} is not a loopback address (set a token, or listen on 127.0.0.1)`);
  }
  if (token === '') throw new ConfigError('gateway.admin_token', 'must not be empty');
  const weak = token === undefined ? undefined : adminTokenProblem(listen, token);
  if (weak !== undefined) throw new ConfigError('gateway.admin_token', weak);
}

const ROUTES: Record<string, AdminHandler> = {
  consumers: consumersEndpoint,
  services: servicesEndpoint,
  routes: routesEndpoint,
  plugins: pluginsEndpoint,
  sessions: sessionsEndpoint,
  clients: clientsEndpoint,
  users: usersEndpoint,
  'key-auths': credentialsEndpoint,
  'basic-auths': credentialsEndpoint,
  'hmac-auths': credentialsEndpoint,
};

/**
 * The request handler (exported for the listener and for tests). `token` may be a function:
 * it is read per request, so a reload (SIGHUP) that changes `admin_token` applies at once.
 */
export function adminHandler(ctx: AdminContext, adminToken: string | undefined | (() => string | undefined)) {
  const currentToken = typeof adminToken === 'function' ? adminToken : () => adminToken;
  return async function handleAdmin(req: IncomingMessage, res: ServerResponse, rc: RequestContext): Promise<void> {
    const method = req.method ?? 'GET';
    try {
      // not origin-form (the listener made an absolute-form target one): `OPTIONS *` (RFC 9110
      // §9.3.7) asks about the server and names no resource to guard; anything else is malformed
      if (rc.path.charCodeAt(0) !== 47 /* / */) {
        if (req.url === '*' && method === 'OPTIONS') return answerOptions(req, res, 200, ADMIN_METHODS);
        req.resume();
        throw new AdminError('invalid_request', 400, 'malformed request target (* is only for OPTIONS)');
      }
      const token = currentToken();
      if (token !== undefined) {
        const given = bearerToken(req.headers.authorization);
        if (given === undefined || !safeEqual(given, token)) {
          req.resume();
          throw tokenRefused(given !== undefined);
        }
      }
      const segments = splitPath(rc.path);
      if (segments.length === 0) {
        req.resume();
        return sendData(res, 200, { name: 'drawbridge-admin', endpoints: ['/services', '/routes', '/plugins', '/consumers', '/key-auths', '/basic-auths', '/hmac-auths', '/sessions', '/clients', '/users', '/metrics'] });
      }
      if (segments.length === 1 && segments[0] === 'metrics') {
        req.resume();
        if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(['GET']);
        return sendText(res, 200, METRICS_CONTENT_TYPE, await ctx.metrics.scrape(), { 'cache-control': 'no-store' });
      }
      // own keys only: /constructor found Object (no answer) and /__proto__ a 500
      const endpoint = Object.hasOwn(ROUTES, segments[0]!) ? ROUTES[segments[0]!] : undefined;
      if (!endpoint) throw new AdminError('not_found', 404, `no admin resource ${rc.path}`);
      const ar: AdminRequest = { req, res, method, segments, requestId: rc.requestId };
      await endpoint(ctx, ar);
    } catch (thrown) {
      const err = thrown instanceof Refused ? refusedAsAdminError(thrown) : thrown;
      if (err instanceof UnavailableError) {
        // the database (or Redis) did not answer: worth a retry, not a 500
        ctx.logger.error({ err, requestId: rc.requestId, path: rc.path }, 'admin request failed: a store is unavailable');
        const unavailable = new AdminError('service_unavailable', 503, 'temporarily unable to handle the request; retry later', { headers: { 'retry-after': String(err.retryAfterSeconds) } });
        return sendAdminError(res, unavailable, rc.requestId);
      }
      if (!(err instanceof AdminError)) {
        ctx.logger.error({ err, requestId: rc.requestId, path: rc.path }, 'admin request failed');
        return sendAdminError(res, new AdminError('server_error', 500, 'internal error'), rc.requestId);
      }
      if (!req.complete) res.setHeader('connection', 'close');
      sendAdminError(res, err, rc.requestId);
    }
  };
}

/**
 * What `Authorization: Bearer <token>` gives ('' for `Bearer` alone), the scheme in any case
 * (RFC 7235 §2.1: `bearer` is as good); undefined when there is no Bearer credential at all
 * (no Authorization, or another scheme). The caller compares it in constant time (safeEqual:
 * digests of equal length, whatever was sent).
 */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const space = header.indexOf(' ');
  const scheme = space === -1 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') return undefined;
  return space === -1 ? '' : header.slice(space + 1);
}

/**
 * The 401 for a request without the admin token, its body's `error` as its challenge says
 * (RFC 6750 §3.1), as the gateway's own 401s: no Bearer token at all (none, or another scheme)
 * gets the bare challenge and `unauthorized`; a wrong one `error="invalid_token"` and `invalid_token`.
 */
function tokenRefused(bearerGiven: boolean): AdminError {
  if (!bearerGiven) return new AdminError('unauthorized', 401, 'admin token required', { headers: { 'www-authenticate': ADMIN_CHALLENGE } });
  return new AdminError('invalid_token', 401, 'invalid admin token', { headers: { 'www-authenticate': `${ADMIN_CHALLENGE}, error="invalid_token"` } });
}

function splitPath(path: string): string[] {
  const segments: string[] = [];
  for (const part of path.split('/')) {
    if (part === '') continue;
    let segment: string;
    try {
      segment = decodeURIComponent(part);
    } catch {
      throw new AdminError('invalid_request', 400, 'malformed percent-encoding in the path');
    }
    // No name or id holds a control character, and PostgreSQL refuses NUL in a lookup (a 500
    // before this check): such a segment names nothing.
    if (hasControlCharacter(segment)) throw new AdminError('not_found', 404, 'not found: the path holds a control character');
    segments.push(segment);
  }
  return segments;
}

export interface AdminListenerOptions {
  listen: string;
  /** a function: read per request (the token a reload set) */
  token: string | undefined | (() => string | undefined);
  tls?: TlsConfig;
  readiness?: Record<string, ReadinessCheck>;
}

export async function startAdminListener(ctx: AdminContext, opts: AdminListenerOptions): Promise<RunningListener> {
  assertAdminListenSafe(opts.listen, typeof opts.token === 'function' ? opts.token() : opts.token);
  return startListener({
    name: 'admin',
    listen: opts.listen,
    tls: opts.tls,
    handler: adminHandler(ctx, opts.token),
    logger: ctx.logger,
    readiness: opts.readiness ?? {},
  });
}
