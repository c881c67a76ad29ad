// UserInfo endpoint (OIDC Core §5.3), GET and POST with a Bearer access token (RFC 6750 §2.1
// header only). Errors per RFC 6750 §3: no Bearer credential (none, or another scheme) is 401
// with a bare `WWW-Authenticate: Bearer realm=…` (§3.1: no error code); a malformed Bearer
// header is 400 invalid_request; a bad token 401 invalid_token; a token without `openid` 403
// insufficient_scope. The body is always the §5.2-style JSON of ARCHITECTURE §6.
import type { ServerResponse } from 'node:http';
import { sendNoStoreJson } from '../../core/http.js';
import type { AuthContext } from '../context.js';
import { claimsForScope } from '../tokens/id-token.js';
import { findToken, isActive } from '../tokens/resolve.js';
import type { Endpoint } from './types.js';

function challenge(res: ServerResponse, status: 400 | 401 | 403, error: string, description: string, opts: { bare?: boolean } = {}): void {
  let header = 'Bearer realm="drawbridge"';
  // RFC 6750 §3.1: a request without any Bearer credential gets the challenge without error details
  if (!opts.bare) header += `, error="${error}", error_description="${description}"`;
  if (status === 403) header += ', scope="openid"';
  sendNoStoreJson(res, status, { error, error_description: description }, { 'www-authenticate': header });
}

type Credential = { kind: 'none' } | { kind: 'malformed' } | { kind: 'bearer'; token: string };

function credentialFrom(authorization: string | undefined): Credential {
  if (authorization === undefined) return { kind: 'none' };
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  if (m) return { kind: 'bearer', token: m[1]! };
  // another scheme (Basic, …) carries no Bearer credential at all; a broken Bearer one is a bad request
  return /^Bearer(\s|$)/i.test(authorization) ? { kind: 'malformed' } : { kind: 'none' };
}

export const userinfoEndpoint: Endpoint = {
  methods: ['GET', 'POST'],
  handle: async function userinfo(ctx: AuthContext, req, res) {
    req.resume();
    const credential = credentialFrom(req.headers.authorization);
    if (credential.kind === 'none') return challenge(res, 401, 'invalid_token', 'a Bearer access token is required', { bare: true });
    if (credential.kind === 'malformed') return challenge(res, 400, 'invalid_request', 'malformed Authorization header');
    const token = credential.token;
    const rec = await findToken(ctx, token);
    const now = ctx.clock.now();
    if (!isActive(rec, now) || rec.kind !== 'access_token') return challenge(res, 401, 'invalid_token', 'the access token is invalid or expired');
    const scope = rec.scope === '' ? [] : rec.scope.split(' ');
    if (!scope.includes('openid')) return challenge(res, 403, 'insufficient_scope', 'the access token lacks the openid scope');
    const user = await ctx.storage.users.get(rec.sub);
    if (!user || user.locked) return challenge(res, 401, 'invalid_token', 'the access token is invalid or expired');
    sendNoStoreJson(res, 200, { ...claimsForScope(user, scope), sub: user.id });
  },
};
