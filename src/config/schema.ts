// THE schema of `Config`, built with the DSL in fields.ts. The schema is the config reference:
// every field carries its doc and default, and README's "Configuration reference" is
// generated from it (`npm run docs:config`).

import type {
  AccessTokenFormat,
  AuthConfig,
  SsoSessionsConfig,
  AuditConfig,
  BrandingConfig,
  BruteForceConfig,
  ClientAuthMethod,
  ClientConfig,
  Config,
  ConsumerConfig,
  ForwardAuthConfig,
  GatewayConfig,
  GatewaySessionsConfig,
  GrantType,
  HstsConfig,
  JwkSet,
  KeysConfig,
  LogConfig,
  LogLevel,
  PassiveHealthcheckConfig,
  PasswordPolicyConfig,
  PluginConfig,
  ServiceConfig,
  ServiceRouteConfig,
  SigningAlg,
  TlsConfig,
  UserConfig,
} from './types.js';

import {
  ConfigError,
  keyPath,
  isPlainObject,
  Field,
  format,
  str,
  oneOf,
  int,
  bool,
  duration,
  millis,
  size,
  record,
  list,
  mapOf,
  object,
  show,
} from './fields.js';

// the DSL's names stay importable from here, where plugins and the CLI have always found them
export * from './fields.js';

import {
  tryUrl,
  parseStorage,
  issuerUrl,
  httpUrl,
  listen,
  scope,
  redirectUri,
  backchannelUri,
  sha256Hex,
  argon2idHash,
  httpPath,
  hexColor,
  logoUrl,
  routeId,
  ipOrCidr,
  headerName,
  workers,
  httpMethod,
  hostName,
} from './formats.js';

export { parseCidr } from './formats.js';

// ─── The Config schema ─────────────────────────────────────────────────────────────────

const SIGNING_ALGS: SigningAlg[] = ['ES256', 'RS256', 'EdDSA'];
const GRANT_TYPES: GrantType[] = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'password',
  'implicit',
];
const AUTH_METHODS: ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'];
const TOKEN_FORMATS: AccessTokenFormat[] = ['opaque', 'jwt'];
const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const tls = object<TlsConfig>({
  cert: str().doc('PEM file with the certificate chain.'),
  key: str().doc('PEM file with the private key.'),
});

const jwks = object<JwkSet>({
  keys: list(record(), { min: 1 }).doc('The public keys (JWK objects).'),
});

function hasSecret(client: ClientConfig): boolean {
  return client.client_secret !== undefined || client.client_secret_sha256 !== undefined;
}

function hasKeys(client: ClientConfig): boolean {
  return client.jwks !== undefined || client.jwks_uri !== undefined;
}

function checkClient(client: ClientConfig, path: string): void {
  const at = (key: keyof ClientConfig): string => keyPath(path, key);
  const secretKey = client.client_secret !== undefined ? 'client_secret' : 'client_secret_sha256';
  const method = client.token_endpoint_auth_method;

  if (client.client_secret !== undefined && client.client_secret_sha256 !== undefined) {
    throw new ConfigError(at('client_secret_sha256'), 'not allowed together with client_secret');
  }
  if (client.jwks !== undefined && client.jwks_uri !== undefined) {
    throw new ConfigError(at('jwks_uri'), 'not allowed together with jwks');
  }
  if ((method === 'client_secret_basic' || method === 'client_secret_post') && !hasSecret(client)) {
    throw new ConfigError(at('token_endpoint_auth_method'), `${method} needs client_secret or client_secret_sha256`);
  }
  if (method === 'private_key_jwt' && !hasKeys(client)) {
    throw new ConfigError(at('token_endpoint_auth_method'), 'private_key_jwt needs jwks or jwks_uri');
  }
  if ((method === 'private_key_jwt' || method === 'none') && hasSecret(client)) {
    throw new ConfigError(at(secretKey), `not allowed with token_endpoint_auth_method ${method}`);
  }
  const credentialsGrant = client.grant_types.indexOf('client_credentials');
  if (method === 'none' && credentialsGrant >= 0) {
    const problem = 'client_credentials needs an authenticated client, not token_endpoint_auth_method none';
    throw new ConfigError(keyPath(at('grant_types'), credentialsGrant), problem);
  }
  const redirecting = client.grant_types.find((grant) => grant === 'authorization_code' || grant === 'implicit');
  if (redirecting !== undefined && client.redirect_uris.length === 0) {
    throw new ConfigError(at('redirect_uris'), `at least one redirect URI is required for grant type ${redirecting}`);
  }
  const outside = (client.default_scopes ?? []).findIndex((name) => !client.scopes.includes(name));
  if (outside >= 0) {
    const problem = `${show(client.default_scopes![outside])} is not one of the client's scopes`;
    throw new ConfigError(keyPath(at('default_scopes'), outside), problem);
  }
}

