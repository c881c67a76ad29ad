// refresh_token (RFC 6749 §6) with rotation (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2): every use
// exchanges the token for a new pair and retires it. A retired token presented again is
// either a concurrent retry (within auth.refresh_grace_period: it gets the very same new
// pair while neither of its tokens was used or revoked, so racing tabs or flaky networks do
// not log the user out) or a replay by someone who stole it: then the whole family (every
// token with its grant_id) is revoked.
//
// Rotation is one conditional UPDATE (TokenRepo.rotateRefresh): of concurrent requests
// exactly one wins; the others throw away the pair they made and serve the winner's, which
// is kept sealed (never in clear) beside the retired token for the grace window.
import { invalidGrant, invalidScope } from '../../core/errors.js';
import { sha256Base64url } from '../../core/crypto-util.js';
import { deriveKey, seal, unseal } from '../../crypto/seal.js';
import type { TokenRecord, UserRecord } from '../../storage/types.js';
import type { Client } from '../clients.js';
import type { AuthContext } from '../context.js';
import { accessTokenRevocations } from '../events.js';
import { parseScope, resourcesWithin } from '../scope.js';
import { issueAccessToken, userAccessClaims } from '../tokens/access-token.js';
import { issueIdToken } from '../tokens/id-token.js';
import { storeRefreshToken } from '../tokens/refresh-token.js';
import { findToken, isActive } from '../tokens/resolve.js';
import type { AuditLog } from '../../observability/audit.js';
import { noteSubject, requestAudit } from '../request-scope.js';
import type { Grant, TokenResponse } from './types.js';
import { sessionAlive } from './session-still-alive.js';
import { confirmIssued } from './confirm-issued.js';

/** jti namespace of the "a retired refresh token of this family was reused" marks */
const REUSE_NAMESPACE = 'refresh-reuse';
/** how long a reuse mark is kept: far longer than any refresh request takes */
const REUSE_MARK_TTL = 300;

export const refreshToken: Grant = {
  allowPublic: true,
  handle: async function refreshTokenGrant(ctx, { req, params, client }) {
    const presented = params.require('refresh_token');
    const rec = presented.length > 512 ? undefined : await ctx.storage.tokens.findByDigest(sha256Base64url(presented));
    // a token of another client is as unknown as no token (RFC 6749 §6: bound to its client)
    if (!rec || rec.kind !== 'refresh_token' || rec.grant_id === null || rec.client_id !== client.client_id) {
      throw invalidGrant('refresh token is invalid');
    }
    const now = ctx.clock.now();
    noteSubject(req, rec.sub);
    if (rec.refresh?.rotated_at != null) return repeatOrReuse(ctx, rec, now, requestAudit(ctx, req));
    if (rec.revoked_at !== null) throw invalidGrant('refresh token is revoked');
    if (rec.expires_at <= now) throw invalidGrant('refresh token has expired');
    if ((rec.refresh?.idle_expires_at ?? rec.expires_at) <= now) throw invalidGrant('refresh token has expired (unused for too long)');
    // without offline_access a refresh token lives no longer than the SSO session it came from
    const sessionId = rec.refresh?.session_id ?? null;
    if (sessionId !== null && !(await sessionAlive(ctx, sessionId, now))) throw invalidGrant('the session this refresh token belongs to has ended');
    // the user must still be active, as the code grant requires: a deleted or locked account's
    // refresh tokens mint nothing more (an offline one would otherwise live out its whole TTL)
    const user = await ctx.storage.users.get(rec.sub);
    if (!user || user.locked) throw invalidGrant('the user of this refresh token is no longer active');

    const original = rec.scope === '' ? [] : rec.scope.split(' ');
    const scope = narrowedScope(original, params.get('scope'));
    // within the resources bound at authorization (RFC 8707 §2.2), if any were
    const audience = resourcesWithin(client, params, rec.audience);
    // the user's groups as they are now (they may have changed since the sign-in)
    let extra = sessionClaims(rec);
    if (scope.includes('groups')) extra = userAccessClaims(user, scope, extra ?? {});
    const access = await issueAccessToken(ctx, { client, sub: rec.sub, scope, audience, grantId: rec.grant_id, extra });
    // the new refresh token keeps the original scope (OAuth 2.1 §6.1) and the family's absolute end
    const next = await storeRefreshToken(ctx, {
      clientId: rec.client_id,
      sub: rec.sub,
      scope: rec.scope,
      grantId: rec.grant_id,
      extra: rec.extra,
      sessionId: rec.refresh?.session_id ?? null,
      expiresAt: rec.expires_at,
      audience: rec.audience,
    });
    const body: TokenResponse = {
      access_token: access.access_token,
      token_type: access.token_type,
      expires_in: access.expires_in,
      refresh_token: next.token,
    };
    if (access.scope !== '') body.scope = access.scope;
    if (scope.includes('openid')) body.id_token = refreshedIdToken(ctx, client, rec, user, scope, access.access_token);

    if (!(await ctx.storage.tokens.rotateRefresh(rec.digest, now, seal(graceKey(ctx), JSON.stringify(body), rec.digest)))) {
      // another request rotated it first (or it was revoked meanwhile): ours are never handed out
      await Promise.all([ctx.storage.tokens.revoke(access.record.digest, now), ctx.storage.tokens.revoke(next.record.digest, now)]);
      const current = await ctx.storage.tokens.findByDigest(rec.digest);
      if (current?.refresh?.rotated_at != null) return repeatOrReuse(ctx, current, now, requestAudit(ctx, req));
      throw invalidGrant('refresh token is revoked');
    }
    // A reuse of a retired token of this family that raced us may have revoked the family
    // before our tokens were stored (its revocation did not see them): honour its mark; and a
    // lock of the user meanwhile (confirm-issued.ts). No session look: the family's grant was
    // recorded with its session long ago, so a logout's revocation has it in its list.
    const refused = await confirmIssued(ctx, { grantId: rec.grant_id, userId: rec.sub, mark: { namespace: REUSE_NAMESPACE, id: rec.grant_id } });
    if (refused !== undefined) throw invalidGrant(refused.reason === 'marked' ? 'refresh token was already used' : 'the user is no longer active');
    ctx.logger.info({ event: 'token.refreshed', client_id: client.client_id, sub: rec.sub, grant_id: rec.grant_id }, 'refresh token rotated');
    return body;
  },
};

