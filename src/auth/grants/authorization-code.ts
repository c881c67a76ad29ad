// authorization_code (RFC 6749 §4.1.3, RFC 7636, OIDC Core §3.1.3): the code is looked up by
// digest and consumed atomically. A second use is refused and revokes every token issued from
// the code (RFC 6749 §4.1.2: the code was stolen or replayed), also long after the code
// expired: a redeemed code is remembered as long as its tokens may live. Resource indicators
// (RFC 8707) named at authorization are bound to the code and its refresh tokens: the token
// request may pick among them and, naming none, gets a token for all of them.
import { createHash } from 'node:crypto';
import { invalidGrant, invalidRequest } from '../../core/errors.js';
import { safeEqual, sha256Base64url } from '../../core/crypto-util.js';
import { accessTokenRevocations } from '../events.js';
import { issueAccessToken, userAccessClaims } from '../tokens/access-token.js';
import { issueIdToken } from '../tokens/id-token.js';
import { issueRefreshToken } from '../tokens/refresh-token.js';
import { noteSubject, requestAudit } from '../request-scope.js';
import type { AuthCodeRecord, RevokedToken } from '../../storage/types.js';
import type { UsedCodeRecord } from '../../storage/contracts/auth-codes.js';
import type { Client } from '../clients.js';
import { NO_CHALLENGE, pkceOptional } from '../endpoints/authorize/check-pkce.js';
import { codeResources, MAX_CODE_LENGTH } from '../endpoints/authorize/respond.js';
import { resourcesWithin } from '../scope.js';
import type { AuthContext } from '../context.js';
import type { Grant, GrantRequest, TokenResponse } from './types.js';
import { confirmIssued, type Refusal } from './confirm-issued.js';

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
/** jti namespace of the "this code was replayed" marks */
const REPLAY_NAMESPACE = 'code-replay';
/** how long a replay mark is kept: far longer than any request that redeems a code takes */
const REPLAY_MARK_TTL = 300;
/** What the token endpoint says when the grant does not stand once its tokens are stored. */
const REFUSED: Readonly<Record<Refusal, string>> = {
  marked: 'the authorization code was already used',
  user: 'the user is no longer active',
  session: 'the session the authorization code was issued in has ended',
};

export const authorizationCode: Grant = {
  allowPublic: true,
  handle: async function authorizationCodeGrant(ctx, { req, params, client }) {
    const code = params.require('code');
    const verifier = params.get('code_verifier');
    const now = ctx.clock.now();
    const digest = code.length <= MAX_CODE_LENGTH ? sha256Base64url(code) : undefined;
    const found = digest === undefined ? undefined : await ctx.storage.authCodes.consume(digest, now);
    if (!found) {
      // a code redeemed long ago is deleted, but remembered while its tokens may live
      const used = digest === undefined ? undefined : await ctx.storage.authCodes.findUsed(digest, now);
      if (used) return replayed(ctx, req, used, now);
      throw invalidGrant('the authorization code is invalid or expired');
    }
    const c = found.code;
    // a second use is a replay even once the code has expired: its tokens are still alive and must go
    if (!found.first) return replayed(ctx, req, { grant_id: c.id, client_id: c.client_id, user_id: c.user_id }, now);
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
    // the code is deleted a minute after it expires; what it issued lives far longer, and a
    // replay must still find it then (RFC 6749 §4.1.2)
    await ctx.storage.authCodes.rememberUsed({
      digest: digest!, grant_id: c.id, client_id: c.client_id, user_id: c.user_id, expires_at: now + issuedLifetime(ctx, issued.expires_in, body.refresh_token !== undefined),
    });
    // now that our tokens are stored (confirm-issued.ts): a replay that raced this request
    // (another connection consumed the code a moment later) found no tokens to revoke yet, and
    // left its mark; the user may have been locked, or the session ended (logout), while this
    // request was under way, or the session before it came
    const refused = await confirmIssued(ctx, { grantId: c.id, userId: user.id, sid: c.sid, mark: { namespace: REPLAY_NAMESPACE, id: c.id } });
    if (refused !== undefined) {
      // a replay's tokens are told to the gateways, as replayed() does
      if (refused.reason === 'marked') await announce(ctx, refused.revoked);
      throw invalidGrant(REFUSED[refused.reason]);
    }
    return body;
  },
};

/**
 * A second use of a code (RFC 6749 §4.1.2): every token issued from it is revoked and the
 * request refused. The replay is marked first: the winning request may still be storing its
 * tokens, and it looks for this mark once they are stored (see the end of the grant).
 */
async function replayed(ctx: AuthContext, req: GrantRequest['req'], c: Pick<UsedCodeRecord, 'grant_id' | 'client_id' | 'user_id'>, now: number): Promise<never> {
  await ctx.storage.jtis.remember(REPLAY_NAMESPACE, c.grant_id, now + REPLAY_MARK_TTL, now);
  const revoked = await revokeCodeFamily(ctx, c.grant_id, now);
  requestAudit(ctx, req).record({ event: 'token.reuse_detected', credential: 'authorization_code', client_id: c.client_id, sub: c.user_id, grant_id: c.grant_id, revoked });
  ctx.logger.warn({ event: 'code.replay', client_id: c.client_id, grant_id: c.grant_id, revoked }, 'authorization code used twice; tokens revoked');
  throw invalidGrant('the authorization code was already used');
}

/**
 * How long the tokens issued from a code may live: its access token's lifetime, or, with a
 * refresh token, the family's (auth.refresh_token_ttl, absolute) and then the lifetime of an
 * access token minted by its last refresh.
 */
function issuedLifetime(ctx: AuthContext, accessTtl: number, refresh: boolean): number {
  return refresh ? ctx.auth.refresh_token_ttl + accessTtl : accessTtl;
}

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
  await announce(ctx, family);
  return family.length;
}

/** Gateways forget the code's revoked access tokens at once, not at their cache TTL. */
async function announce(ctx: AuthContext, revoked: readonly RevokedToken[]): Promise<void> {
  for (const e of accessTokenRevocations(revoked)) await ctx.events.publish(e);
}
