// Part of the repository contracts (../types.ts, which re-exports it): authorization codes.
// Times are epoch seconds (integers).

/** An authorization code, stored by digest. */
export interface AuthCodeRecord {
  /** base64url SHA-256 of the code */
  digest: string;
  /** the grant id: every token issued from the code carries it as grant_id */
  id: string;
  client_id: string;
  redirect_uri: string;
  scope: string;
  nonce: string | null;
  /** PKCE S256 challenge; '' for a code issued without PKCE (a client with require_pkce: false) */
  code_challenge: string;
  user_id: string;
  /** the SSO session's id (a digest) */
  sid: string | null;
  auth_time: number;
  amr: string[];
  acr: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  /**
   * Whether the authorization request named redirect_uri (RFC 6749 §4.1.3: then the token
   * request must repeat it). null: not recorded (a code from before migration 0010).
   */
  redirect_uri_given: boolean | null;
}

/**
 * A code that was redeemed for tokens (migration 0017), kept after the code itself is deleted
 * for as long as those tokens may live, so that a replay still revokes them (RFC 6749 §4.1.2).
 */
export interface UsedCodeRecord {
  /** base64url SHA-256 of the code */
  digest: string;
  /** the code's grant id: the tokens to revoke */
  grant_id: string;
  client_id: string;
  user_id: string;
  /** when the last token issued from the code has expired */
  expires_at: number;
}

export interface AuthCodeRepo {
  insert(rec: AuthCodeRecord): Promise<void>;
  /**
   * Marks the code used at `at`, atomically. `first` is true for exactly one caller; a later
   * call returns the record with `first: false` (a replay). undefined when unknown.
   */
  consume(digest: string, at: number): Promise<{ code: AuthCodeRecord; first: boolean } | undefined>;
  /** records a redeemed code; a second record for the same digest changes nothing */
  rememberUsed(rec: UsedCodeRecord): Promise<void>;
  /** the record of a redeemed code while it has not expired (expires_at > now) */
  findUsed(digest: string, now: number): Promise<UsedCodeRecord | undefined>;
  /** deletes codes and used-code records with expires_at <= now; returns how many */
  deleteExpired(now: number): Promise<number>;
}
