// The typed configuration every role is wired from. Durations are whole seconds (upstream
// timeouts, which are milliseconds, say so),
// sizes are bytes. `src/config/schema.ts` validates raw YAML/JSON into this shape and is
// the documented reference (README "Configuration reference" is generated from it).

export type SigningAlg = 'ES256' | 'RS256' | 'EdDSA';
export type GrantType =
  | 'authorization_code'
  | 'refresh_token'
  | 'client_credentials'
  | 'urn:ietf:params:oauth:grant-type:token-exchange'
  | 'password'
  | 'implicit';
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
export type AccessTokenFormat = 'opaque' | 'jwt';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface TlsConfig {
  cert: string; // file path
  key: string; // file path
}

export interface JwkSet {
  keys: Array<Record<string, unknown>>;
}

export interface ClientConfig {
  client_id: string;
  client_name?: string;
  client_secret?: string; // absent (and no client_secret_sha256): public client
  client_secret_sha256?: string; // hex SHA-256 of the secret, instead of the plain secret
  redirect_uris: string[];
  grant_types: GrantType[];
  scopes: string[];
  default_scopes?: string[]; // granted when a request names no scope; default: all of `scopes`
  token_endpoint_auth_method: ClientAuthMethod; // default: client_secret_basic with a secret, private_key_jwt with jwks/jwks_uri, none otherwise
  jwks?: JwkSet; // for private_key_jwt
  jwks_uri?: string; // for private_key_jwt
  access_token_format: AccessTokenFormat; // default opaque
  access_token_ttl?: number; // overrides auth.access_token_ttl
  audiences?: string[]; // resource indicators (RFC 8707) this client may ask for; default: any
  consent?: 'ask' | 'skip'; // skip: a first-party client, no consent page; default ask
  mfa?: 'optional' | 'required'; // required: every user signing in to it uses TOTP (enrols if needed); default optional
  require_pkce?: boolean; // false: the code flow without PKCE is allowed (confidential clients only); default true
  require_pushed_authorization_requests?: boolean; // true: authorization requests only through /oauth2/par (RFC 9126); default false
  id_token_signed_response_alg?: SigningAlg; // alg of its ID tokens and logout tokens; one of keys.id_token_algorithms; default: the first
  request_object_signing_alg?: string; // the only alg accepted on its request objects (RFC 9101); one of the client assertion algs; default: any of them
  require_signed_request_object?: boolean; // true: authorization requests only as a signed request object (`request`, RFC 9101 §10.5); needs jwks/jwks_uri; default false
  post_logout_redirect_uris: string[]; // RP-initiated logout: allowed redirects afterwards (exact match); default []
  backchannel_logout_uri?: string; // OIDC Back-Channel Logout: where logout tokens are POSTed
  backchannel_logout_session_required: boolean; // put `sid` in logout tokens; default false
}

export interface UserConfig {
  username: string;
  password?: string;
  password_hash?: string; // argon2id PHC string
  claims: Record<string, unknown>;
  mfa_required?: boolean; // TOTP at every login; absent: keep what storage has (CLI-managed)
}

export interface PasswordPolicyConfig {
  min_length: number; // characters, default 12
  reject_common: boolean; // reject the bundled list of common passwords, default true
}

export interface BruteForceConfig {
  enabled: boolean; // default true
  max_failures: number; // failed logins per account within `window` before a lockout, default 10
  max_failures_per_ip: number; // the same per client IP, default 100
  window: number; // seconds failures are counted from the first one, default 1h
  lockout: number; // seconds a lockout lasts, default 15m
  delay_after: number; // failures answered without delay, default 3
  delay: number; // seconds of the first delay, doubled with each further failure, default 1
  max_delay: number; // seconds, the longest delay, default 10
}

export interface AuthConfig {
  listen: string; // host:port
  tls?: TlsConfig;
  access_token_ttl: number; // default 600
  refresh_token_ttl: number; // default 30d
  refresh_token_idle_ttl: number; // seconds unused before a refresh token dies, default 7d
  refresh_grace_period: number; // seconds a rotated refresh token still gets the same new pair, default 10
  introspection_jwt_ttl: number; // lifetime of an RFC 9701 response, default 60
  max_body_size: number; // bytes, default 65536
  require_pushed_authorization_requests: boolean; // default false (RFC 9126)
  client_auth_throttle: {
    max_failures: number; // default 10 failed client authentications per client with a secret...
    max_failures_per_ip: number; // ...or 100 from one IP (many clients may share one: a NAT, a proxy)...
    window: number; // ...within this many seconds (default 60) → 429 with Retry-After
  };
  clients: ClientConfig[];
  users: UserConfig[];
  password_policy?: PasswordPolicyConfig; // absent: the defaults (defaultPasswordPolicy())
  brute_force?: BruteForceConfig; // absent: the defaults (defaultBruteForce())
  sessions?: SsoSessionsConfig; // absent: idle 30m, absolute 12h
  branding?: BrandingConfig; // login, consent and error pages; absent: Drawbridge's own
  audit?: AuditConfig; // JSON-lines audit events; absent: stdout (nothing when log.level is silent)
  backchannel_logout?: BackchannelLogoutConfig; // absent: the default retry schedule
}

export interface BackchannelLogoutConfig {
  retry_delays?: number[]; // seconds before retry 1, 2, …; absent: auth/logout/backchannel.ts DEFAULT_RETRY_DELAYS
}

