// `authenticate(verifier, { scopes, groups })`: one function for both ways services are
// written with node:
//
//   http.createServer(authenticate(verifier)(async (req, res) => { … req.auth … }))   // wrapper
//   app.use(authenticate(verifier, { scopes: ['orders:read'] }))                        // Express/Connect
//   app.use(authErrorHandler(verifier))   // after the routes: guards thrown inside them
//
// Refusals are answered per RFC 6750 §3 with the ARCHITECTURE §6 JSON body:
//   no token                  → 401, `WWW-Authenticate: Bearer realm="…"` (no error code, §3.1)
//   malformed Authorization   → 400 invalid_request
//   bad / expired / foreign   → 401 invalid_token
//   missing scope or group    → 403 insufficient_scope (+ `scope="…"` when scopes are missing)
//   keys cannot be fetched    → 503 temporarily_unavailable (the token may be fine: don't say it isn't)
// The wrapper also answers what else its handler throws: 500 server_error, the error itself
// going to `onHandlerError` only (Express has its own error handlers for that).
// Never a stack trace, never the token.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readAuthorization } from './bearer.js';
import type { InternalClaims } from './claims.js';
import { DrawbridgeAuthError } from './errors.js';
import { requireGroups, requireScopes } from './guards.js';
import type { Verifier } from './verifier.js';

export interface AuthenticateOptions {
  /** every one of these scopes is required */
  scopes?: readonly string[];
  /** membership in any one of these groups is required */
  groups?: readonly string[];
  /** the challenge's realm; default the verifier's (first) audience */
  realm?: string;
  /** Called with every refusal before it is answered — e.g. to log 503s with `err.cause`. */
  onError?: (err: DrawbridgeAuthError, req: IncomingMessage) => void;
  /**
   * node:http wrapper only: called with anything but a DrawbridgeAuthError that the wrapped
   * handler throws (or its promise rejects with), before the 500 is sent. Default: console.error.
   */
  onHandlerError?: (err: unknown, req: IncomingMessage) => void;
}

export type AuthErrorHandlerOptions = Pick<AuthenticateOptions, 'realm' | 'onError'>;