const client = object<ClientConfig>(
  {
    client_id: str().doc('Identifier the client authenticates with; unique among clients.'),
    client_name: str().optional().doc('Name shown on the consent page.'),
    client_secret: str()
      .optional()
      .sensitive()
      .doc('Shared secret. Absent (and no `client_secret_sha256`): a public client, PKCE required.'),
    client_secret_sha256: sha256Hex
      .optional()
      .sensitive()
      .doc('Hex SHA-256 of the secret, to keep the secret itself out of the file.'),
    redirect_uris: list(redirectUri)
      .default([])
      .doc('Allowed redirect URIs, compared exactly; required for `authorization_code` and `implicit`.'),
    grant_types: list(oneOf(GRANT_TYPES), { min: 1 })
      .derive<ClientConfig>('`[client_credentials]` with a secret or keys, else `[authorization_code, refresh_token]`', (c) =>
        hasSecret(c) || hasKeys(c) ? ['client_credentials'] : ['authorization_code', 'refresh_token'],
      )
      .doc('Grant types the client may use.'),
    scopes: list(scope).default([]).doc('Scopes the client may request.'),
    default_scopes: list(scope)
      .derive<ClientConfig>('same as `scopes`', (c) => [...c.scopes])
      .doc('Scopes granted when a request names none; a subset of `scopes`.'),
    token_endpoint_auth_method: oneOf(AUTH_METHODS)
      .derive<ClientConfig>(
        '`client_secret_basic` with a secret, `private_key_jwt` with `jwks`/`jwks_uri`, else `none`',
        (c) => (hasSecret(c) ? 'client_secret_basic' : hasKeys(c) ? 'private_key_jwt' : 'none'),
      )
      .doc('How the client authenticates at the token endpoint.'),
    jwks: jwks.optional().doc('Public keys for `private_key_jwt`, inline.'),
    jwks_uri: httpUrl.optional().doc('URL of the public keys for `private_key_jwt`.'),
    access_token_format: oneOf(TOKEN_FORMATS)
      .default('opaque')
      .doc('`opaque` (the gateway swaps it for a JWT) or `jwt` (RFC 9068, readable by resource servers).'),
    access_token_ttl: duration(1).optional().doc('Overrides `auth.access_token_ttl` for this client.'),
    audiences: list(str()).optional().doc('Resource indicators (RFC 8707) the client may ask for; absent: any.'),
    consent: oneOf(['ask', 'skip'] as const)
      .optional()
      .doc('`skip`: a first-party client whose users are never shown the consent page; absent: `ask`.'),
    mfa: oneOf(['optional', 'required'] as const)
      .optional()
      .doc('`required`: everyone signing in to this client uses TOTP (users without it enrol during sign-in; a password-only SSO session is stepped up); absent: `optional` (per-user requirement only).'),
    post_logout_redirect_uris: list(redirectUri)
      .default([])
      .doc('Where RP-initiated logout (`end_session_endpoint`) may send the browser afterwards, compared exactly.'),
    backchannel_logout_uri: backchannelUri
      .optional()
      .doc('OIDC Back-Channel Logout: where a signed logout token is POSTed when a session the client received tokens in ends (https, or http on a loopback host).'),
    backchannel_logout_session_required: bool()
      .default(false)
      .doc('Put `sid` in this client\'s logout tokens (it is sent whenever known anyway).'),
  },
  checkClient,
);

const user = object<UserConfig>(
  {
    username: str().doc('Login name; unique among users.'),
    password: str().optional().sensitive().doc('Plain password (fine for development; prefer `password_hash`).'),
    password_hash: argon2idHash.optional().sensitive().doc('argon2id PHC string (`$argon2id$v=19$…`).'),
    claims: record().default({}).doc('Claims returned in ID tokens and userinfo by scope (`email`, `name`, `groups`, …); `groups` also goes into access tokens granted the `groups` scope, and from there into the internal token of the gateway.'),
    mfa_required: bool()
      .optional()
      .doc('Require TOTP at every login; absent: keep what storage has (`drawbridge user require-mfa`).'),
  },
  function checkUser(value, path) {
    if (value.password !== undefined && value.password_hash !== undefined) {
      throw new ConfigError(keyPath(path, 'password_hash'), 'not allowed together with password');
    }
  },
);

