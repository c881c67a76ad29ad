// Row shapes as stored, for kysely. The same column types on SQLite and PostgreSQL:
// times are integers (bigint on PostgreSQL, parsed back to numbers), JSON is TEXT and
// booleans are 0/1 integers, so every query is identical on both dialects.

import type { Kysely } from 'kysely';

/** A JSON document serialised as TEXT. */
export type JsonText = string;

export interface ClientsTable {
  client_id: string;
  client_name: string | null;
  secret_hash: string | null;
  redirect_uris: JsonText;
  grant_types: JsonText;
  scopes: JsonText;
  default_scopes: JsonText;
  token_endpoint_auth_method: string;
  jwks: JsonText | null;
  jwks_uri: string | null;
  access_token_format: string;
  access_token_ttl: number | null;
  audiences: JsonText | null;
  // migration 0007 (logout); NULL in rows written before it
  post_logout_redirect_uris: JsonText | null;
  backchannel_logout_uri: string | null;
  backchannel_logout_session_required: number | null; // 0 | 1
  // migration 0008 (consent, mfa); NULL in rows written before it: ask, optional
  consent: string | null;
  mfa: string | null;
  // migration 0011; NULL in rows written before it: PKCE required
  require_pkce: number | null; // 0 | 1
  // migration 0012; NULL: the server's default ID token algorithm
  id_token_signed_response_alg: string | null;
  // migration 0016; NULL in rows written before it: not required
  require_par: number | null; // 0 | 1
  // migration 0019; NULL: any request object algorithm the server accepts
  request_object_signing_alg: string | null;
  // migration 0020; NULL in rows written before it: not required
  require_signed_request_object: number | null; // 0 | 1
  source: string;
  created_at: number;
  updated_at: number;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: JsonText;
  private_enc: string;
  status: string;
  created_at: number;
  publish_until: number | null;
  activates_at: number | null; // 0014
}

export interface TokensTable {
  digest: string;
  kind: string;
  format: string;
  jti: string;
  client_id: string;
  sub: string;
  scope: string;
  audience: JsonText;
  grant_id: string | null;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  extra: JsonText | null;
  // refresh tokens (migration 0005); NULL for access tokens
  idle_expires_at?: number | null;
  session_id?: string | null;
  rotated_at?: number | null;
  replacement?: string | null;
  // token exchange (migration 0015): the stored token this one was exchanged from
  exchanged_from?: string | null;
}

export interface JtisTable {
  namespace: string;
  jti: string;
  expires_at: number;
}

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string | null;
  claims: JsonText;
  locked: number; // 0 | 1
  source: string;
  created_at: number;
  updated_at: number;
}

export interface ConsumersTable {
  id: string;
  username: string;
  groups: JsonText;
  source: string;
  created_at: number;
  updated_at: number;
  // migration 0013; NULL: none
  custom_id: string | null;
  tags: JsonText | null;
}

export interface CredentialsTable {
  id: string;
  consumer_id: string;
  plugin: string;
  lookup: string;
  secret_hash: string | null;
  secret_sealed: string | null;
  source: string;
  created_at: number;
}

export interface GatewayEntitiesTable {
  kind: string;
  id: string;
  name: string | null;
  body: JsonText;
  created_at: number;
  updated_at: number;
}

// migration 0006 (authorization code flow)
export interface SsoSessionsTable {
  id: string;
  user_id: string;
  auth_time: number;
  amr: JsonText;
  acr: string | null;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

export interface AuthCodesTable {
  digest: string;
  id: string;
  client_id: string;
  redirect_uri: string;
  scope: string;
  nonce: string | null;
  code_challenge: string;
  user_id: string;
  sid: string | null;
  auth_time: number;
  amr: JsonText;
  acr: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  /** migration 0010: 1 the authorization request named redirect_uri, 0 it did not, NULL unknown (older rows) */
  redirect_uri_given: number | null;
}

// migration 0017: a used code, kept while the tokens issued from it may live
export interface UsedCodesTable {
  digest: string;
  grant_id: string;
  client_id: string;
  user_id: string;
  expires_at: number;
}

// migration 0007 (logout)
export interface SsoSessionGrantsTable {
  session_id: string;
  grant_id: string;
  client_id: string;
  created_at: number;
}

export interface ConsentsTable {
  user_id: string;
  client_id: string;
  scope: string;
  updated_at: number;
}

// migration 0018: back-channel logout deliveries not yet made
export interface BackchannelLogoutsTable {
  jti: string;
  client_id: string;
  sub: string;
  sid: string | null;
  created_at: number;
  attempts: number;
  due_at: number;
  claim: string | null;
}

export interface Database {
  clients: ClientsTable;
  signing_keys: SigningKeysTable;
  tokens: TokensTable;
  jtis: JtisTable;
  users: UsersTable;
  consumers: ConsumersTable;
  credentials: CredentialsTable;
  gateway_entities: GatewayEntitiesTable;
  sso_sessions: SsoSessionsTable;
  auth_codes: AuthCodesTable;
  used_codes: UsedCodesTable;
  consents: ConsentsTable;
  sso_session_grants: SsoSessionGrantsTable;
  backchannel_logouts: BackchannelLogoutsTable;
}

export type Db = Kysely<Database>;
export type Dialect = 'sqlite' | 'postgres';

/** An open database: the query layer plus what the rest of storage needs to know about it. */
export interface SqlHandle {
  readonly db: Db;
  readonly dialect: Dialect;
  /** PostgreSQL: a handle of its own on the same database, without the query timeout, for migrations. */
  readonly forMigrations?: () => Promise<SqlHandle>;
}
