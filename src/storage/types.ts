// Repository contracts. Every adapter (SQLite, PostgreSQL, memory: = SQLite in memory)
// passes the same contract suite in test/storage/contract.test.ts.
// Times are epoch seconds (integers). JSON-ish fields are plain JS values here;
// adapters serialise them.

import type { AccessTokenFormat, ClientAuthMethod, GrantType, JwkSet, SigningAlg } from '../config/types.js';

export type RecordSource = 'config' | 'cli' | 'admin';

export interface ClientRecord {
  client_id: string;
  client_name: string | null;
  secret_hash: string | null; // hex SHA-256 of the client secret; null for public / private_key_jwt clients
  redirect_uris: string[];
  grant_types: GrantType[];
  scopes: string[];
  default_scopes: string[];
  token_endpoint_auth_method: ClientAuthMethod;
  jwks: JwkSet | null;
  jwks_uri: string | null;
  access_token_format: AccessTokenFormat;
  access_token_ttl: number | null;
  audiences: string[] | null;
  // ─── Logout (migration 0007) ───
  /** where RP-initiated logout may send the browser afterwards, compared exactly */
  post_logout_redirect_uris: string[];
  /** OIDC Back-Channel Logout: where logout tokens are POSTed; null: not told */
  backchannel_logout_uri: string | null;
  /** the client wants `sid` in its logout tokens */
  backchannel_logout_session_required: boolean;
  // ─── Consent and MFA (migration 0008) ───
  /** `skip`: first-party, users are never asked to consent; absent: `ask` */
  consent?: 'ask' | 'skip';
  /** `required`: every user signing in to this client uses TOTP; absent: `optional` */
  mfa?: 'optional' | 'required';
  // ─── PKCE opt-out (migration 0011) ───
  /** false: a confidential client may use the code flow without PKCE; absent: true (required) */
  require_pkce?: boolean;
  // ─── ID token algorithm (migration 0012) ───
  /** OIDC Dynamic Client Registration metadata; absent: the first of keys.id_token_algorithms */
  id_token_signed_response_alg?: SigningAlg;
  source: RecordSource;
  created_at: number;
  updated_at: number;
}

export interface ClientRepo {
  get(clientId: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  /** Insert or replace by client_id (created_at kept on replace). */
  upsert(rec: ClientRecord): Promise<void>;
  /** true when a row was deleted */
  delete(clientId: string): Promise<boolean>;
  /** Delete every client with this source whose id is not in keep; returns ids deleted. */
  prune(source: RecordSource, keep: string[]): Promise<string[]>;
}

export type KeyStatus = 'current' | 'previous' | 'retired';

export interface SigningKeyRecord {
  kid: string;
  alg: SigningAlg;
  public_jwk: Record<string, unknown>;
  private_enc: string; // private key (PKCS#8 PEM) encrypted under the master secret (opaque string)
  status: KeyStatus;
  created_at: number;
  /** for status previous: publish in JWKS until this time (every token it signed has expired by then) */
  publish_until: number | null;
}

/** There is one current key per algorithm (migration 0012); "current" below means of that alg. */
export interface KeyRepo {
  list(): Promise<SigningKeyRecord[]>;
  /** The current key of `alg`; without alg, the newest current key of any algorithm. */
  current(alg?: SigningAlg): Promise<SigningKeyRecord | undefined>;
  /** Keys to publish in JWKS at time `now`: current + previous with publish_until > now. */
  published(now: number): Promise<SigningKeyRecord[]>;
  /**
   * In one transaction: the current key of rec.alg becomes `previous` with publish_until,
   * `rec` (status current) is inserted; keys of other algorithms are untouched. Works when
   * there is no current key of that alg yet.
   * Concurrent first-start callers: insertInitial is idempotent (see below).
   */
  rotate(rec: SigningKeyRecord, previousPublishUntil: number): Promise<void>;
  /** Insert rec as current only if no current key of rec.alg exists; returns that alg's current key afterwards. */
  insertInitial(rec: SigningKeyRecord): Promise<SigningKeyRecord>;
  /** The current key of `alg` becomes `previous` with publish_until (no successor); true when there was one. */
  demoteCurrent(alg: SigningAlg, publishUntil: number): Promise<boolean>;
  /** previous keys whose publish_until <= now become retired; returns how many */
  retireExpired(now: number): Promise<number>;
}

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
}

/** What revokeGrant reports per token it revoked. */
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