const passwordPolicy = object<PasswordPolicyConfig>({
  min_length: int(1, 1024).default(12).doc('Fewest characters a new password may have.'),
  reject_common: bool()
    .default(true)
    .doc('Reject the ~3,900 most common passwords (case-insensitive, also with digits and symbols around them).'),
});

const bruteForce = object<BruteForceConfig>({
  enabled: bool().default(true).doc('`false` turns delays and lockouts off (tests only).'),
  max_failures: int(1).default(10).doc('Failed logins per username within `window` that lock it out; unknown usernames too.'),
  max_failures_per_ip: int(1).default(100).doc('Failed logins per client IP within `window` that lock the IP out.'),
  window: duration(1).default('1h').doc('Failures are counted for this long from the first one; a successful login clears its account.'),
  lockout: duration(1).default('15m').doc('How long a lockout lasts; then counting starts over.'),
  delay_after: int(0).default(3).doc('Failures answered at once; later ones are delayed.'),
  delay: duration(0).default('1s').doc('The first delay, doubled with each further failure…'),
  max_delay: duration(0).default('10s').doc('…up to this.'),
});

/** auth.password_policy when the config has none. */
export function defaultPasswordPolicy(): PasswordPolicyConfig {
  return passwordPolicy.parse({}, 'auth.password_policy');
}

/** auth.brute_force when the config has none. */
export function defaultBruteForce(): BruteForceConfig {
  return bruteForce.parse({}, 'auth.brute_force');
}

const auth = object<AuthConfig>({
  listen: listen.default('127.0.0.1:9000').doc('Address the auth server listens on.'),
  tls: tls.optional().doc('Serve HTTPS with this certificate; absent: plain HTTP (behind a TLS proxy).'),
  access_token_ttl: duration(1).default('10m').doc('Lifetime of access tokens.'),
  refresh_token_ttl: duration(1).default('30d').doc('Lifetime of refresh tokens.'),
  refresh_token_idle_ttl: duration(1)
    .default('7d')
    .doc('A refresh token unused for this long is dead (each use rotates it and starts the period anew).'),
  refresh_grace_period: duration(0)
    .default('10s')
    .doc('After a refresh, repeats of the old token within this period get the same new pair (concurrent refreshes); later ones revoke the family.'),
  introspection_jwt_ttl: duration(1).default('60s').doc('Lifetime of JWT introspection responses (RFC 9701).'),
  max_body_size: size(1).default('64kb').doc('Largest accepted request body.'),
  client_auth_throttle: object<AuthConfig['client_auth_throttle']>({
    max_failures: int(1).default(10).doc('Failed client authentications allowed per client…'),
    max_failures_per_ip: int(1)
      .default(100)
      .doc('…and per client IP (higher: many clients may share one address behind a NAT or proxy, and one client guessing must not lock out the others)…'),
    window: duration(1).default('60s').doc('…within this window; then 429 with Retry-After.'),
  })
    .default({})
    .doc('Slows down guessing of client secrets.'),
  clients: list(client, { uniqueBy: 'client_id' }).default([]).doc('OAuth clients.'),
  users: list(user, { uniqueBy: 'username' }).default([]).doc('Users who can log in on the login page.'),
  password_policy: passwordPolicy
    .optional()
    .doc('Rules for new passwords (`drawbridge user create|set-password`); absent: the defaults below.'),
  brute_force: bruteForce
    .optional()
    .doc('Login protection per username and per IP: growing delays, then a temporary lockout; absent: the defaults below.'),
  sessions: object<SsoSessionsConfig>({
    idle_timeout: duration(1).default('30m').doc('An SSO session unused for this long ends (the user logs in again).'),
    absolute_timeout: duration(1).default('12h').doc('An SSO session ends this long after login, however much it is used.'),
  })
    .optional()
    .doc('SSO sessions at the auth server (the login cookie); absent: the defaults below.'),
  branding: object<BrandingConfig>({
    product_name: str().default('Drawbridge').doc('Name shown in page titles and headings.'),
    primary_color: hexColor.default('#2f5bea').doc('Color of the buttons.'),
    logo_url: logoUrl.optional().doc('Logo above each page: a `data:image/…` URL or a same-origin path (`/logo.svg`); never an external URL.'),
  })
    .optional()
    .doc('Look of the login, consent and error pages; absent: the defaults below.'),
  audit: object<AuditConfig>({
    enabled: bool().default(true).doc('`false`: no audit events at all.'),
    file: str()
      .optional()
      .doc('Append the events as JSON lines to this file (mode 0600); absent: stdout, each line marked `"type":"audit"` (none when `log.level` is `silent`).'),
  })
    .optional()
    .doc('Audit events (login, MFA, lockout, consent, token issued/refreshed/revoked, logout) with time, request id, user, client and IP — never a secret; absent: on stdout.'),
});

