// Gateway sessions (ARCHITECTURE §1 "session at the edge, tokens inside"): the browser holds
// only a random cookie; everything else lives server-side in Redis or SQL, never in one
// process, so any gateway instance serves any request. This file is the contract between
// the stores (redis-store.ts, sql-store.ts) and their users (the gateway's `session` and
// `oidc-login` authenticators, the /_drawbridge/* endpoints, the admin API, the CLI).
//
// Times are epoch seconds. The store key is the base64url SHA-256 of the cookie value, so a
// leaked store yields no usable cookie.

import { UnavailableError } from '../core/errors.js';

/** The tokens a session holds, sealed at rest (src/crypto/seal.ts) as one JSON document. */
export interface SessionTokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  /** epoch seconds: when access_token expires */
  expires_at: number;
}

export interface GatewaySession {
  /** base64url SHA-256 of the cookie value (the store key; also the internal token's `sid`) */
  id: string;
  /** the user (ID token `sub`) */
  sub: string;
  /** the OpenID provider that signed the user in (ID token `iss`) */
  issuer: string;
  /** the gateway's client_id at that provider */
  client_id: string;
  /** the provider's session id (ID token `sid`), matched by back-channel logout; null when absent */
  idp_sid: string | null;
  /** identity claims for the internal token: preferred_username, name, email, groups … */
  claims: Record<string, unknown>;
  /** scope granted to the gateway */
  scope: string[];
  /** SessionTokens, sealed (AES-256-GCM under a key derived from the master secret, AAD = id) */
  tokens: string;
  /** when the access token inside `tokens` expires (refresh is due shortly before) */
  access_expires_at: number;
  created_at: number;
  last_seen_at: number;
  /** absolute end: created_at + absolute_timeout */
  expires_at: number;
}

/**
 * A store that cannot be reached: session routes answer 503 with Retry-After. A kind of core's
 * UnavailableError, so every renderer that knows that one (the admin API, toAppError) answers
 * it the same way without a case of its own.
 */
export class SessionStoreUnavailableError extends UnavailableError {
  override readonly name: string = 'SessionStoreUnavailableError';
}

export interface SessionStore {
  /** the session, or undefined (also when expired by the absolute timeout) */
  get(id: string): Promise<GatewaySession | undefined>;
  insert(session: GatewaySession): Promise<void>;
  /** replaces the tokens after a refresh; false when the session is gone (never resurrects it) */
  updateTokens(id: string, tokens: string, accessExpiresAt: number, at: number): Promise<boolean>;
  /** records use (idle timeout); false when the session is gone */
  touch(id: string, at: number): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** every live session of one user, newest first */
  listByUser(sub: string): Promise<GatewaySession[]>;
  /** ends every session of one user; returns the ids ended */
  deleteByUser(sub: string): Promise<string[]>;
  /** ends the sessions started under one provider session (back-channel logout by `sid`) */
  deleteByIdpSid(issuer: string, idpSid: string): Promise<string[]>;
  /**
   * Runs fn while holding a lock named after the session, shared by every instance (Redis:
   * SET NX PX; SQL: a lock row), so that one request refreshes the tokens while parallel ones
   * wait and then read the result. Resolves undefined when the lock could not be taken
   * within waitMs (the caller re-reads the session). The lock expires by itself after ttlMs.
   */
  withLock<T>(id: string, opts: { ttlMs: number; waitMs: number }, fn: () => Promise<T>): Promise<T | undefined>;
  /** removes sessions past their absolute timeout (the Redis store expires them by itself) */
  deleteExpired(now: number): Promise<number>;
  /** throws SessionStoreUnavailableError when the store does not answer */
  ping(): Promise<void>;
}
