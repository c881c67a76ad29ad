// The gateway's core contracts. A request is matched to a route, runs the route's plugin
// chain (compiled once at start and on reload) in four stages — authenticate → authorize
// → limit → mutate — and is proxied upstream with the internal JWT (ARCHITECTURE §5).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { EventBus } from '../cache/events.js';
import type { GatewaySessionsConfig } from '../config/types.js';
import type { Clock } from '../core/clock.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Logger } from '../observability/logger.js';
import type { SessionStore } from '../sessions/types.js';
import type { Storage } from '../storage/types.js';
import type { GatewayError } from './errors.js';

export type AuthMethod = 'session' | 'oauth2' | 'key-auth' | 'basic-auth' | 'hmac-auth' | 'jwt' | 'anonymous';

export interface ConsumerRef {
  id: string;
  username: string;
  groups: string[];
}

/** Who is calling, as established by one authenticator. Becomes the internal JWT. */
export interface Identity {
  auth_method: AuthMethod;
  /** subject of the internal token: user id, client id, or `consumer:<username>` */
  sub: string;
  consumer?: ConsumerRef;
  client_id?: string;
  scope: string[];
  groups: string[];
  /** stable, non-secret id of the credential (a digest): cache and rate-limit key */
  credential_id: string;
  sid?: string;
  act?: Record<string, unknown>;
  /** epoch seconds after which this identity must not be used (credential expiry) */
  expires_at?: number;
  /** extra claims to copy into the internal token (e.g. email) */
  claims?: Record<string, unknown>;
}

/** Per-request state passed along the chain. */
export interface GatewayRequest {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  method: string;
  /** path without query, as received */
  path: string;
  /** raw query string without '?' ('' when none) */
  query: string;
  host: string;
  clientIp: string;
  /** 'http' | 'https' as seen by the client */
  scheme: string;
  route: CompiledRoute;
  identity?: Identity;
  /** request headers that must not reach upstream (credentials hidden by authenticators) */
  stripHeaders: Set<string>;
  /** query parameters that must not reach upstream */
  stripQuery: Set<string>;
  /** headers added to the upstream request (the internal token goes here) */
  upstreamHeaders: Record<string, string>;
  /** headers added to the response to the client (RateLimit-*, CORS …) */
  responseHeaders: Record<string, string>;
  /** set when a plugin had to read the whole body (e.g. hmac-auth content-digest); replayed upstream */
  body?: Buffer;
  /**
   * Most body bytes the proxy may stream upstream (request-size-limiting, for bodies
   * without Content-Length). The proxy counts while streaming — `limitBody()` in
   * src/gateway/limits/body-limit.ts — and answers 413 (or aborts, once answering began).
   */
  bodyLimit?: number;
  /**
   * Header names (lower case) the gateway must not send upstream even where it sets them
   * itself, e.g. `x-consumer-groups` under acl's `hide_groups_header`. Applied last.
   */
  omitUpstreamHeaders?: Set<string>;
}

/** Authenticators say: not my credential (skip), valid (ok) or invalid (fail). */
export type AuthnResult =
  | { kind: 'skip' }
  | { kind: 'ok'; identity: Identity }
  | { kind: 'fail'; error: GatewayError };

export const SKIP: AuthnResult = Object.freeze({ kind: 'skip' });

export interface Authenticator {
  readonly name: string;
  /** value of one WWW-Authenticate challenge for 401 responses */
  readonly challenge: string;
  authenticate(gr: GatewayRequest): Promise<AuthnResult> | AuthnResult;
}

/** Throws a GatewayError (403, 401) to deny. */
export interface Authorizer {
  readonly name: string;
  authorize(gr: GatewayRequest): Promise<void> | void;
}

/** Throws a GatewayError (429, 413) to refuse; may set response headers. */
export interface Limiter {
  readonly name: string;
  limit(gr: GatewayRequest): Promise<void> | void;
}

/**
 * Runs before authentication (cors answers preflights; request-size-limiting refuses
 * early). Returns true when it has answered the request itself.
 */
export interface Interceptor {
  readonly name: string;
  intercept(gr: GatewayRequest): Promise<boolean> | boolean;
}

export type PluginInstance =
  | { stage: 'intercept'; impl: Interceptor }
  | { stage: 'authenticate'; impl: Authenticator }
  | { stage: 'authorize'; impl: Authorizer }
  | { stage: 'limit'; impl: Limiter };

/** What plugins may use, resolved once at start. */
export interface GatewayDeps {
  storage: Storage;
  keyring: Keyring;
  clock: Clock;
  logger: Logger;
  redis?: Redis;
  issuer: string;
  /** master secret (sealing, keyed digests) */
  secret: string;
  consumers: ConsumerStore;
  /** events from the auth server and admin API (revocations, credential changes) */
  events: EventBus;
  /** `gateway.sessions` (cookie name, timeouts, refresh_before) for the session / oidc-login authenticators */
  sessionSettings?: GatewaySessionsConfig;
  /** the shared browser-session store (Redis or SQL, `gateway.sessions.store`); absent when none could be built */
  sessions?: SessionStore;
}

export interface PluginFactory {
  readonly name: string;
  /**
   * Validates `config` (throw ConfigError naming `${path}.key`) and builds an instance.
   * Called at start and on reload, never per request.
   */
  create(config: Record<string, unknown>, deps: GatewayDeps, path: string): PluginInstance | Promise<PluginInstance>;
}

export interface CompiledRoute {
  id: string;
  name: string;
  service: CompiledService;
  stripPath: boolean;
  preserveHost: boolean;
  /** the matched prefix to strip (set per match for prefix routes) */
  interceptors: Interceptor[];
  authenticators: Authenticator[];
  /** consumer used when no authenticator recognises a credential (`anonymous` option) */
  anonymous?: ConsumerRef;
  authorizers: Authorizer[];
  limiters: Limiter[];
}

export interface UpstreamTarget {
  url: URL;
}

export interface CompiledService {
  name: string;
  targets: UpstreamTarget[];
  connectTimeout: number; // ms
  readTimeout: number; // ms
  retries: number;
}

export interface ConsumerCredentialMatch {
  consumer: ConsumerRef;
  credential_id: string;
}

/** Consumers and their credentials, from config, the admin API and the CLI; stored in SQL. */
export interface ConsumerStore {
  byKey(key: string): Promise<ConsumerCredentialMatch | undefined>;
  /** returns the argon2id hash to verify against */
  basicCredential(username: string): Promise<(ConsumerCredentialMatch & { password_hash: string }) | undefined>;
  /** the shared HMAC secret (stored sealed, since HMAC verification needs it) */
  hmacCredential(keyId: string): Promise<(ConsumerCredentialMatch & { secret: string }) | undefined>;
  byUsername(username: string): Promise<ConsumerRef | undefined>;
}

export type { EventBus, GatewayEvent } from '../cache/events.js';

export type { IncomingMessage, ServerResponse };
