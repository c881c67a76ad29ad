// Repository contracts. Every adapter (SQLite, PostgreSQL, memory: = SQLite in memory)
// passes the same contract suite in test/storage/contract.test.ts.
// Times are epoch seconds (integers). JSON-ish fields are plain JS values here;
// adapters serialise them.

import type { AccessTokenFormat, ClientAuthMethod, GrantType, JwkSet, SigningAlg } from '../config/types.js';
import type { AuthCodeRepo } from './contracts/auth-codes.js';
import type { BackchannelLogoutRepo } from './contracts/backchannel-logouts.js';
import type { KeyRepo } from './contracts/signing-keys.js';
import type { JtiRepo, TokenRepo } from './contracts/tokens.js';

// split by concept; every type stays importable from here
export type { AuthCodeRecord, AuthCodeRepo } from './contracts/auth-codes.js';
export type { BackchannelLogoutRepo, PendingLogoutRecord } from './contracts/backchannel-logouts.js';
export type { KeyRepo, KeyStatus, SigningKeyRecord } from './contracts/signing-keys.js';
export type { JtiRepo, RefreshTokenState, RevokedToken, TokenRecord, TokenRepo } from './contracts/tokens.js';

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
  /** authorization requests only through the PAR endpoint (RFC 9126); absent: not required */
  require_pushed_authorization_requests?: boolean;
  // ─── ID token algorithm (migration 0012) ───
  /** OIDC Dynamic Client Registration metadata; absent: the first of keys.id_token_algorithms */
  id_token_signed_response_alg?: SigningAlg;
  // ─── Request objects (migration 0019) ───
  /** the only alg accepted on its request objects (RFC 9101); absent: any the server accepts */
  request_object_signing_alg?: string;
  // ─── Signed request objects required (migration 0020) ───
  /** authorization requests only as a verified request object (RFC 9101 §10.5); absent: not required */
  require_signed_request_object?: boolean;
  source: RecordSource;
  created_at: number;
  updated_at: number;
}

export interface ClientRepo {
  get(clientId: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  /** Insert or replace by client_id (created_at kept on replace). */
  upsert(rec: ClientRecord): Promise<void>;
  /** Insert only: false when the client_id is taken (of two racing creates, one wins). */
  insert(rec: ClientRecord): Promise<boolean>;
  /** Replace an existing client (created_at kept): false when there is none (never re-creates a deleted one). */
  update(rec: ClientRecord): Promise<boolean>;
  /** true when a row was deleted */
  delete(clientId: string): Promise<boolean>;
  /** Delete every client with this source whose id is not in keep; returns ids deleted. */
  prune(source: RecordSource, keep: string[]): Promise<string[]>;
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
  /**
   * insert only: false (and nothing changed) when the username (or id) is taken, so of two
   * creates racing for one name exactly one succeeds. `mfaRequired`: the user is stored
   * requiring MFA in the same transaction (never without it, even for a moment).
   */
  insert(rec: UserRecord, opts?: { mfaRequired?: boolean }): Promise<boolean>;
  delete(username: string): Promise<boolean>;
  prune(source: RecordSource, keepUsernames: string[]): Promise<string[]>;

  // ─── Account state and MFA (migration 0003) ───
  /** sets `locked` (and updated_at) by username; false when there is no such user */
  setLocked(username: string, locked: boolean, at: number): Promise<boolean>;
  /** replaces the password hash by username; false when there is no such user */
  setPasswordHash(username: string, passwordHash: string | null, at: number): Promise<boolean>;
  /** replaces the claims by username (an update, never an insert); false when there is no such user */
  setClaims(username: string, claims: Record<string, unknown>, at: number): Promise<boolean>;
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
  // ─── Kong's custom_id and tags (migration 0013) ───
  /** the operator's own id for this consumer (Kong's custom_id); unique when set; absent: none */
  custom_id?: string;
  /** labels to filter by (Kong's tags), in the order given, no repeats; absent: none */
  tags?: string[];
  source: RecordSource;
  created_at: number;
  updated_at: number;
}

/** A consumer could not be stored because its custom_id is another consumer's (the unique index said so). */
export class CustomIdTakenError extends Error {
  override readonly name = 'CustomIdTakenError';
  readonly custom_id: string;
  constructor(customId: string) {
    super(`custom_id ${JSON.stringify(customId)} belongs to another consumer`);
    this.custom_id = customId;
  }
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
  /** the consumer with this custom_id (migration 0013) */
  getByCustomId(customId: string): Promise<ConsumerRecord | undefined>;
  list(): Promise<ConsumerRecord[]>;
  /** a new consumer; false (nothing stored) when its id, username or custom_id is taken */
  insert(rec: ConsumerRecord): Promise<boolean>;
  /**
   * insert or update by username (id and created_at kept when it exists) and return the stored
   * record; custom_id and tags are replaced by rec's (absent clears them). Throws
   * CustomIdTakenError (nothing stored) when rec.custom_id is another consumer's.
   */
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
  /** every consumer's credentials of one plugin, oldest first (then by id) */
  listByPlugin(plugin: CredentialPlugin): Promise<CredentialRecord[]>;
  /**
   * Replaces lookup, secret_hash and secret_sealed of the credential with rec.id in one write
   * (a new key, username or key_id keeps its id); false when not found or when the new lookup
   * is another credential's (nothing changed).
   */
  replace(rec: CredentialRecord): Promise<boolean>;
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
  /**
   * Ends a session (logout): deletes it, then reads its grants, then deletes them; returns
   * what was read. In that order: a grant recorded before the session was gone is returned, and
   * one recorded later looks at the session after storing its tokens and finds it gone
   * (auth/grants/session-still-alive.ts), so none escapes between the read and the delete.
   */
  end(id: string): Promise<SsoSessionGrant[]>;
}

/** A client that received tokens in an SSO session: told at logout, its tokens revoked with it. */
export interface SsoSessionGrant {
  client_id: string;
  grant_id: string;
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
  /** back-channel logout deliveries not yet made (migration 0018) */
  readonly backchannelLogouts: BackchannelLogoutRepo;
  /** apply pending migrations; returns names applied */
  migrate(): Promise<string[]>;
  /** cheap round trip for /readyz */
  ping(): Promise<void>;
  close(): Promise<void>;
}