export interface UserRecord {
  id: string; // stable subject identifier (random, not the username)
  username: string;
  password_hash: string | null; // argon2id PHC
  claims: Record<string, unknown>;
  locked: boolean;
  source: RecordSource;
  created_at: number;
  updated_at: number;
}

export interface UserRepo {
  get(id: string): Promise<UserRecord | undefined>;
  getByUsername(username: string): Promise<UserRecord | undefined>;
  list(): Promise<UserRecord[]>;
  /** insert or update by username (id and created_at kept when it exists) and return the stored record */
  upsert(rec: UserRecord): Promise<UserRecord>;
  delete(username: string): Promise<boolean>;
  prune(source: RecordSource, keepUsernames: string[]): Promise<string[]>;

  // ─── Account state and MFA (migration 0003) ───
  /** sets `locked` (and updated_at) by username; false when there is no such user */
  setLocked(username: string, locked: boolean, at: number): Promise<boolean>;
  /** replaces the password hash by username; false when there is no such user */
  setPasswordHash(username: string, passwordHash: string | null, at: number): Promise<boolean>;
  /** the user's MFA state; undefined when nothing was ever set (not required, not enrolled) */
  getMfa(userId: string): Promise<UserMfaRecord | undefined>;
  setMfaRequired(userId: string, required: boolean, at: number): Promise<void>;
  /** starts (or restarts) TOTP enrolment: the sealed secret, unconfirmed, no step used yet */
  setTotpSecret(userId: string, sealedSecret: string, at: number): Promise<void>;
  /** enrolment done; false when there is no TOTP secret */
  confirmTotp(userId: string, at: number): Promise<boolean>;
  /**
   * Atomically records TOTP time step `step` as used when it is later than the last used one
   * (and a secret exists); false means a replayed or older code. Safe across processes.
   */
  useTotpStep(userId: string, step: number, at: number): Promise<boolean>;
  /** replaces every recovery code with these digests */
  setRecoveryCodes(userId: string, digests: string[], at: number): Promise<void>;
  /** atomically consumes one recovery code by digest; false when unknown or already used */
  useRecoveryCode(userId: string, digest: string): Promise<boolean>;
  /** forgets the TOTP secret and recovery codes, keeps `required`; false when there was nothing to forget */
  resetMfa(userId: string, at: number): Promise<boolean>;
}

/** A user's second factor. Lives beside UserRecord (deleted with the user). */
export interface UserMfaRecord {
  user_id: string;
  /** TOTP is required at login; a user without a confirmed TOTP enrols first */
  required: boolean;
  /** the TOTP secret, sealed (src/crypto/seal.ts, key deriveKey(secret, 'mfa'), AAD the user id); null: none */
  totp_secret: string | null;
  /** when enrolment was confirmed with a valid code; null: not (yet) */
  totp_confirmed_at: number | null;
  /** the last accepted TOTP time step (replay protection); null: none yet */
  totp_last_step: number | null;
  /** unused recovery codes */
  recovery_codes_left: number;
  updated_at: number;
}

/** Gateway consumers: API clients identified by key-auth, basic-auth or hmac-auth credentials. */
export interface ConsumerRecord {
  id: string; // stable (random); the username may be looked up but upsert keeps the id
  username: string;
  groups: string[];
  source: RecordSource;
  created_at: number;
  updated_at: number;
}

export type CredentialPlugin = 'key-auth' | 'basic-auth' | 'hmac-auth';

export interface CredentialRecord {
  id: string;
  consumer_id: string;
  plugin: CredentialPlugin;
  /**
   * What a request presents, unique per plugin: key-auth a keyed digest of the key,
   * basic-auth the username, hmac-auth the key_id.
   */
  lookup: string;
  /** basic-auth: argon2id PHC of the password; otherwise null */
  secret_hash: string | null;
  /** hmac-auth: the shared secret sealed under the master secret (verification needs it); otherwise null */
  secret_sealed: string | null;
  source: RecordSource;
  created_at: number;
}

export interface ConsumerRepo {
  get(id: string): Promise<ConsumerRecord | undefined>;
  getByUsername(username: string): Promise<ConsumerRecord | undefined>;
  list(): Promise<ConsumerRecord[]>;
  /** insert or update by username (id and created_at kept when it exists) and return the stored record */
  upsert(rec: ConsumerRecord): Promise<ConsumerRecord>;
  /** deletes the consumer and (cascade) its credentials; true when a row was deleted */
  delete(username: string): Promise<boolean>;
  prune(source: RecordSource, keepUsernames: string[]): Promise<string[]>;
}

