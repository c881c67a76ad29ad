// UserInfo endpoint (OIDC Core §5.3), GET (and HEAD) and POST. The access token comes as a Bearer token
// (RFC 6750): in the Authorization header (§2.1), or in a form-encoded POST body as
// `access_token` (§2.2, which OIDC Core §5.3.1 lets clients use and the OpenID conformance
// suite tries); never in the query (§2.3). Errors per RFC 6750 §3: no Bearer credential (none,
// or another scheme) is 401 with a bare `WWW-Authenticate: Bearer realm=…` (§3.1: no error
// code, and the body's `error` is `unauthorized`, as the gateway's); a malformed header, a
// repeated body token or both methods at once (§2: one method per request) is 400
// invalid_request; a bad token (or a client's own, no user behind it) 401
// invalid_token; a token without `openid` 403 insufficient_scope. The body is always the
// §5.2-style JSON of ARCHITECTURE §6.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError, oauthDescription } from '../../core/errors.js';
import { readForm, sendNoStoreJson } from '../../core/http.js';
import { bearerCredential } from '../../sdk/bearer.js';
import type { AuthContext } from '../context.js';
import { claimsForScope } from '../tokens/id-token.js';
import { clientExists, findToken, isActive } from '../tokens/resolve.js';
import type { Endpoint } from './types.js';

function challenge(res: ServerResponse, status: 400 | 401 | 403, error: string, description: string, opts: { bare?: boolean } = {}): void {
  let header = 'Bearer realm="drawbridge"';
  // RFC 6750 §3.1: a request without any Bearer credential gets the challenge without error details
  if (!opts.bare) header += `, error="${error}", error_description="${description}"`;
  if (status === 403) header += ', scope="openid"';
  sendNoStoreJson(res, status, { error, error_description: description }, { 'www-authenticate': header });
}

/** RFC 6750 §2.2: a form-encoded POST body may carry the token (any other body is ignored). */
function hasFormBody(req: IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  return req.method === 'POST' && type === 'application/x-www-form-urlencoded';
}

/** The body's `access_token`, or undefined; a repeated one is a bad request. */
async function bodyToken(ctx: AuthContext, req: IncomingMessage): Promise<string | undefined> {
  if (!hasFormBody(req)) {
    req.resume();
    return undefined;
  }
  return (await readForm(req, ctx.auth.max_body_size)).get('access_token');
}

export const userinfoEndpoint: Endpoint = {
  // HEAD: as GET, without the body (Node sends none for HEAD)
  methods: ['GET', 'HEAD', 'POST'],
  handle: async function userinfo(ctx: AuthContext, req, res) {
    let fromBody: string | undefined;
    try {
      fromBody = await bodyToken(ctx, req);
    } catch (err) {
      // a repeated access_token or an undecodable body: invalid_request, with the challenge (§3.1),
      // saying which as the other endpoints do (quotes, not allowed in the header, become ')
      if (err instanceof AppError && err.status === 400) return challenge(res, 400, 'invalid_request', oauthDescription(err.message));
      throw err;
    }
    let credential = bearerCredential(req.headers.authorization);
    if (fromBody !== undefined) {
      // another scheme's header (Basic, …) carries no token; a Bearer one does
      if (credential.kind !== 'none') return challenge(res, 400, 'invalid_request', 'the access token was sent in more than one way');
      credential = { kind: 'bearer', token: fromBody };
    }
    // §3.1: no error code for a request with no credential, in the body either; `unauthorized`, as the gateway says it
    if (credential.kind === 'none') return challenge(res, 401, 'unauthorized', 'a Bearer access token is required', { bare: true });
    if (credential.kind === 'malformed') return challenge(res, 400, 'invalid_request', 'malformed Authorization header');
    const token = credential.token;
    const rec = await findToken(ctx, token);
    const now = ctx.clock.now();
    if (!isActive(rec, now) || rec.kind !== 'access_token' || !(await clientExists(ctx, rec.client_id))) {
      return challenge(res, 401, 'invalid_token', 'the access token is invalid or expired');
    }
    const scope = rec.scope === '' ? [] : rec.scope.split(' ');
    if (!scope.includes('openid')) return challenge(res, 403, 'insufficient_scope', 'the access token lacks the openid scope');
    const user = await ctx.storage.users.get(rec.sub);
    // a client's own token (client_credentials, or exchanged from one: no grant, a client as
    // subject) has no user behind it: not good for this resource, so invalid_token as for a
    // deleted user's (RFC 6750 §3.1), but saying why
    if (!user && rec.grant_id === null && (await ctx.clients.get(rec.sub)) !== null) {
      return challenge(res, 401, 'invalid_token', 'the access token was not issued to a user');
    }
    if (!user || user.locked) return challenge(res, 401, 'invalid_token', 'the access token is invalid or expired');
    sendNoStoreJson(res, 200, { ...claimsForScope(user, scope), sub: user.id });
  },
};
