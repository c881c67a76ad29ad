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
import type { Metrics, RouteRecorder } from './metrics.js';
import type { UpstreamTls } from './upstream-tls.js';

export type AuthMethod = 'session' | 'oauth2' | 'key-auth' | 'basic-auth' | 'hmac-auth' | 'jwt' | 'anonymous';

/**
 * Which identities came from an OAuth Bearer token (RFC 6750: jwt, oauth2-introspection), so a
 * refusal may carry a Bearer challenge (insufficient_scope); the others authenticated with
 * another scheme, or with none. A Record, so a new AuthMethod must be placed here.
 */
export const BEARER_AUTHENTICATED: Readonly<Record<AuthMethod, boolean>> = Object.freeze({
  session: false,
  oauth2: true,
  'key-auth': false,
  'basic-auth': false,
  'hmac-auth': false,
  jwt: true,
  anonymous: false,
});

export interface ConsumerRef {
  id: string;
  username: string;
  groups: string[];
  /**
   * Kong's custom_id, sent upstream as X-Consumer-Custom-ID. The consumer store sets the
   * property on every ref (undefined when none), so all refs share one shape on the hot path.
   */
  custom_id?: string | undefined;
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
  /** headers added to the response to the client (RateLimit-*, CORS …); names lower-case (the proxy relies on it) */
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

/**
 * The GatewayRequest the gateway makes for each request. The four containers plugins fill
 * (stripHeaders, stripQuery, upstreamHeaders, responseHeaders) are made on first use:
 * a request on a route without plugins never needs them, and most plugins touch one or
 * two. The proxy reads them with the peek functions below, which do not make them.
 */
export class RequestState implements GatewayRequest {
  // Fields are `declare`d and set in the constructor: plain stores, where class-field
  // definitions (ES2022 [[Define]] semantics) cost a define per field per request. Every
  // field is set from the start (undefined until used): one object shape for all requests.
  declare req: IncomingMessage;
  declare res: ServerResponse;
  declare requestId: string;
  declare method: string;
  declare path: string;
  declare query: string;
  declare host: string;
  declare clientIp: string;
  declare scheme: string;
  declare route: CompiledRoute;
  declare identity: Identity | undefined;
  declare body: Buffer | undefined;
  declare bodyLimit: number | undefined;
  declare omitUpstreamHeaders: Set<string> | undefined;
  private declare _stripHeaders: Set<string> | undefined;
  private declare _stripQuery: Set<string> | undefined;
  private declare _upstreamHeaders: Record<string, string> | undefined;
  private declare _responseHeaders: Record<string, string> | undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    method: string,
    path: string,
    query: string,
    host: string,
    clientIp: string,
    scheme: string,
    route: CompiledRoute,
  ) {
    this.req = req;
    this.res = res;
    this.requestId = requestId;
    this.method = method;
    this.path = path;
    this.query = query;
    this.host = host;
    this.clientIp = clientIp;
    this.scheme = scheme;
    this.route = route;
    this.identity = undefined;
    this.body = undefined;
    this.bodyLimit = undefined;
    this.omitUpstreamHeaders = undefined;
    this._stripHeaders = undefined;
    this._stripQuery = undefined;
    this._upstreamHeaders = undefined;
    this._responseHeaders = undefined;
  }

  get stripHeaders(): Set<string> {
    return (this._stripHeaders ??= new Set());
  }
  set stripHeaders(value: Set<string>) {
    this._stripHeaders = value;
  }
  get stripQuery(): Set<string> {
    return (this._stripQuery ??= new Set());
  }
  set stripQuery(value: Set<string>) {
    this._stripQuery = value;
  }
  get upstreamHeaders(): Record<string, string> {
    return (this._upstreamHeaders ??= {});
  }
  set upstreamHeaders(value: Record<string, string>) {
    this._upstreamHeaders = value;
  }
  get responseHeaders(): Record<string, string> {
    return (this._responseHeaders ??= {});
  }
  set responseHeaders(value: Record<string, string>) {
    this._responseHeaders = value;
  }

