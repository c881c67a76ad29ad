// Part of the repository contracts (../types.ts, which re-exports it): issued tokens and one-time jti markers.
// Times are epoch seconds (integers).

import type { AccessTokenFormat } from '../../config/types.js';

export interface TokenRecord {
  /** base64url SHA-256 of the token string (opaque) or of the jti (jwt) */
  digest: string;
  kind: 'access_token' | 'refresh_token';
  format: AccessTokenFormat;
  jti: string;
  client_id: string;
  sub: string;
  scope: string; // space separated, may be ''
  audience: string[];
  /** grant this token descends from (authorization code, refresh family): revoke together */
  grant_id: string | null;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  /** free-form extra claims (e.g. username, sid, act) */
  extra: Record<string, unknown> | null;
  /** refresh tokens only (migration 0005); absent on access tokens */
  refresh?: RefreshTokenState;
  /**
   * token exchange (migration 0015): the digest of the stored access token this one was
   * exchanged from; revoking that one revokes this one. Absent: not exchanged from a stored token.
   */
  exchanged_from?: string;
}

/** What revokeGrant and revokeExchanged report per token they revoked. */
export type RevokedToken = Pick<TokenRecord, 'digest' | 'jti' | 'format' | 'kind'>;

/** Rotation state of a refresh token (RFC 9700 §4.14.2). */
export interface RefreshTokenState {
  /** dead when unused until then (never later than expires_at, the absolute lifetime) */
  idle_expires_at: number;
  /** the SSO session it may not outlive (no offline_access); null: not bound to a session */
  session_id: string | null;
  /** when it was exchanged for a new pair; null: not yet */
  rotated_at: number | null;
  /** that new pair's token response, sealed; served again to repeats within the grace window */
  replacement: string | null;
}

export interface TokenRepo {
  insert(rec: TokenRecord): Promise<void>;
  findByDigest(digest: string): Promise<TokenRecord | undefined>;
  findByJti(jti: string): Promise<TokenRecord | undefined>;
  /** sets revoked_at if not yet set; true when a row was changed */
  revoke(digest: string, at: number): Promise<boolean>;
  revokeByGrant(grantId: string, at: number): Promise<number>;
  /**
   * As revokeByGrant, and names what it revoked (so gateways can be told about every one).
   * keepOffline: refresh tokens not bound to a session (offline_access) stay alive (logout).
   */
  revokeGrant(grantId: string, at: number, opts?: { keepOffline?: boolean }): Promise<RevokedToken[]>;
  /**
   * Revokes every token exchanged from one of `digests`, and every token exchanged from those,
   * down the whole chain (already revoked links are followed too); names what it revoked.
   */
  revokeExchanged(digests: readonly string[], at: number): Promise<RevokedToken[]>;
  /**
   * As revokeExchanged, from every token of one client (revoked or not): a deleted client's
   * delegations end with it, also where another client holds them. Names what it revoked.
   */
  revokeExchangedFromClient(clientId: string, at: number): Promise<RevokedToken[]>;
  revokeByClient(clientId: string, at: number): Promise<number>;
  revokeBySubject(sub: string, at: number): Promise<number>;
  /**
   * Refresh rotation, atomically: when the token is neither rotated nor revoked, sets
   * rotated_at and revoked_at to `at` and stores the sealed replacement; false otherwise
   * (another request rotated it first, or it is revoked). Exactly one of concurrent callers wins.
   */
  rotateRefresh(digest: string, at: number, replacement: string): Promise<boolean>;
  /** delete rows with expires_at < now; returns how many */
  deleteExpired(now: number): Promise<number>;
}

/** One-time markers: private_key_jwt jti replay, JWT access-token deny-list. */
export interface JtiRepo {
  /**
   * Atomically record (namespace, jti) until expires_at; false if it was already there and not expired
   * (expired means expires_at <= now; `now` defaults to the wall clock, pass it for a fixed clock).
   */
  remember(namespace: string, jti: string, expiresAt: number, now?: number): Promise<boolean>;
  has(namespace: string, jti: string, now: number): Promise<boolean>;
  deleteExpired(now: number): Promise<number>;
}
