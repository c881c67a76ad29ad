// UserInfo endpoint (OIDC Core §5.3), GET and POST with a Bearer access token (RFC 6750 §2.1
// header only). Errors per RFC 6750 §3: 401 with `WWW-Authenticate: Bearer error=…`,
// 403 insufficient_scope when the token lacks `openid`.
import type { ServerResponse } from 'node:http';
import { sendNoStoreJson } from '../../core/http.js';
import type { AuthContext } from '../context.js';
import { claimsForScope } from '../tokens/id-token.js';
import { findToken, isActive } from '../tokens/resolve.js';
import type { Endpoint } from './types.js';

function challenge(res: ServerResponse, status: 401 | 403, error?: string, description?: string): void {
  let header = 'Bearer realm="drawbridge"';
  if (error !== undefined) header += `, error="${error}"`;
  if (description !== undefined) header += `, error_description="${description}"`;
  if (status === 403) header += ', scope="openid"';
  const body = error === undefined ? {} : { error, ...(description !== undefined ? { error_description: description } : {}) };
  sendNoStoreJson(res, status, body, { 'www-authenticate': header });
}

function tokenFrom(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization);
  return m?.[1];
}

export const userinfoEndpoint: Endpoint = {
  methods: ['GET', 'POST'],
  handle: async function userinfo(ctx: AuthContext, req, res) {
    req.resume();
    const header = req.headers.authorization;
    const token = tokenFrom(header);
    if (token === undefined) {
      if (header === undefined) return challenge(res, 401);
      return challenge(res, 401, 'invalid_request', 'malformed Authorization header');
    }
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
