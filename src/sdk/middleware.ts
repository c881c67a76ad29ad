// `authenticate(verifier, { scopes, groups })`: one function for both ways services are
// written with node:
//
//   http.createServer(authenticate(verifier)(async (req, res) => { … req.auth … }))   // wrapper
//   app.use(authenticate(verifier, { scopes: ['orders:read'] }))                        // Express/Connect
//
// Refusals are answered per RFC 6750 §3 with the ARCHITECTURE §6 JSON body:
//   no token                  → 401, `WWW-Authenticate: Bearer realm="…"` (no error code, §3.1)
//   malformed Authorization   → 400 invalid_request
//   bad / expired / foreign   → 401 invalid_token
//   missing scope or group    → 403 insufficient_scope (+ `scope="…"` when scopes are missing)
//   keys cannot be fetched    → 503 temporarily_unavailable (the token may be fine: don't say it isn't)
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
}

export type AuthenticatedRequest<R extends IncomingMessage = IncomingMessage> = R & { auth: InternalClaims };

export type Next = (err?: unknown) => void;

export interface Authenticate {
  /** Express/Connect middleware: sets `req.auth` and calls `next()`, or answers the refusal. */
  (req: IncomingMessage, res: ServerResponse, next: Next): void;
  /** Wraps a node:http handler: it runs only for authenticated requests, with `req.auth` set.
   *  A DrawbridgeAuthError the handler throws (e.g. from requireScopes) is answered too. */
  <R extends IncomingMessage = IncomingMessage>(
    handler: (req: AuthenticatedRequest<R>, res: ServerResponse) => unknown,
  ): (req: R, res: ServerResponse) => Promise<void>;
}

export function authenticate(verifier: Verifier, opts: AuthenticateOptions = {}): Authenticate {
  const realm = opts.realm ?? verifier.audience[0]!;
  const scopes = [...(opts.scopes ?? [])];
  const groups = [...(opts.groups ?? [])];

  function refuse(res: ServerResponse, err: DrawbridgeAuthError, req: IncomingMessage): void {
    try {
      opts.onError?.(err, req);
    } catch {
      // a failing log hook must not leave the request unanswered
    }
    sendAuthError(res, err, { realm, req });
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
      let claims: InternalClaims;
      try {
        claims = await check(req);
      } catch (err) {
        if (err instanceof DrawbridgeAuthError) return refuse(res, err, req);
        throw err;
      }
      (req as AuthenticatedRequest<R>).auth = claims;
      try {
        await handler(req as AuthenticatedRequest<R>, res);
      } catch (err) {
        // a guard inside the handler; anything else is the handler's own failure. Once the
        // answer has begun, refusing cuts the connection (sendAuthError): rethrowing would
        // leave the client hanging and, under a bare createServer, crash the process.
        if (err instanceof DrawbridgeAuthError) return refuse(res, err, req);
        throw err;
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

/** Answers a DrawbridgeAuthError (RFC 6750 §3 challenge + `{ error, error_description[, request_id] }`). */
export function sendAuthError(res: ServerResponse, err: DrawbridgeAuthError, opts: { realm: string; req?: IncomingMessage }): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const challenge = challengeFor(err, opts.realm);
  if (challenge !== undefined) res.setHeader('www-authenticate', challenge);
  const body: Record<string, string> = { error: err.code, error_description: err.message };
  const requestId = opts.req?.headers['x-request-id'];
  if (typeof requestId === 'string' && /^[\x21-\x7e]{1,200}$/.test(requestId)) body.request_id = requestId;
  const payload = JSON.stringify(body);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(payload));
  res.writeHead(err.status);
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