export interface AuditConfig {
  enabled: boolean; // default true
  file?: string; // append JSON lines here; absent: stdout, marked "type":"audit"
}

export interface BrandingConfig {
  product_name: string; // default Drawbridge
  primary_color: string; // #rgb or #rrggbb, default #2f5bea
  logo_url?: string; // a data: URL or a same-origin path (/…); nothing external
}

export interface SsoSessionsConfig {
  idle_timeout: number; // seconds without use that end an SSO session, default 30m
  absolute_timeout: number; // seconds after login that end it whatever the use, default 12h
}

export interface ServiceRouteConfig {
  id?: string; // stable id (admin API, logs, metrics); default: name, else `<service>-<index>`
  name?: string;
  hosts?: string[];
  paths?: string[]; // prefixes, or regexes when they start with `~`
  methods?: string[];
  headers?: Record<string, string[]>;
  regex_priority: number; // order among regex paths, higher first; default 0
  strip_path: boolean;
  preserve_host: boolean;
  plugins: PluginConfig[]; // route-level plugins, default []
}

export interface PluginConfig {
  name: string;
  enabled: boolean;
  config: Record<string, unknown>;
}

export interface PassiveHealthcheckConfig {
  unhealthy_failures: number; // consecutive failures that eject a target, default 3
  cooldown: number; // seconds an ejected target rests before it is tried again, default 10
}

export interface ActiveHealthcheckConfig {
  http_path: string; // probed with GET on every target, default /
  interval: number; // milliseconds between probes; 0 (default): no active checks
  timeout: number; // milliseconds a probe may take, default 1000
  healthy_successes: number; // consecutive good probes that bring a target back, default 2
  unhealthy_failures: number; // consecutive failed probes that take a target out, default 3
  unhealthy_statuses: number[]; // statuses that count as a failed probe, default 500, 502, 503, 504
}

export interface ServiceConfig {
  name: string;
  url?: string;
  targets?: string[];
  connect_timeout: number; // milliseconds, default 5000
  read_timeout: number; // milliseconds, default 60000
  retries: number; // extra attempts on another target (idempotent methods only), default 1
  tls_verify: boolean; // verify https targets' certificates, default true
  ca_certificates?: string[]; // PEM files: the CAs https targets must chain to (instead of Node's bundle)
  client_certificate?: TlsConfig; // mutual TLS to https targets
  healthchecks: { passive: PassiveHealthcheckConfig; active: ActiveHealthcheckConfig };
  routes: ServiceRouteConfig[];
  plugins: PluginConfig[];
}

export interface ConsumerConfig {
  username: string;
  groups: string[];
  custom_id?: string; // Kong's custom_id; unique when set; sent upstream as X-Consumer-Custom-ID
  tags?: string[]; // Kong's tags; absent: none
  credentials: Record<string, Array<Record<string, unknown>>>;
}

export interface HstsConfig {
  max_age: number; // seconds, default 365d
  include_subdomains: boolean; // default false
  preload: boolean; // default false
}

export interface ForwardAuthConfig {
  enabled: boolean; // default true
  path: string; // default /_drawbridge/authz
  allow: string[]; // IPs/CIDRs that may call it; default loopback and private networks
}

export type SessionStoreKind = 'redis' | 'sql';

export interface GatewaySessionsConfig {
  store?: SessionStoreKind; // absent: redis when top-level `redis` is set, else sql (sessionStoreKind())
  cookie_name: string; // default drawbridge_session (`__Host-` prefixed on https)
  idle_timeout: number; // seconds unused before the session ends, default 1800
  absolute_timeout: number; // seconds after sign-in the session ends regardless, default 43200
  refresh_before: number; // refresh the access token this long before it expires, default 60
}

export interface GatewayConfig {
  listen: string;
  tls?: TlsConfig;
  hsts: HstsConfig; // sent on TLS listeners only
  workers: number | 'auto'; // default 1
  trusted_proxies: string[]; // IPs/CIDRs whose X-Forwarded-* are kept, default []
  strip_headers: string[]; // extra client headers removed before proxying (`x-foo` or `x-foo-*`), default []
  forward_auth: ForwardAuthConfig;
  sessions: GatewaySessionsConfig; // browser sessions (session / oidc-login authenticators)
  admin_listen?: string;
  admin_token?: string;
  internal_token_ttl: number; // default 60
  services: ServiceConfig[];
  consumers: ConsumerConfig[];
  plugins: PluginConfig[];
}

export interface KeysConfig {
  algorithm: SigningAlg; // default ES256
  id_token_algorithms: readonly SigningAlg[]; // ID token algs, the default first; default [RS256, algorithm] without duplicates
  refresh_interval: number; // how often running instances look for a rotated key, default 2 (seconds)
  publish_ahead: number; // seconds a rotated key is published before it signs, default 900; 0: at once
}

export interface LogConfig {
  level: LogLevel; // default info
  pretty?: boolean; // default: pretty when stdout is a TTY
}

export interface Config {
  issuer: string;
  storage: string; // memory: | sqlite:PATH | postgres://… | postgresql://…
  redis?: string;
  secret?: string;
  keys: KeysConfig;
  log: LogConfig;
  auth?: AuthConfig;
  gateway?: GatewayConfig;
}
