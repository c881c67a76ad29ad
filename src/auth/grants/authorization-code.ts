// authorization_code (RFC 6749 §4.1.3, RFC 7636, OIDC Core §3.1.3): the code is looked up by
// digest and consumed atomically. A second use is refused and revokes every token issued from
// the code (RFC 6749 §4.1.2: the code was stolen or replayed).
import { createHash } from 'node:crypto';
import { invalidGrant, invalidRequest } from '../../core/errors.js';
import { safeEqual, sha256Base64url } from '../../core/crypto-util.js';
import { issueAccessToken } from '../tokens/access-token.js';
import { issueIdToken } from '../tokens/id-token.js';
import { issueRefreshToken } from '../tokens/refresh-token.js';
import type { Grant, TokenResponse } from './types.js';

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export const authorizationCode: Grant = {
  allowPublic: true,
  handle: async function authorizationCodeGrant(ctx, { params, client }) {
    const code = params.require('code');
    const verifier = params.get('code_verifier');
    const now = ctx.clock.now();
    const found = code.length <= 256 ? await ctx.storage.authCodes.consume(sha256Base64url(code), now) : undefined;
    if (!found || found.code.expires_at <= now) throw invalidGrant('the authorization code is invalid or expired');
    const c = found.code;
    if (!found.first) {
      const revoked = await ctx.storage.tokens.revokeByGrant(c.id, now);
      ctx.logger.warn({ event: 'code.replay', client_id: c.client_id, grant_id: c.id, revoked }, 'authorization code used twice; tokens revoked');
      throw invalidGrant('the authorization code was already used');
    }
    if (c.client_id !== client.client_id) throw invalidGrant('the authorization code was issued to another client');
    const redirectUri = params.get('redirect_uri');
    if (redirectUri !== undefined ? redirectUri !== c.redirect_uri : client.redirect_uris.length !== 1) {
      throw invalidGrant('redirect_uri does not match the authorization request');
    }
    // checked after the code is consumed: a failed attempt spends it (a thief gets one try)
    if (verifier === undefined) throw invalidGrant('code_verifier is required (PKCE)');
    if (!VERIFIER.test(verifier)) throw invalidRequest('code_verifier must be 43 to 128 characters of [A-Za-z0-9._~-]');
    const challenge = createHash('sha256').update(verifier, 'ascii').digest('base64url');
    if (!safeEqual(challenge, c.code_challenge)) throw invalidGrant('code_verifier does not match the code_challenge');
    const user = await ctx.storage.users.get(c.user_id);
    if (!user || user.locked) throw invalidGrant('the user is no longer active');

    const scope = c.scope === '' ? [] : c.scope.split(' ');
    const extra: Record<string, unknown> = {};
    if (c.sid !== null) extra.sid = c.sid;
    const issued = await issueAccessToken(ctx, { client, sub: user.id, scope, audience: [], grantId: c.id, extra });
    const body: TokenResponse = { access_token: issued.access_token, token_type: issued.token_type, expires_in: issued.expires_in };
    if (issued.scope !== '') body.scope = issued.scope;
    if (client.grantSet.has('refresh_token')) {
      // bound to the SSO session unless offline_access was granted (then it outlives it)
      body.refresh_token = await issueRefreshToken(ctx, {
        client, sub: user.id, scope, grantId: c.id, ...(c.sid !== null ? { sid: c.sid } : {}), authTime: c.auth_time,
        offline: scope.includes('offline_access'),
      });
    }
    if (scope.includes('openid')) {
      body.id_token = issueIdToken(ctx, {
        clientId: client.client_id, user, scope, nonce: c.nonce, authTime: c.auth_time, sid: c.sid, amr: c.amr, acr: c.acr,
        accessToken: issued.access_token,
      });
    }
    return body;
  },
};