/** Express-style error middleware: Express tells it from other middleware by its four parameters. */
export type AuthErrorHandler = (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;

export type AuthenticatedRequest<R extends IncomingMessage = IncomingMessage> = R & { auth: InternalClaims };

export type Next = (err?: unknown) => void;

export interface Authenticate {
  /** Express/Connect middleware: sets `req.auth` and calls `next()`, or answers the refusal. */
  (req: IncomingMessage, res: ServerResponse, next: Next): void;
  /** Wraps a node:http handler: it runs only for authenticated requests, with `req.auth` set.
   *  A DrawbridgeAuthError the handler throws (e.g. from requireScopes) is answered too; any
   *  other error is a 500 `server_error` (reported to `onHandlerError`), so the promise the
   *  wrapper returns never rejects. */
  <R extends IncomingMessage = IncomingMessage>(
    handler: (req: AuthenticatedRequest<R>, res: ServerResponse) => unknown,
  ): (req: R, res: ServerResponse) => Promise<void>;
}

export function authenticate(verifier: Verifier, opts: AuthenticateOptions = {}): Authenticate {
  const realm = opts.realm ?? verifier.audience[0]!;
  const scopes = [...(opts.scopes ?? [])];
  const groups = [...(opts.groups ?? [])];

  const refuse = refuser(realm, opts.onError);
  const onHandlerError = opts.onHandlerError ?? logHandlerError;

  /** The handler failed on its own: a 500 that says nothing of why (the why goes to the hook). */
  function fail(res: ServerResponse, err: unknown, req: IncomingMessage): void {
    try {
      onHandlerError(err, req);
    } catch {
      // a failing log hook must not leave the request unanswered
    }
    if (!res.headersSent) sendJson(res, 500, errorBody('server_error', 'internal error', req));
    // begun but not finished: cut it, so the client can't take half an answer for a whole one
    else if (!res.writableEnded) res.destroy();
  }

  async function check(req: IncomingMessage): Promise<InternalClaims> {
    // node keeps only the first of repeated Authorization fields in `headers`; `headersDistinct`
    // has them all, so a request carrying two is refused rather than judged by the first
    const state = readAuthorization(req.headersDistinct ?? req.headers);
    if (state.kind === 'none') throw new DrawbridgeAuthError('invalid_token', 'no bearer token', { noCredentials: true });
    if (state.kind === 'malformed') throw new DrawbridgeAuthError('invalid_request', 'malformed Authorization header');
    const claims = await verifier.verify(state.token);
    if (scopes.length > 0) requireScopes(claims, ...scopes);
    if (groups.length > 0) requireGroups(claims, ...groups);
    return claims;
  }

  function middleware(req: IncomingMessage, res: ServerResponse, next: Next): void {
    check(req).then(
      (claims) => {
        (req as AuthenticatedRequest).auth = claims;
        next();
      },
      (err: unknown) => {
        if (err instanceof DrawbridgeAuthError) refuse(res, err, req);
        else next(err);
      },
    );
  }

  function wrap<R extends IncomingMessage>(handler: (req: AuthenticatedRequest<R>, res: ServerResponse) => unknown) {
    return async function authenticated(req: R, res: ServerResponse): Promise<void> {
      // Nothing is rethrown: under a bare createServer a rejected promise is an unhandled
      // rejection, which ends the process (and the client would be left hanging).
      try {
        (req as AuthenticatedRequest<R>).auth = await check(req);
        await handler(req as AuthenticatedRequest<R>, res);
      } catch (err) {
        // a refusal, or a guard inside the handler (once the answer has begun, refusing cuts
        // the connection: sendAuthError); anything else is a failure of the handler's own
        if (err instanceof DrawbridgeAuthError) refuse(res, err, req);
        else fail(res, err, req);
      }
    };
  }

  return function authenticateDispatch(...args: unknown[]) {
    if (typeof args[0] === 'function') return wrap(args[0] as (req: AuthenticatedRequest, res: ServerResponse) => unknown);
    if (typeof args[2] !== 'function') {
      // used as a bare node:http listener, nothing would answer an authenticated request
      throw new TypeError('authenticate(verifier) is middleware (req, res, next); for node:http wrap a handler: authenticate(verifier)(handler)');
    }
    middleware(args[0] as IncomingMessage, args[1] as ServerResponse, args[2] as Next);
    return undefined;
  } as Authenticate;
}

/**
 * Express/Connect error middleware for guards thrown inside routes (`requireScopes(req.auth, …)`
 * in a route handler): a DrawbridgeAuthError is answered as `authenticate` answers it (RFC 6750
 * §3 challenge + JSON, `onError` first); every other error goes on to `next(err)`. Mount it
 * after the routes. The verifier gives the default realm, so challenges match the middleware's.
 */
export function authErrorHandler(verifier: Pick<Verifier, 'audience'>, opts: AuthErrorHandlerOptions = {}): AuthErrorHandler {
  const refuse = refuser(opts.realm ?? verifier.audience[0]!, opts.onError);
  // four declared parameters: that is how Express recognises an error handler
  return function drawbridgeAuthErrorHandler(err: unknown, req: IncomingMessage, res: ServerResponse, next: Next): void {
    if (err instanceof DrawbridgeAuthError) refuse(res, err, req);
    else next(err);
  };
}

function refuser(realm: string, onError: AuthenticateOptions['onError']) {
  return function refuse(res: ServerResponse, err: DrawbridgeAuthError, req: IncomingMessage): void {
    try {
      onError?.(err, req);
    } catch {
      // a failing log hook must not leave the request unanswered
    }
    sendAuthError(res, err, { realm, req });
  };
}

function logHandlerError(err: unknown, req: IncomingMessage): void {
  console.error(`drawbridge/sdk: the handler of ${req.method ?? '?'} ${(req.url ?? '').split('?')[0]} failed:`, err);
}

/** Answers a DrawbridgeAuthError (RFC 6750 §3 challenge + `{ error, error_description[, request_id] }`). */
export function sendAuthError(res: ServerResponse, err: DrawbridgeAuthError, opts: { realm: string; req?: IncomingMessage }): void {
  if (res.headersSent) {
    // an answer under way is cut so the client sees it failed; one sent in full stays as it is
    if (!res.writableEnded) res.destroy();
    return;
  }
  const challenge = challengeFor(err, opts.realm);
  if (challenge !== undefined) res.setHeader('www-authenticate', challenge);
  // no credential at all: the body says `unauthorized`, as the gateway's and userinfo's do
  sendJson(res, err.status, errorBody(err.noCredentials ? 'unauthorized' : err.code, err.message, opts.req));
}

/** ARCHITECTURE §6: `{ error, error_description[, request_id] }`, with the gateway's X-Request-Id when it is sane. */
function errorBody(error: string, description: string, req: IncomingMessage | undefined): Record<string, string> {
  const body: Record<string, string> = { error, error_description: description };
  const requestId = req?.headers['x-request-id'];
  if (typeof requestId === 'string' && /^[\x21-\x7e]{1,200}$/.test(requestId)) body.request_id = requestId;
  return body;
}

/** Headers the handler may have set for its own body, which would misdescribe this one. */
const REPRESENTATION = ['content-encoding', 'content-range', 'content-disposition', 'content-language', 'etag', 'last-modified'];

function sendJson(res: ServerResponse, status: number, body: Record<string, string>): void {
  const payload = JSON.stringify(body);
  for (const name of REPRESENTATION) res.removeHeader(name);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(payload));
  res.writeHead(status);
  res.end(payload);
}

/** The `WWW-Authenticate` value for an error, or undefined when none is sent (503). */
export function challengeFor(err: DrawbridgeAuthError, realm: string): string | undefined {
  if (err.code === 'temporarily_unavailable') return undefined;
  const parts = [`Bearer realm=${quoted(realm)}`];
  // RFC 6750 §3.1: a request without any credentials gets no error code
  if (err.noCredentials) return parts[0];
  parts.push(`error="${err.code}"`, `error_description="${paramSafe(err.message)}"`);
  if (err.scope !== undefined && err.scope.length > 0) parts.push(`scope="${paramSafe(err.scope.join(' '))}"`);
  return parts.join(', ');
}

/** RFC 9110 quoted-string. */
function quoted(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** RFC 6750 §3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E only. */
function paramSafe(value: string): string {
  return value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "'");
}
