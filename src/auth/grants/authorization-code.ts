// authorization_code (RFC 6749 §4.1.3, RFC 7636, OIDC Core §3.1.3): the code is looked up by
// digest and consumed atomically. A second use is refused and revokes every token issued from
// the code (RFC 6749 §4.1.2: the code was stolen or replayed). Resource indicators (RFC 8707)
// named at authorization are bound to the code and its refresh tokens: the token request may
// pick among them and, naming none, gets a token for all of them.
import { createHash } from 'node:crypto';
import { invalidGrant, invalidRequest } from '../../core/errors.js';
import { safeEqual, sha256Base64url } from '../../core/crypto-util.js';
import { accessTokenRevocations } from '../events.js';
import { issueAccessToken, userAccessClaims } from '../tokens/access-token.js';
import { issueIdToken } from '../tokens/id-token.js';
import { issueRefreshToken } from '../tokens/refresh-token.js';
import { noteSubject, requestAudit } from '../request-scope.js';
import type { AuthCodeRecord } from '../../storage/types.js';
import type { Client } from '../clients.js';
import { NO_CHALLENGE, pkceOptional } from '../endpoints/authorize/check-pkce.js';
import { codeResources, MAX_CODE_LENGTH } from '../endpoints/authorize/respond.js';
import { resourcesWithin } from '../scope.js';
import type { AuthContext } from '../context.js';
import type { Grant, TokenResponse } from './types.js';
import { unlessUserGone } from './user-still-active.js';

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
/** jti namespace of the "this code was replayed" marks */
const REPLAY_NAMESPACE = 'code-replay';
/** how long a replay mark is kept: far longer than any request that redeems a code takes */
const REPLAY_MARK_TTL = 300;

export const authorizationCode: Grant = {
  allowPublic: true,
  handle: async function authorizationCodeGrant(ctx, { req, params, client }) {
    const code = params.require('code');
    const verifier = params.get('code_verifier');
    const now = ctx.clock.now();
    const found = code.length <= MAX_CODE_LENGTH ? await ctx.storage.authCodes.consume(sha256Base64url(code), now) : undefined;
    if (!found) throw invalidGrant('the authorization code is invalid or expired');
    const c = found.code;
    // a second use is a replay even once the code has expired (used codes are kept a while
    // past their expiry): its tokens are still alive and must go
    if (!found.first) {
      // mark the replay first: the winning request may still be storing its tokens, and it
      // looks for this mark once they are stored (see the end of this grant)
      await ctx.storage.jtis.remember(REPLAY_NAMESPACE, c.id, now + REPLAY_MARK_TTL, now);
      const revoked = await revokeCodeFamily(ctx, c.id, now);
      requestAudit(ctx, req).record({ event: 'token.reuse_detected', credential: 'authorization_code', client_id: c.client_id, sub: c.user_id, grant_id: c.id, revoked });
      ctx.logger.warn({ event: 'code.replay', client_id: c.client_id, grant_id: c.id, revoked }, 'authorization code used twice; tokens revoked');
      throw invalidGrant('the authorization code was already used');
    }
    if (c.expires_at <= now) throw invalidGrant('the authorization code is invalid or expired');
    if (c.client_id !== client.client_id) throw invalidGrant('the authorization code was issued to another client');
    checkRedirectUri(params.get('redirect_uri'), c, client.redirect_uris.length);
    // checked after the code is consumed: a failed attempt spends it (a thief gets one try)
    checkVerifier(verifier, c, client);
    // RFC 8707 §2.2: within the resources the authorization request named (bound to the code)
    const bound = codeResources(code);
    const audience = resourcesWithin(client, params, bound);
    const user = await ctx.storage.users.get(c.user_id);
    if (!user || user.locked) throw invalidGrant('the user is no longer active');

    const scope = c.scope === '' ? [] : c.scope.split(' ');
    noteSubject(req, user.id);
    // the session remembers the grant: logout revokes its tokens and tells the client (back-channel)
    if (c.sid !== null) await (ctx.ssoSessions ?? ctx.storage.ssoSessions).addGrant(c.sid, client.client_id, c.id, now);
    const extra = userAccessClaims(user, scope);
    if (c.sid !== null) extra.sid = c.sid;
    const issued = await issueAccessToken(ctx, { client, sub: user.id, scope, audience, grantId: c.id, extra });
    const body: TokenResponse = { access_token: issued.access_token, token_type: issued.token_type, expires_in: issued.expires_in };
    if (issued.scope !== '') body.scope = issued.scope;
    if (client.grantSet.has('refresh_token')) {
      // bound to the SSO session unless offline_access was granted (then it outlives it)
      body.refresh_token = await issueRefreshToken(ctx, {
        client, sub: user.id, scope, grantId: c.id, ...(c.sid !== null ? { sid: c.sid } : {}), authTime: c.auth_time, amr: c.amr, acr: c.acr,
        offline: scope.includes('offline_access'),
        resources: bound,
      });
    }
    if (scope.includes('openid')) {
      body.id_token = issueIdToken(ctx, {
        clientId: client.client_id, alg: client.id_token_signed_response_alg, user, scope, nonce: c.nonce, authTime: c.auth_time, sid: c.sid, amr: c.amr, acr: c.acr,
        accessToken: issued.access_token,
      });
    }
    // a replay that raced this request (another connection consumed the code a moment later)
    // found no tokens to revoke yet: now that ours are stored, honour its mark
    if (await ctx.storage.jtis.has(REPLAY_NAMESPACE, c.id, ctx.clock.now())) {
      await revokeCodeFamily(ctx, c.id, ctx.clock.now());
      throw invalidGrant('the authorization code was already used');
    }
    await unlessUserGone(ctx, user.id, c.id);
    return body;
  },
};