const plugin = object<PluginConfig>({
  name: str().doc('Gateway plugin to run (`key-auth`, `basic-auth`, `hmac-auth`, …).'),
  enabled: bool().default(true).doc('`false` keeps the entry but skips the plugin.'),
  config: record().default({}).doc("The plugin's own settings, validated by the plugin."),
});

const route = object<ServiceRouteConfig>(
  {
    id: routeId.optional().doc('Stable id for the admin API, logs and metrics; unique; default: `name`, else `<service>-<index>`.'),
    name: str().optional().doc('Name for logs and metrics; unique among all routes.'),
    hosts: list(hostName, { min: 1 })
      .optional()
      .doc('Host headers that match: `api.example.com`, `*.example.com` or `example.*`; a plain host beats a wildcard.'),
    paths: list(httpPath, { min: 1 })
      .optional()
      .doc(
        'Paths that match: a prefix matched by whole segments (`/orders` matches `/orders` and `/orders/1`, not `/ordersx`; longest wins), or a regex anchored at the start when it begins with `~` (`~/orders/\\d+$`; regexes are tried before prefixes, by `regex_priority`).',
      ),
    methods: list(httpMethod, { min: 1 }).optional().doc('HTTP methods that match; absent: all.'),
    headers: mapOf(list(str(), { min: 1 }), 'header')
      .optional()
      .doc('Request headers that match: header name → accepted values (compared case-insensitively).'),
    regex_priority: int(0).default(0).doc('Among routes with regex paths, higher is tried first; ties go by definition order.'),
    strip_path: bool().default(true).doc('Remove the matched path prefix before proxying (sets `X-Forwarded-Prefix`).'),
    preserve_host: bool().default(false).doc("Send the client's Host header upstream instead of the target's."),
    plugins: list(plugin).default([]).doc("Plugins for this route only; a plugin named here overrides the service's and the global one."),
  },
  function checkRoute(value, path) {
    if (!value.hosts && !value.paths && !value.methods && !value.headers) {
      throw new ConfigError(path, 'needs at least one of hosts, paths, methods or headers');
    }
  },
);

const service = object<ServiceConfig>(
  {
    name: format('name', 'a name without spaces', (text) => (/^\S+$/.test(text) ? text : undefined)).doc(
      "Service name; unique; the internal token's `aud`.",
    ),
    url: httpUrl.optional().doc('Upstream base URL; or `targets` for several instances.'),
    targets: list(httpUrl, { min: 1 })
      .optional()
      .doc('Upstream base URLs of several instances of the service, used round-robin (same path on each).'),
    connect_timeout: millis(1).default('5s').doc('Time to open a connection to a target; then 504 (or a retry).'),
    read_timeout: millis(1).default('60s').doc('Time to wait for the response headers, and between body chunks; then 504.'),
    retries: int(0, 10)
      .default(1)
      .doc('Extra attempts on another target for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) when nothing reached the upstream.'),
    healthchecks: object<ServiceConfig['healthchecks']>({
      passive: object<PassiveHealthcheckConfig>({
        unhealthy_failures: int(1).default(3).doc('Consecutive connection failures or timeouts that eject a target.'),
        cooldown: duration(1).default('10s').doc('How long an ejected target rests before it is tried again.'),
      })
        .default({})
        .doc('Eject targets that fail, from live traffic.'),
    })
      .default({})
      .doc('Target health checks.'),
    routes: list(route).default([]).doc('Requests that go to this service.'),
    plugins: list(plugin).default([]).doc("Plugins for this service's routes, besides the global `gateway.plugins`."),
  },
  function checkService(value, path) {
    if (value.url === undefined && value.targets === undefined) {
      throw new ConfigError(keyPath(path, 'url'), 'required unless targets is set', { expected: 'exactly one of url or targets' });
    }
    if (value.url !== undefined && value.targets !== undefined) {
      throw new ConfigError(keyPath(path, 'targets'), 'not allowed together with url');
    }
  },
);

