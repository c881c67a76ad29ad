// Issues refresh tokens (RFC 6749 §6): 256 random bits, only a digest stored, kind
// 'refresh_token' in the tokens table. grant_id is the family: every refresh and access
// token descending from one grant shares it and is revoked with it (RFC 9700 §4.14.2).
//
// Lifetimes: expires_at is absolute (auth.refresh_token_ttl from the first token of the
// family, inherited by every rotation); idle_expires_at moves forward with each use
// (auth.refresh_token_idle_ttl). Without offline_access the token is bound to the SSO
// session (`sid`) it came from and may not outlive it.
import { randomUUID } from 'node:crypto';
import { randomToken, sha256Base64url } from '../../core/crypto-util.js';
import type { TokenRecord } from '../../storage/types.js';
import type { Client } from '../clients.js';
import type { AuthContext } from '../context.js';

interface RefreshTokenRequest {
  client: Client;
  sub: string;
  scope: string[];
  /** the family id: the authorization code's grant, kept by every rotation */
  grantId: string;
  /** the SSO session the grant was made in */
  sid?: string;
  /** when the user authenticated (OIDC auth_time), carried to later ID tokens */
  authTime?: number;
  /** how the user authenticated (OIDC amr, acr), carried to later ID tokens like auth_time */
  amr?: readonly string[];
  acr?: string | null;
  /** offline_access granted: lives on after the SSO session ends */
  offline: boolean;
  /** RFC 8707 resources the authorization request named: the family's access tokens stay within them */
  resources?: readonly string[];
}

/** The token string; the caller puts it in the token response as `refresh_token`. */
export async function issueRefreshToken(ctx: AuthContext, r: RefreshTokenRequest): Promise<string> {
  const now = ctx.clock.now();
  const issued = await storeRefreshToken(ctx, {
    clientId: r.client.client_id,
    sub: r.sub,
    scope: r.scope.join(' '),
    grantId: r.grantId,
    extra: refreshExtra(r),
    sessionId: r.offline ? null : (r.sid ?? null),
    expiresAt: now + ctx.auth.refresh_token_ttl,
    audience: r.resources ?? [],
  });
  return issued.token;
}

interface StoreRefreshToken {
  clientId: string;
  sub: string;
  scope: string;
  grantId: string;
  extra: Record<string, unknown> | null;
  sessionId: string | null;
  /** absolute end of the family */
  expiresAt: number;
  /** the resources bound to the grant (RFC 8707), kept by every rotation; []: not bound */
  audience: readonly string[];
}

/** Stores a new refresh token of a family (first issue or rotation). */
export async function storeRefreshToken(ctx: AuthContext, r: StoreRefreshToken): Promise<{ token: string; record: TokenRecord }> {
  const now = ctx.clock.now();
  const token = randomToken(32);
  const record: TokenRecord = {
    digest: sha256Base64url(token),
    kind: 'refresh_token',
    format: 'opaque',
    jti: randomUUID(),
    client_id: r.clientId,
    sub: r.sub,
    scope: r.scope,
    audience: [...r.audience],
    grant_id: r.grantId,
    issued_at: now,
    expires_at: r.expiresAt,
    revoked_at: null,
    extra: r.extra,
    refresh: {
      idle_expires_at: Math.min(now + ctx.auth.refresh_token_idle_ttl, r.expiresAt),
      session_id: r.sessionId,
      rotated_at: null,
      replacement: null,
    },
  };
  await ctx.storage.tokens.insert(record);
  return { token, record };
}

/** What later ID tokens of the family repeat about the original authentication (OIDC Core §12.2). */
function refreshExtra(r: RefreshTokenRequest): Record<string, unknown> | null {
  const extra: Record<string, unknown> = {};
  if (r.sid !== undefined) extra.sid = r.sid;
  if (r.authTime !== undefined) extra.auth_time = r.authTime;
  if (r.amr !== undefined && r.amr.length > 0) extra.amr = [...r.amr];
  if (r.acr !== undefined && r.acr !== null) extra.acr = r.acr;
  return Object.keys(extra).length === 0 ? null : extra;
}
