// What every admin handler gets, resolved once when the admin server starts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config, GatewayConfig } from '../../config/types.js';
import type { Clock } from '../../core/clock.js';
import type { SignedOut } from '../../core/signed-out.js';
import type { Logger } from '../../observability/logger.js';
import type { SessionStore } from '../../sessions/types.js';
import type { Storage } from '../../storage/types.js';
import type { CredentialKeys } from '../credentials.js';
import type { Metrics } from '../metrics.js';
import type { EventBus, PluginFactory } from '../types.js';

export interface AdminContext {
  storage: Storage;
  events: EventBus;
  keys: CredentialKeys;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  plugins: ReadonlyMap<string, PluginFactory>;
  /** the browser-session store (`gateway.sessions`); absent: /sessions answers 404 */
  sessions?: SessionStore;
  /** the auth server's users (src/auth/users/manage.ts, handed in by the CLI's wiring); absent: /users answers 404 */
  users?: UserAdmin;
  /** the config file's gateway section as currently loaded */
  fileConfig(): GatewayConfig;
  /** what /clients checks a client against, from the config file as currently loaded */
  clientRules(): ClientRules;
  /**
   * Rebuilds the running configuration from the file and the stored entities and applies it
   * on this instance (throws ConfigError when it is invalid), then tells the other instances.
   */
  applyEntities(): Promise<void>;
}

export interface ClientRules {
  issuer: string;
  /** keys.algorithm and keys.id_token_algorithms: a client's ID token alg must be one the keyring keeps */
  keys: Record<string, unknown>;
  /** client_ids of the file's auth.clients: read-only here, and not to be taken by a new client */
  fileClientIds: ReadonlySet<string>;
}

/** A user as the API shows it: never a password hash, TOTP secret or recovery code. */
export interface AdminUserView {
  readonly id: string;
  readonly username: string;
}

/** The request behind a change, for its audit line. */
export interface AdminChange {
  request_id: string;
  ip?: string;
}

/**
 * The user operations of `drawbridge user` (src/auth/users/manage.ts, userAdmin), which this
 * role may not import: the CLI's wiring hands them in. A change the rules refuse throws core's
 * Refused; each change answers with the user as shown afterwards.
 */
export interface UserAdmin {
  list(): Promise<AdminUserView[]>;
  get(username: string): Promise<AdminUserView | undefined>;
  create(user: { username: string; password: string | null; claims?: Record<string, unknown>; require_mfa?: boolean }, change: AdminChange): Promise<AdminUserView>;
  /** `claims` merged (a null value removes that claim); `locked: true` as `drawbridge user lock` (signs the user out everywhere) */
  update(username: string, patch: { claims?: Record<string, unknown>; require_mfa?: boolean; locked?: boolean }, change: AdminChange): Promise<AdminUserView>;
  /** `signOut`: then as signOut below, and the answer has `signed_out` */
  setPassword(username: string, password: string, change: AdminChange, opts?: { signOut?: boolean }): Promise<AdminUserView & { signed_out?: SignedOut }>;
  /** sign out everywhere, as `drawbridge user revoke`: SSO sessions (back-channel logout), gateway sessions, every token */
  signOut(username: string, change: AdminChange): Promise<SignedOut>;
  resetMfa(username: string, change: AdminChange): Promise<void>;
  /** signs the user out everywhere, then deletes them */
  delete(username: string, change: AdminChange): Promise<void>;
}

/** Builds the UserAdmin of one admin context. */
export type UserAdminFactory = (env: {
  events: EventBus;
  /** the config file as currently loaded */
  config(): Config;
  /** ends the user's browser sessions at this gateway's store (all instances told); the ended ones */
  endGatewaySessions(sub: string): Promise<SignedOut['sessions']>;
}) => UserAdmin;

export interface AdminRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** decoded path segments, e.g. ['consumers', 'partner-a', 'key-auth'] */
  segments: string[];
  requestId: string;
}

export type AdminHandler = (ctx: AdminContext, ar: AdminRequest) => Promise<void>;