export interface CredentialRepo {
  /** false (nothing stored) when (plugin, lookup) is already taken */
  insert(rec: CredentialRecord): Promise<boolean>;
  get(id: string): Promise<CredentialRecord | undefined>;
  /** the hot-path lookup: the credential and its consumer in one query */
  find(plugin: CredentialPlugin, lookup: string): Promise<{ credential: CredentialRecord; consumer: ConsumerRecord } | undefined>;
  /** a consumer's credentials, oldest first; optionally of one plugin */
  listByConsumer(consumerId: string, plugin?: CredentialPlugin): Promise<CredentialRecord[]>;
  /** replaces secret_hash / secret_sealed (re-hash with new parameters, rotated secret); true when found */
  updateSecret(id: string, secretHash: string | null, secretSealed: string | null): Promise<boolean>;
  delete(id: string): Promise<boolean>;
}

export type EntityKind = 'service' | 'route' | 'plugin';

/** Services, routes and plugins created through the admin API (the config file holds the rest). */
export interface EntityRecord {
  kind: EntityKind;
  id: string;
  /** unique per kind when set (services always have one) */
  name: string | null;
  body: Record<string, unknown>;
  created_at: number;
  updated_at: number;
}

export interface EntityRepo {
  get(kind: EntityKind, idOrName: string): Promise<EntityRecord | undefined>;
  /** ordered by created_at, then id */
  list(kind?: EntityKind): Promise<EntityRecord[]>;
  /** false when (kind, id) or (kind, name) is already taken */
  insert(rec: EntityRecord): Promise<boolean>;
  /** replaces name, body and updated_at of (kind, id); false when absent or the name is taken */
  update(rec: EntityRecord): Promise<boolean>;
  delete(kind: EntityKind, id: string): Promise<boolean>;
}

// ─── Authorization code flow (migration 0006) ───

/** An SSO session at the auth server (the login behind the `drawbridge_sso` cookie). */
export interface SsoSessionRecord {
  /** base64url SHA-256 of the cookie value; the value itself is never stored */
  id: string;
  user_id: string;
  auth_time: number;
  amr: string[];
  acr: string | null;
  created_at: number;
  last_seen_at: number;
  /** absolute end, whatever the activity */
  expires_at: number;
}

export interface SsoSessionRepo {
  insert(rec: SsoSessionRecord): Promise<void>;
  get(id: string): Promise<SsoSessionRecord | undefined>;
  /** sets last_seen_at; false when there is no such session */
  touch(id: string, at: number): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** every session of a user (logout everywhere, user deletion); returns how many */
  deleteByUser(userId: string): Promise<number>;
  /** delete sessions with expires_at <= now; returns how many */
  deleteExpired(now: number): Promise<number>;
  // ─── Logout (migration 0007) ───
  /** a user's sessions, oldest first (expired ones may be included: callers check the times) */
  listByUser(userId: string): Promise<SsoSessionRecord[]>;
  /** records that a grant (authorization code → tokens) was made to a client in this session */
  addGrant(id: string, clientId: string, grantId: string, at: number): Promise<void>;
  /** the grants made in this session, oldest first; [] when none (or no session); deleted with the session */
  grants(id: string): Promise<SsoSessionGrant[]>;
}

/** A client that received tokens in an SSO session: told at logout, its tokens revoked with it. */
export interface SsoSessionGrant {
  client_id: string;
  grant_id: string;
}

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
  /** PKCE S256 challenge */
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

export interface ConsentRepo {
  /** the scopes this user granted this client so far; [] when none */
  get(userId: string, clientId: string): Promise<string[]>;
  /** adds scopes to what the user granted the client */
  grant(userId: string, clientId: string, scopes: string[], at: number): Promise<void>;
  revoke(userId: string, clientId: string): Promise<boolean>;
}

export interface Storage {
  readonly kind: 'sqlite' | 'postgres';
  readonly clients: ClientRepo;
  readonly keys: KeyRepo;
  readonly tokens: TokenRepo;
  readonly jtis: JtiRepo;
  readonly users: UserRepo;
  readonly consumers: ConsumerRepo;
  readonly credentials: CredentialRepo;
  readonly entities: EntityRepo;
  readonly ssoSessions: SsoSessionRepo;
  readonly authCodes: AuthCodeRepo;
  readonly consents: ConsentRepo;
  /** apply pending migrations; returns names applied */
  migrate(): Promise<string[]>;
  /** cheap round trip for /readyz */
  ping(): Promise<void>;
  close(): Promise<void>;
}