/**
 * PKCE (RFC 7636 §4.6) against what the code recorded: a code issued with a challenge needs
 * the matching verifier, whatever the client's settings are now. A code issued without one
 * (only ever for a client with require_pkce: false) is redeemed without a verifier; sending
 * one anyway is refused (RFC 9700 §4.8.2: the PKCE downgrade attack), and so is redeeming it
 * after the client was switched back to requiring PKCE.
 */
function checkVerifier(verifier: string | undefined, c: AuthCodeRecord, client: Client): void {
  if (c.code_challenge === NO_CHALLENGE) {
    if (!pkceOptional(client)) throw invalidGrant('code_verifier is required (PKCE): the code was issued without a code_challenge');
    if (verifier !== undefined) throw invalidGrant('code_verifier was sent but the authorization request had no code_challenge');
    return;
  }
  if (verifier === undefined) throw invalidGrant('code_verifier is required (PKCE)');
  if (!VERIFIER.test(verifier)) throw invalidRequest('code_verifier must be 43 to 128 characters of [A-Za-z0-9._~-]');
  const challenge = createHash('sha256').update(verifier, 'ascii').digest('base64url');
  if (!safeEqual(challenge, c.code_challenge)) throw invalidGrant('code_verifier does not match the code_challenge');
}

/**
 * RFC 6749 §4.1.3: redirect_uri is REQUIRED when the authorization request included it, and
 * must then be identical. When that request omitted it (the client's one registered URI was
 * used), the token request may omit it too, or name that same URI.
 */
function checkRedirectUri(given: string | undefined, c: AuthCodeRecord, registered: number): void {
  if (given !== undefined) {
    if (given !== c.redirect_uri) throw invalidGrant('redirect_uri does not match the authorization request');
    return;
  }
  // a code from before this was recorded (null): the old rule, omission with one registered URI
  const required = c.redirect_uri_given ?? registered !== 1;
  if (required) throw invalidGrant('redirect_uri is required: the authorization request included it');
}

/** Revokes every token issued from the code and tells the gateways; returns how many. */
async function revokeCodeFamily(ctx: AuthContext, grantId: string, now: number): Promise<number> {
  const family = await ctx.storage.tokens.revokeGrant(grantId, now);
  // gateways forget the code's access tokens at once, not at their cache TTL
  for (const e of accessTokenRevocations(family)) await ctx.events.publish(e);
  return family.length;
}