const consumer = object<ConsumerConfig>({
  username: str().doc('Consumer name; unique; the internal token\'s `consumer` claim.'),
  groups: list(str()).default([]).doc('Groups, for ACLs and the internal token\'s `groups` claim.'),
  credentials: mapOf(list(record()), 'plugin')
    .default({})
    .sensitive()
    .doc('Credentials per auth plugin, e.g. `key-auth: [{ key: … }]`.'),
});

const gateway = object<GatewayConfig>(
  {
    listen: listen.default('127.0.0.1:8000').doc('Address the gateway listens on.'),
    tls: tls.optional().doc('Serve HTTPS with this certificate.'),
    hsts: object<HstsConfig>({
      max_age: duration(0).default('365d').doc('`Strict-Transport-Security` max-age; `0` tells browsers to forget it.'),
      include_subdomains: bool().default(false).doc('Add `includeSubDomains`.'),
      preload: bool().default(false).doc('Add `preload`.'),
    })
      .default({})
      .doc('HSTS header, sent on TLS listeners only.'),
    workers: workers.default(1).doc('Worker processes sharing the listen port (`auto`: one per CPU); shared state needs `redis`.'),
    trusted_proxies: list(ipOrCidr)
      .default([])
      .doc('Peers (IPs or CIDRs) whose `X-Forwarded-For/-Proto/-Host` are kept and appended to; from others they are replaced.'),
    strip_headers: list(headerName)
      .default([])
      .doc(
        'Client headers removed before proxying, besides `X-Consumer-*`, `X-Userinfo`, `X-Drawbridge-*`, `X-Credential-*`, `X-Authenticated-*` (a trailing `*` is a prefix).',
      ),
    forward_auth: object<ForwardAuthConfig>({
      enabled: bool().default(true).doc('Answer decision requests on `path`.'),
      path: format('path', 'a path starting with /', (text) => (/^\/[^?#]*$/.test(text) ? text : undefined))
        .default('/_drawbridge/authz')
        .doc('Path of the decision endpoint on the gateway listener (nginx `auth_request`, Traefik ForwardAuth, Envoy ext_authz).'),
      allow: list(ipOrCidr)
        .default(['127.0.0.0/8', '::1', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'])
        .doc('Peers that may call it: its 200 carries an internal token, so keep it to the proxies in front of your services.'),
    })
      .default({})
      .doc('Forward-auth decision endpoint: runs the pipeline of the route named by `X-Forwarded-*` / `X-Original-*` without proxying.'),
    sessions: object<GatewaySessionsConfig>({
      store: oneOf(['redis', 'sql'] as const)
        .optional()
        .doc('Where browser sessions live (shared by every instance): `redis` or `sql` (the `storage` database); absent: `redis` when `redis` is set, else `sql`.'),
      cookie_name: format('cookie name', 'letters, digits, - and _ (1–64)', (text) => (/^[A-Za-z0-9_-]{1,64}$/.test(text) ? text : undefined))
        .default('drawbridge_session')
        .doc('Name of the session cookie (prefixed `__Host-` on https); it holds only a random id.'),
      idle_timeout: duration(1).default('30m').doc('A session unused this long ends.'),
      absolute_timeout: duration(1).default('12h').doc('A session ends this long after sign-in, however active.'),
      refresh_before: duration(0).default('60s').doc('Refresh the access token this long before it expires (under a per-session lock).'),
    })
      .default({})
      .doc('Browser sessions of the `session` and `oidc-login` authenticators: only a random id in the cookie, the rest (tokens sealed) in the store.'),
    admin_listen: listen.optional().doc('Address of the admin API and metrics; absent: disabled.'),
    admin_token: str().optional().sensitive().doc('Bearer token for the admin API; required with `admin_listen`.'),
    internal_token_ttl: duration(1).default('60s').doc('Lifetime of the internal JWT sent upstream.'),
    services: list(service, { uniqueBy: 'name' }).default([]).doc('Upstream services.'),
    consumers: list(consumer, { uniqueBy: 'username' }).default([]).doc('API consumers and their credentials.'),
    plugins: list(plugin).default([]).doc('Global plugins, run for every route.'),
  },
  function checkGateway(value, path) {
    if (value.admin_listen !== undefined && value.admin_token === undefined) {
      throw new ConfigError(keyPath(path, 'admin_token'), 'required when admin_listen is set');
    }
    checkRouteIds(value, path);
  },
);

/** Route ids and names are unique across services: the admin API and metrics address routes by them. */
function checkRouteIds(gateway: GatewayConfig, path: string): void {
  const seen = new Map<string, string>();
  gateway.services.forEach((svc, s) => {
    svc.routes.forEach((r, i) => {
      const at = keyPath(keyPath(keyPath(keyPath(path, 'services'), s), 'routes'), i);
      for (const key of ['id', 'name'] as const) {
        const value = r[key];
        if (value === undefined) continue;
        const other = seen.get(value);
        if (other !== undefined && other !== at) throw new ConfigError(keyPath(at, key), `${show(value)} is already used by ${other}`);
        seen.set(value, at);
      }
    });
  });
}

/** Worker processes cannot share an in-memory database: each would have its own keys. */
function checkWorkers(config: Config): void {
  const n = config.gateway?.workers;
  if (n !== undefined && n !== 1 && config.storage === 'memory:') {
    throw new ConfigError('gateway.workers', 'more than one worker needs a shared storage (sqlite:PATH or postgres://…), not memory:');
  }
}

/** Sessions in Redis need the top-level `redis` URL. */
function checkSessionStore(config: Config): void {
  if (config.gateway?.sessions.store === 'redis' && config.redis === undefined) {
    throw new ConfigError('gateway.sessions.store', 'redis needs the top-level `redis` URL (or use store: sql)');
  }
}

/** Two roles in one process cannot bind the same address (port 0 picks a free port). */
function checkListeners(config: Config): void {
  const listeners: Array<[string, string | undefined]> = [
    ['auth.listen', config.auth?.listen],
    ['gateway.listen', config.gateway?.listen],
    ['gateway.admin_listen', config.gateway?.admin_listen],
  ];
  const seen = new Map<string, string>();
  for (const [path, address] of listeners) {
    if (address === undefined || address.endsWith(':0')) continue;
    const other = seen.get(address);
    if (other !== undefined) throw new ConfigError(path, `${address} is already used by ${other}`);
    seen.set(address, path);
  }
}

export const configSchema: Field<Config> = object<Config>(
  {
    issuer: issuerUrl.doc('Public base URL of the auth server; tokens carry it as `iss`.'),
    storage: format('URL', 'memory:, sqlite:PATH or a postgres:// URL', parseStorage)
      .default('sqlite:./.drawbridge/drawbridge.db')
      .sensitive()
      .doc('Database: `memory:` (tests; in YAML quote it or write `memory`), `sqlite:PATH` or `postgres://…` / `postgresql://…`.'),
    redis: format('URL', 'a redis:// or rediss:// URL', (text) =>
      /^rediss?:\/\//.test(text) && tryUrl(text) ? text : undefined,
    )
      .optional()
      .sensitive()
      .doc('Shared sessions, revocation events and rate limits; required for more than one instance.'),
    secret: str()
      .optional()
      .sensitive()
      .doc('Master secret (cookie keys, key encryption at rest); at least 32 characters outside `drawbridge dev`.'),
    keys: object<KeysConfig>({
      algorithm: oneOf(SIGNING_ALGS).default('ES256').doc('Algorithm of new signing keys.'),
      refresh_interval: duration(1).default('2s').doc('How often running instances look for a rotated key.'),
    })
      .default({})
      .doc('Token signing keys.'),
    log: object<LogConfig>({
      level: oneOf(LOG_LEVELS).default('info').doc('Least severe level that is logged.'),
      pretty: bool().optional().doc('Human-readable logs; absent: pretty when stdout is a terminal.'),
    })
      .default({})
      .doc('Logging.'),
    auth: auth.optional().doc('The authorization server; absent: this config runs no auth server.'),
    gateway: gateway.optional().doc('The API gateway; absent: this config runs no gateway.'),
  },
  function checkConfig(config) {
    checkListeners(config);
    checkSessionStore(config);
    checkWorkers(config);
  },
);

/** Validates a parsed config file (after `${VAR}` interpolation) into a `Config`. */
export function validateConfig(raw: unknown): Config {
  if (!isPlainObject(raw)) {
    throw new ConfigError('', `expected the config to be an object with keys like issuer, auth, gateway; got ${show(raw)}`);
  }
  return configSchema.parse(raw, '');
}
