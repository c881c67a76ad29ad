// The gateway's own browser-session endpoints, answered before route matching:
//   GET  /_drawbridge/callback            the provider's authorization response: the login-state
//                                         cookie must match `state`; code → tokens → ID token
//                                         checked → session stored → cookie set → 303 back to
//                                         the URL the login started from (same-origin paths only)
//   GET|POST /_drawbridge/logout          ends the session here (store, cookie), revokes its
//                                         tokens at the provider, then RP-initiated logout; a
//                                         request another site started (Sec-Fetch-Site:
//                                         cross-site, or an Origin not ours) only gets a
//                                         "Sign out?" page that POSTs here, so a link or a form
//                                         elsewhere cannot sign users out (nor drop their cookie)
//   POST /_drawbridge/backchannel-logout  OIDC Back-Channel Logout 1.0: a valid logout token
//                                         ends the matching sessions (by sid, else by sub)
// Every session ended here is announced (`gateway-session.ended`) so that each instance
// drops its cached copy at once (src/gateway/session-events.ts).
// The relying party is found from the login state (callback), the session (logout) or the
// logout token's iss + aud (back-channel), so several oidc-login configurations coexist.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomToken } from '../../core/crypto-util.js';
import type { RequestContext } from '../../core/listener.js';
import { readForm, sendText } from '../../core/http.js';
import { clearSessionCookie, newSessionCookieValue, readSessionCookie, sessionCookieName, sessionIdOf, sessionSetCookie, type SessionCookieOptions } from '../../sessions/cookie.js';
import { sealTokens, sessionTokensKey, unsealTokens } from '../../sessions/tokens.js';
import { UnavailableError } from '../../core/errors.js';
import type { GatewaySession } from '../../sessions/types.js';
import type { Logger } from '../../observability/logger.js';
import { isSessionAware } from '../authn/session.js';
import type { RouteTable } from '../compile.js';
import { BACKCHANNEL_LOGOUT_PATH, CALLBACK_PATH, LOGOUT_PATH, readCookie } from './cookies.js';
import { validateLogoutToken } from './logout-token.js';
import type { SessionContext } from './settings.js';

export const SESSION_ENDPOINTS: ReadonlySet<string> = new Set([CALLBACK_PATH, LOGOUT_PATH, BACKCHANNEL_LOGOUT_PATH]);


/** The session context of the first session-backed authenticator in the table, if any. */
function sessionContextOf(table: RouteTable): SessionContext | undefined {
  for (const route of table.routes) {
    for (const authenticator of route.authenticators) if (isSessionAware(authenticator)) return authenticator.sessionContext;
  }
  return undefined;
}

/** Only a path on this origin: `/x`, never `//host`, `/\host`, a scheme or control characters. */
export function safeReturnPath(value: string): string {
  return /^\/(?![/\\])[^\\\u0000-\u001f\u007f]*$/.test(value) ? value : '/';
}

const MAX_FORM = 64 * 1024;

class EndpointError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    description: string,
  ) {
    super(description);
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return /text\/html/i.test(accept);
}

