// The typed configuration every role is wired from. Durations are whole seconds,
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
}

export interface UserConfig {
  username: string;
  password?: string;
  password_hash?: string; // argon2id PHC string
  claims: Record<string, unknown>;
}

export interface AuthConfig {
  listen: string; // host:port
  tls?: TlsConfig;
  access_token_ttl: number; // default 600
  refresh_token_ttl: number; // default 30d
  introspection_jwt_ttl: number; // lifetime of an RFC 9701 response, default 60
  max_body_size: number; // bytes, default 65536
  client_auth_throttle: {
    max_failures: number; // default 10 failed client authentications...
    window: number; // ...within this many seconds (default 60) → 429 with Retry-After
  };
  clients: ClientConfig[];
  users: UserConfig[];
}

export interface ServiceRouteConfig {
  name?: string;
  hosts?: string[];
  paths?: string[];
  methods?: string[];
  headers?: Record<string, string[]>;
  strip_path: boolean;
  preserve_host: boolean;
}

export interface PluginConfig {
  name: string;
  enabled: boolean;
  config: Record<string, unknown>;
}

export interface ServiceConfig {
  name: string;
  url?: string;
  targets?: string[];
  routes: ServiceRouteConfig[];
  plugins: PluginConfig[];
}

export interface ConsumerConfig {
  username: string;
  groups: string[];
  credentials: Record<string, Array<Record<string, unknown>>>;
}

export interface GatewayConfig {
  listen: string;
  tls?: TlsConfig;
  admin_listen?: string;
  admin_token?: string;
  internal_token_ttl: number; // default 60
  services: ServiceConfig[];
  consumers: ConsumerConfig[];
  plugins: PluginConfig[];
}

export interface KeysConfig {
  algorithm: SigningAlg; // default ES256
  refresh_interval: number; // how often running instances look for a rotated key, default 2 (seconds)
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
