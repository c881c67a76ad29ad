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

export interface AuthCodeRepo {
  insert(rec: AuthCodeRecord): Promise<void>;
  /**
   * Marks the code used at `at`, atomically. `first` is true for exactly one caller; a later
   * call returns the record with `first: false` (a replay). undefined when unknown.
   */
  consume(digest: string, at: number): Promise<{ code: AuthCodeRecord; first: boolean } | undefined>;
  deleteExpired(now: number): Promise<number>;
}