function sendProblem(req: IncomingMessage, res: ServerResponse, err: EndpointError, requestId: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const name in headers) res.setHeader(name, headers[name]!);
  res.setHeader('cache-control', 'no-store');
  let body: string;
  if (wantsHtml(req)) {
    body =
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head><body>` +
      `<h1>Sign-in failed</h1><p>${escapeHtml(err.message)}</p><p><a href="/">Start again</a></p>` +
      `<p><small>error: ${escapeHtml(err.code)} · request ${escapeHtml(requestId)}</small></p></body></html>`;
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.setHeader('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
  } else {
    body = JSON.stringify({ error: err.code, error_description: err.message, request_id: requestId });
    res.setHeader('content-type', 'application/json; charset=utf-8');
  }
  res.setHeader('content-length', Buffer.byteLength(body));
  if (!req.complete) res.setHeader('connection', 'close');
  res.writeHead(err.status);
  res.end(body);
}

/** The page a cross-site GET of the logout path gets: a form that POSTs from this origin. */
const CONFIRM_LOGOUT_PAGE =
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
  `<title>Sign out?</title></head><body><h1>Sign out?</h1>` +
  `<form method="post" action="${LOGOUT_PATH}"><button type="submit">Sign out</button></form></body></html>`;

/**
 * A logout request another site started: `Sec-Fetch-Site: cross-site`, or (when the browser
 * does not vouch for it with `same-origin` / `none`) an `Origin` other than this gateway's
 * (`null` included). Browsers send no SameSite=Lax cookie with a cross-site POST, so acting
 * on one would only drop the cookie and leave the session alive; a GET would sign out.
 * Non-browser clients (no Sec-Fetch-Site, no Origin) are not affected.
 */
function startedElsewhere(req: IncomingMessage, scheme: string): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site') return true;
  if (site === 'same-origin' || site === 'none') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  return origin.toLowerCase() !== ownOrigin(scheme, req.headers.host);
}

/** `scheme://host[:port]` of this request as the browser sees it (default port left out, as in Origin). */
function ownOrigin(scheme: string, host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  try {
    return new URL(`${scheme}://${host}`).origin.toLowerCase();
  } catch {
    return undefined;
  }
}

/** A logout another site started: ask first, with a form that POSTs from this origin. */
function confirmLogout(res: ServerResponse): void {
  sendText(res, 200, 'text/html; charset=utf-8', CONFIRM_LOGOUT_PAGE, {
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
  });
}

function redirect(res: ServerResponse, location: string, cookies: string[]): void {
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('location', location);
  res.setHeader('content-length', 0);
  res.writeHead(303);
  res.end();
}

/** What the endpoints use: the gateway's session context and the request's scheme as the client sees it. */
type EndpointEnv = SessionContext & { scheme: string };

export async function handleSessionEndpoint(
  table: RouteTable,
  scheme: string,
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const context = sessionContextOf(table);
  const env: EndpointEnv | undefined = context === undefined ? undefined : { ...context, scheme };
  const method = req.method ?? 'GET';
  try {
    if (env === undefined) throw new EndpointError(404, 'not_found', 'no route uses gateway sessions');
    if (ctx.path === CALLBACK_PATH) {
      if (method !== 'GET') throw new EndpointError(405, 'method_not_allowed', 'use GET');
      await callback(env, req, res, ctx);
    } else if (ctx.path === LOGOUT_PATH) {
      if (method !== 'GET' && method !== 'POST') throw new EndpointError(405, 'method_not_allowed', 'use GET or POST');
      req.resume();
      if (startedElsewhere(req, scheme)) return confirmLogout(res);
      await logout(env, req, res);
    } else {
      if (method !== 'POST') throw new EndpointError(405, 'method_not_allowed', 'use POST');
      await backchannelLogout(env, req, res);
    }
  } catch (err) {
    let problem: EndpointError;
    let retryAfter = 5;
    if (err instanceof EndpointError) problem = err;
    else if (err instanceof UnavailableError) {
      // the session store (SessionStoreUnavailableError) or storage itself
      problem = new EndpointError(503, 'service_unavailable', 'the session store is unavailable');
      retryAfter = err.retryAfterSeconds;
    } else {
      logger.error({ err, requestId: ctx.requestId }, 'session endpoint failed');
      problem = new EndpointError(500, 'internal_error', 'internal error');
    }
    const headers: Record<string, string> = problem.status === 503 ? { 'retry-after': String(Math.max(1, Math.ceil(retryAfter))) } : {};
    if (problem.status === 405) headers.allow = ctx.path === BACKCHANNEL_LOGOUT_PATH ? 'POST' : ctx.path === LOGOUT_PATH ? 'GET, POST' : 'GET';
    sendProblem(req, res, problem, ctx.requestId, headers);
  }
}

async function callback(env: EndpointEnv, req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
  const params = new URLSearchParams(ctx.query);
  const state = params.get('state') ?? '';
  const secure = env.scheme === 'https';
  const context = env;
  const any = context.registry.all()[0];
  if (any === undefined) throw new EndpointError(404, 'not_found', 'no oidc-login is configured');
  const now = env.clock.now();
  const login = any.loginStates.open(req.headers.cookie, state, now, secure);
  if (login === undefined) throw new EndpointError(400, 'invalid_request', 'this sign-in is unknown or has expired (state mismatch); start again');
  const clearState = any.loginStates.clearCookie(state, secure);
  const rp = context.registry.get(login.rp);
  if (rp === undefined) throw new EndpointError(400, 'invalid_request', 'the sign-in was started by a login configuration that no longer exists');
  const fail = (status: number, code: string, description: string) => {
    res.setHeader('set-cookie', clearState);
    return new EndpointError(status, code, description);
  };
  const error = params.get('error');
  if (error !== null) {
    const description = params.get('error_description');
    // the provider's words are shown as text, never as markup
    throw fail(error === 'access_denied' ? 403 : 400, error.slice(0, 64), `the login provider answered ${error}${description ? `: ${description.slice(0, 300)}` : ''}`);
  }
  const code = params.get('code');
  if (code === null || code === '') throw fail(400, 'invalid_request', 'the authorization response has no code');
  const outcome = await rp.finishLogin(login, code, params.get('iss') ?? undefined);
  if (!outcome.ok) {
    env.logger.warn({ issuer: rp.config.issuer, problem: outcome.problem, requestId: ctx.requestId }, 'oidc-login: sign-in failed');
    throw outcome.unavailable ? fail(503, 'service_unavailable', 'the login provider is unavailable') : fail(400, 'invalid_request', 'the sign-in could not be completed');
  }
  const { store, settings } = context;
  const cookieOpts: SessionCookieOptions = { name: settings.cookie_name, secure };
  // a fresh cookie value on every login (no session fixation); the old session ends
  const previous = readSessionCookie(req.headers.cookie, cookieOpts);
  if (previous !== undefined) {
    const previousId = sessionIdOf(previous);
    if (await store.delete(previousId)) void context.cache.ended([previousId]);
  }
  const value = newSessionCookieValue();
  const id = sessionIdOf(value);
  const created = env.clock.now();
  const session: GatewaySession = {
    ...outcome.session,
    id,
    tokens: sealTokens(sessionTokensKey(env.secret), id, outcome.tokens),
    created_at: created,
    last_seen_at: created,
    expires_at: created + settings.absolute_timeout,
  };
  await store.insert(session);
  redirect(res, safeReturnPath(login.return_to), [sessionSetCookie(cookieOpts, value, settings.absolute_timeout), clearState]);
}

async function logout(env: EndpointEnv, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { store, settings, registry } = env;
  const cookieOpts: SessionCookieOptions = { name: settings.cookie_name, secure: env.scheme === 'https' };
  const value = readSessionCookie(req.headers.cookie, cookieOpts);
  // a request without the cookie has none to clear (and a Set-Cookie would only be noise, or worse)
  const hasCookie = readCookie(req.headers.cookie, sessionCookieName(cookieOpts)) !== undefined;
  let location: string | undefined;
  let fallback = '/';
  if (value !== undefined) {
    const id = sessionIdOf(value);
    const session = await store.get(id);
    if (session !== undefined) {
      await store.delete(id);
      // every instance drops its cached copy now, before the provider calls below
      void env.cache.ended([id]);
      const rp = registry.find(session.issuer, session.client_id);
      if (rp !== undefined) {
        if (rp.config.post_logout_redirect_uri !== undefined) fallback = rp.config.post_logout_redirect_uri;
        let tokens;
        try {
          tokens = unsealTokens(sessionTokensKey(env.secret), id, session.tokens);
        } catch {
          tokens = undefined;
        }
        if (tokens !== undefined) await rp.revoke(tokens);
        location = await rp.endSessionUrl(tokens?.id_token, randomToken(16));
      }
    }
  }
  redirect(res, location ?? fallback, hasCookie ? [clearSessionCookie(cookieOpts)] : []);
}

async function backchannelLogout(env: EndpointEnv, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let token: string | undefined;
  try {
    token = (await readForm(req, MAX_FORM)).get('logout_token');
  } catch {
    throw new EndpointError(400, 'invalid_request', 'expected a form with logout_token');
  }
  if (token === undefined) throw new EndpointError(400, 'invalid_request', 'missing logout_token');
  const result = await validateLogoutToken(token, env.registry.all(), env.clock.now());
  if (!result.ok) {
    if (result.unavailable) throw new EndpointError(503, 'service_unavailable', 'the provider\'s keys are unavailable');
    env.logger.warn({ problem: result.problem }, 'back-channel logout token rejected');
    throw new EndpointError(400, 'invalid_request', result.problem);
  }
  const { store } = env;
  let ended: string[];
  if (result.sid !== undefined) {
    ended = await store.deleteByIdpSid(result.iss, result.sid);
  } else {
    // by sub: only this provider's and client's sessions of that user
    const client = result.rp.config.client_id;
    const sessions = (await store.listByUser(result.sub!)).filter((s) => s.issuer === result.iss && s.client_id === client);
    ended = [];
    for (const s of sessions) if (await store.delete(s.id)) ended.push(s.id);
  }
  void env.cache.ended(ended);
  env.logger.info({ issuer: result.iss, ended: ended.length }, 'back-channel logout');
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-length', 0);
  res.writeHead(200);
  res.end();
}
