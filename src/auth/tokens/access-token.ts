// Issues access tokens in the client's format (or the one a grant asks for). Opaque: 256
// random bits, only a digest stored. JWT: RFC 9068 (`typ: at+jwt`), also recorded by jti so
// it can be revoked and introspected as inactive until it expires.
import { randomUUID } from 'node:crypto';
import { randomToken, sha256Base64url } from '../../core/crypto-util.js';
import { signJwt } from '../../crypto/jwt.js';
import type { AccessTokenFormat } from '../../config/types.js';
import type { TokenRecord, UserRecord } from '../../storage/types.js';
import type { Client } from '../clients.js';
import type { AuthContext } from '../context.js';

interface AccessTokenRequest {
  client: Client;
  sub: string;
  scope: string[];
  audience: string[];
  grantId?: string | null;
  extra?: Record<string, unknown> | null;
  /** overrides the client's format (token exchange: `requested_token_type` jwt) */
  format?: AccessTokenFormat;
  /** epoch seconds the token must not outlive (token exchange: the subject token's exp) */
  notAfter?: number;
  /** token exchange: the digest of the stored subject token, revoked together with it */
  exchangedFrom?: string | null;
}

interface IssuedAccessToken {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  record: TokenRecord;
}

export async function issueAccessToken(ctx: AuthContext, r: AccessTokenRequest): Promise<IssuedAccessToken> {
  const now = ctx.clock.now();
  const clientTtl = r.client.access_token_ttl ?? ctx.auth.access_token_ttl;
  const ttl = r.notAfter === undefined ? clientTtl : Math.max(0, Math.min(clientTtl, r.notAfter - now));
  const format = r.format ?? r.client.access_token_format;
  const scope = r.scope.join(' ');
  const jti = randomUUID();
  const audience = r.audience.length > 0 ? r.audience : defaultAudience(ctx, r.client);
  let token: string;
  let digest: string;
  if (format === 'jwt') {
    token = signJwt(
      ctx.keyring.current,
      {
        iss: ctx.endpoints.issuer,
        sub: r.sub,
        aud: audience.length === 1 ? audience[0] : audience,
        exp: now + ttl,
        iat: now,
        jti,
        client_id: r.client.client_id,
        scope,
        ...(r.extra ?? {}),
      },
      'at+jwt',
    );
    digest = sha256Base64url(jti);
  } else {
    token = randomToken(32);
    digest = sha256Base64url(token);
  }
  const record: TokenRecord = {
    digest,
    kind: 'access_token',
    format,
    jti,
    client_id: r.client.client_id,
    sub: r.sub,
    scope,
    audience,
    grant_id: r.grantId ?? null,
    issued_at: now,
    expires_at: now + ttl,
    revoked_at: null,
    extra: r.extra ?? null,
  };
  if (r.exchangedFrom != null) record.exchanged_from = r.exchangedFrom;
  await ctx.storage.tokens.insert(record);
  return { access_token: token, token_type: 'Bearer', expires_in: ttl, scope, record };
}

/**
 * `aud` of a token whose request named no target (no resource bound either): a client limited
 * to `audiences` gets those, so leaving them out never widens its token; any other client
 * gets the issuer. Every grant that mints access tokens comes through here.
 */
function defaultAudience(ctx: AuthContext, client: Client): string[] {
  return client.audiences !== null && client.audiences.length > 0 ? [...client.audiences] : [ctx.endpoints.issuer];
}

/**
 * The user's claims an access token carries besides sub: `groups` when the `groups` scope
 * was granted, so the gateway's internal JWT (acl, the SDK's group guards) sees the user's
 * groups as the ID token and userinfo do.
 */
export function userAccessClaims(user: UserRecord, scope: readonly string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const groups = user.claims.groups;
  if (scope.includes('groups') && Array.isArray(groups) && groups.every((g) => typeof g === 'string')) extra.groups = groups;
  return extra;
}