  static peekStripHeaders(gr: RequestState): Set<string> | undefined {
    return gr._stripHeaders;
  }
  static peekStripQuery(gr: RequestState): Set<string> | undefined {
    return gr._stripQuery;
  }
  static peekUpstreamHeaders(gr: RequestState): Record<string, string> | undefined {
    return gr._upstreamHeaders;
  }
  static peekResponseHeaders(gr: RequestState): Record<string, string> | undefined {
    return gr._responseHeaders;
  }
}

/** gr.stripHeaders, or undefined when nothing made it yet (then nothing is in it). */
export function peekStripHeaders(gr: GatewayRequest): ReadonlySet<string> | undefined {
  return gr instanceof RequestState ? RequestState.peekStripHeaders(gr) : gr.stripHeaders;
}

/** gr.stripQuery, or undefined when nothing made it yet. */
export function peekStripQuery(gr: GatewayRequest): ReadonlySet<string> | undefined {
  return gr instanceof RequestState ? RequestState.peekStripQuery(gr) : gr.stripQuery;
}

/** gr.upstreamHeaders, or undefined when nothing made it yet. */
export function peekUpstreamHeaders(gr: GatewayRequest): Readonly<Record<string, string>> | undefined {
  return gr instanceof RequestState ? RequestState.peekUpstreamHeaders(gr) : gr.upstreamHeaders;
}

/** gr.responseHeaders, or undefined when nothing made it yet. */
export function peekResponseHeaders(gr: GatewayRequest): Readonly<Record<string, string>> | undefined {
  return gr instanceof RequestState ? RequestState.peekResponseHeaders(gr) : gr.responseHeaders;
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
  /**
   * Removes every place this plugin's credential may be (with `hide_credentials`) from what
   * goes upstream. Called when another authenticator of the route decided: an unused
   * credential (a second, unchecked one) must not reach upstream either, where it could be
   * read, or replayed against the gateway (an HMAC signature whose nonce was never spent).
   */
  hide?(gr: GatewayRequest): void;
  /**
   * Fields telling the client what its credential must look like for this very request
   * (hmac-auth: its challenge naming what this request's signature must cover, and RFC 9421
   * §5.1 `Accept-Signature`), made once per request shape, for the route's 401s: on this
   * plugin's own refusals they replace its fields; on the one for a request with no credential
   * at all, a `www-authenticate` takes the place of `challenge` among the route's challenges
   * (CompiledRoute.requesting) and the others are added.
   */
  requested?(gr: GatewayRequest): Readonly<Record<string, string>>;
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
  /** runs before the route's other interceptors, whatever the config order (ip-restriction) */
  readonly early?: boolean;
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
  /** the route's name, else its id: the metrics' `route` label */
  name: string;
  service: CompiledService;
  stripPath: boolean;
  preserveHost: boolean;
  /** the matched prefix to strip (set per match for prefix routes) */
  interceptors: Interceptor[];
  authenticators: Authenticator[];
  /** the 401 challenges when no credential is recognised: one per scheme, in authenticator order */
  challenges: string[];
  /**
   * The authenticators with requested(), and where each one's challenge sits in `challenges`
   * (its request's own replaces it): empty for most routes, whose 401 uses `challenges` as it is.
   */
  requesting: ReadonlyArray<{ readonly authenticator: Authenticator; readonly slot: number }>;
  /** consumer used when no authenticator recognises a credential (`anonymous` option) */
  anonymous?: ConsumerRef;
  authorizers: Authorizer[];
  limiters: Limiter[];
  /** the route's metrics series, resolved on its first request (server.ts) */
  metrics?: { registry: Metrics; recorder: RouteRecorder };
}

interface UpstreamTarget {
  url: URL;
}

export interface CompiledService {
  name: string;
  targets: UpstreamTarget[];
  connectTimeout: number; // ms
  readTimeout: number; // ms
  retries: number;
  /** tls_verify / ca_certificates / client_certificate, read at compile time; undefined: Node's defaults */
  tls?: UpstreamTls;
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