/**
 * A retired token again. Within the grace window: the same new pair, as long as neither of its
 * tokens has been used or revoked since; else invalid_grant, the family untouched (the pair
 * was rotated onward by whoever holds it, or revoked: serving it again would hand out a spent
 * refresh token, whose use would then kill the family, or a revoked access token). After
 * the window the family dies.
 */
async function repeatOrReuse(ctx: AuthContext, rec: TokenRecord, now: number, audit: AuditLog): Promise<TokenResponse> {
  const state = rec.refresh!;
  const grace = ctx.auth.refresh_grace_period; // 0: no grace at all
  if (grace > 0 && state.rotated_at !== null && state.replacement !== null && now - state.rotated_at <= grace) {
    const body = JSON.parse(unseal(graceKey(ctx), state.replacement, rec.digest)) as TokenResponse;
    const successor = await ctx.storage.tokens.findByDigest(sha256Base64url(String(body.refresh_token)));
    if (successor?.refresh?.rotated_at != null) {
      ctx.logger.info({ event: 'token.refresh_repeat_refused', client_id: rec.client_id, grant_id: rec.grant_id }, 'refresh repeated within the grace period, but its new pair was already used');
      throw invalidGrant('refresh token was already used, and so was the one it was exchanged for');
    }
    // the pair only while both its tokens are still good (a revocation, or logout, ends it)
    const access = await findToken(ctx, String(body.access_token));
    if (!isActive(successor, now) || !isActive(access, now)) throw invalidGrant('refresh token was already used, and the pair it was exchanged for is no longer valid');
    ctx.logger.info({ event: 'token.refresh_repeated', client_id: rec.client_id, grant_id: rec.grant_id }, 'refresh repeated within the grace period');
    return body;
  }
  // mark the reuse first: a refresh of the current token racing this one may still be storing
  // its new tokens, and it looks for this mark once they are stored
  await ctx.storage.jtis.remember(REUSE_NAMESPACE, rec.grant_id!, now + REUSE_MARK_TTL, now);
  const family = await ctx.storage.tokens.revokeGrant(rec.grant_id!, now);
  // every gateway forgets the family's access tokens at once, not at their cache TTL
  for (const e of accessTokenRevocations(family)) await ctx.events.publish(e);
  const revoked = family.length;
  audit.record({ event: 'token.reuse_detected', credential: 'refresh_token', client_id: rec.client_id, sub: rec.sub, grant_id: rec.grant_id, revoked });
  ctx.logger.warn(
    { event: 'token.refresh_reuse', client_id: rec.client_id, sub: rec.sub, grant_id: rec.grant_id, revoked },
    'rotated refresh token used again; token family revoked',
  );
  throw invalidGrant('refresh token was already used');
}

/**
 * OIDC Core §12.2: a new ID token for the same authentication: auth_time, sid, amr and acr of
 * the original grant (it says how the user signed in then; nothing new happened), no nonce.
 */
function refreshedIdToken(ctx: AuthContext, client: Client, rec: TokenRecord, user: UserRecord, scope: string[], accessToken: string): string {
  const extra = rec.extra;
  const authTime = typeof extra?.auth_time === 'number' ? extra.auth_time : rec.issued_at;
  const sid = typeof extra?.sid === 'string' ? extra.sid : null;
  const amr = Array.isArray(extra?.amr) ? extra.amr.filter((m): m is string => typeof m === 'string') : [];
  const acr = typeof extra?.acr === 'string' ? extra.acr : null;
  return issueIdToken(ctx, { clientId: rec.client_id, alg: client.id_token_signed_response_alg, user, scope, nonce: null, authTime, sid, amr, acr, accessToken });
}

/** RFC 6749 §6: the requested scope must not include any scope not originally granted. */
function narrowedScope(original: string[], requested: string | undefined): string[] {
  if (requested === undefined) return original;
  const granted = new Set(original);
  const scope = parseScope(requested);
  for (const s of scope) {
    if (!granted.has(s)) throw invalidScope(`scope "${s}" was not granted to this refresh token`);
  }
  return scope;
}

/** Claims an access token carries over from its refresh token's grant (the SSO session). */
function sessionClaims(rec: TokenRecord): Record<string, unknown> | null {
  return rec.extra && typeof rec.extra.sid === 'string' ? { sid: rec.extra.sid } : null;
}

const keys = new WeakMap<AuthContext, Buffer>();

function graceKey(ctx: AuthContext): Buffer {
  let key = keys.get(ctx);
  if (key === undefined) {
    if (!ctx.config.secret) throw new Error('secret: required to rotate refresh tokens');
    key = deriveKey(ctx.config.secret, 'refresh-grace');
    keys.set(ctx, key);
  }
  return key;
}
