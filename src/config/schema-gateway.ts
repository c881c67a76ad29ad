// The `gateway` section of the Config schema (schema.ts): services, routes, plugins,
// consumers, sessions and the gateway's listeners.
import type {
  ActiveHealthcheckConfig,
  ConsumerConfig,
  ForwardAuthConfig,
  GatewayConfig,
  GatewaySessionsConfig,
  HstsConfig,
  PassiveHealthcheckConfig,
  PluginConfig,
  ServiceConfig,
  ServiceRouteConfig,
} from './types.js';
import { ConfigError, keyPath, format, str, oneOf, int, bool, duration, millis, record, list, mapOf, object, show } from './fields.js';
import { CONSUMER_CUSTOM_ID_RULE, CONSUMER_TAG_RULE, CREDENTIAL_FIELDS, customIdProblem, isTag } from './consumer-fields.js';
import { isLoopbackHost, listenHost, upstreamUrl, listen, httpPath, routeId, ipOrCidr, headerName, workers, httpMethod, hostName } from './formats.js';
import { tls } from './schema-auth.js';
import { hasControlCharacter } from '../core/text.js';

/** As `secret`: an admin token others can reach over the network must not be guessable. */
const MIN_ADMIN_TOKEN_LENGTH = 32;

/** RFC 9110 §5.1 field-name (a token). */
const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const plugin = object<PluginConfig>({
  name: str().doc('Gateway plugin to run (`key-auth`, `basic-auth`, `hmac-auth`, …).'),
  enabled: bool().default(true).doc('`false` keeps the entry but skips the plugin.'),
  config: record().default({}).doc("The plugin's own settings, validated by the plugin."),
});

const route = object<ServiceRouteConfig>(
  {
    id: routeId.optional().doc('Stable id for the admin API and logs, and the metrics\' `route` label when there is no `name`; unique; default: `name`, else `<service>-<index>`.'),
    name: format('route name', 'a name of at most 256 characters without control characters', (text) => (text !== '' && text.length <= 256 && !hasControlCharacter(text) ? text : undefined))
      .optional()
      .doc('Name for the admin API and the metrics\' `route` label (admin-made routes too, whose id is a UUID); unique among all routes, ids included; at most 256 characters, no control characters.'),
    hosts: list(hostName, { min: 1 })
      .optional()
      .doc('Host headers that match: `api.example.com`, `*.example.com` or `example.*`; a plain host beats a wildcard.'),
    paths: list(httpPath, { min: 1 })
      .optional()
      .doc(
        'Paths that match: a prefix (without `;`) matched by whole segments (`/orders` matches `/orders` and `/orders/1`, not `/ordersx`; longest wins), or a regex anchored at the start when it begins with `~` (`~/orders/\\d+$`; regexes are tried before prefixes, by `regex_priority`). A prefix is taken in the form requests are matched in: characters outside a URI percent-encoded (`/café` → `/caf%C3%A9`), then normalized like request paths (`%61` → `a`, dot segments resolved).',
      ),
    methods: list(httpMethod, { min: 1 }).optional().doc('HTTP methods that match; absent: all.'),
    headers: mapOf(list(str(), { min: 1 }), 'header')
      .optional()
      .doc('Request headers that match: header name (an HTTP token; not `host`: use `hosts`) → accepted values (compared case-insensitively).'),
    regex_priority: int(0).default(0).doc('Among routes with regex paths, higher is tried first; ties go by definition order.'),
    strip_path: bool().default(true).doc('Remove the matched path prefix before proxying (sets `X-Forwarded-Prefix`).'),
    preserve_host: bool().default(false).doc("Send the client's Host header upstream instead of the target's."),
    plugins: list(plugin).default([]).doc("Plugins for this route only; a plugin named here overrides the service's and the global one."),
  },
  function checkRoute(value, path) {
    if (!value.hosts && !value.paths && !value.methods && !value.headers) {
      throw new ConfigError(path, 'needs at least one of hosts, paths, methods or headers');
    }
    // a name no request can carry never matches; Host is what `hosts` is for (Kong refuses it too)
    for (const name of Object.keys(value.headers ?? {})) {
      const at = keyPath(keyPath(path, 'headers'), name);
      if (!HEADER_TOKEN.test(name)) throw new ConfigError(at, 'expected a header name (an HTTP token: letters, digits and !#$%&\'*+-.^_`|~)');
      if (name.toLowerCase() === 'host') throw new ConfigError(at, 'match the Host header with hosts, not headers');
    }
  },
);

const service = object<ServiceConfig>(
  {
    name: format('name', 'a name without spaces, at most 256 characters', (text) => (/^\S{1,256}$/.test(text) ? text : undefined)).doc(
      "Service name (no spaces, at most 256 characters); unique; the internal token's `aud`.",
    ),
    url: upstreamUrl.optional().doc('Upstream base URL (no `user:password@`, query or fragment); or `targets` for several instances.'),
    targets: list(upstreamUrl, { min: 1 })
      .optional()
      .doc('Upstream base URLs of several instances of the service, used round-robin (same path on each; no `user:password@`, query or fragment).'),
    connect_timeout: millis(1).default('5s').doc('Time to open a connection to a target; then 504 (or a retry).'),
    read_timeout: millis(1).default('60s').doc('Time to wait for the response headers, and between body chunks; then 504.'),
    retries: int(0, 10)
      .default(1)
      .doc('Extra attempts on another target for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) when nothing reached the upstream.'),
    tls_verify: bool()
      .default(true)
      .doc("Verify the certificates of https targets (against `ca_certificates`, else Node's bundled CAs); `false` only for testing."),
    ca_certificates: list(str(), { min: 1 })
      .optional()
      .doc("PEM files with the certificate authorities that https targets' certificates must chain to, instead of Node's bundled ones."),
    client_certificate: tls.optional().doc('Certificate and key the gateway presents to https targets (mutual TLS).'),
    healthchecks: object<ServiceConfig['healthchecks']>({
      passive: object<PassiveHealthcheckConfig>({
        unhealthy_failures: int(1).default(3).doc('Consecutive connection failures or timeouts that eject a target.'),
        cooldown: duration(1).default('10s').doc('How long an ejected target rests before it is tried again.'),
      })
        .default({})
        .doc('Eject targets that fail, from live traffic.'),
      active: object<ActiveHealthcheckConfig>({
        http_path: format('path', 'a path starting with /', (text) => (/^\/[\x21-\x7e]*$/.test(text) ? text : undefined))
          .default('/')
          .doc('Path probed with GET on every target (the target URL\'s own path is not prepended).'),
        interval: millis(0).default('0s').doc('Time between probes of each target; `0` turns active checks off.'),
        timeout: millis(1).default('1s').doc('Time a probe may take; longer counts as a failure.'),
        healthy_successes: int(1).default(2).doc('Consecutive good probes that bring a target taken out back into rotation.'),
        unhealthy_failures: int(1).default(3).doc('Consecutive failed probes (no connection, timeout, or an `unhealthy_statuses` answer) that take a target out.'),
        unhealthy_statuses: list(int(100, 599))
          .default([500, 502, 503, 504])
          .doc('Probe answers that count as failures; any other status counts as good.'),
      })
        .default({})
        .doc("Probe targets in the background (Kong's active health checks): a target that fails its probes gets no traffic until it passes again."),
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
    const https = (value.targets ?? [value.url!]).some((url) => url.startsWith('https:'));
    if (!https) {
      // TLS settings with nothing to apply them to are a mistake, not a no-op
      const tlsKey = value.ca_certificates !== undefined ? 'ca_certificates' : value.client_certificate !== undefined ? 'client_certificate' : value.tls_verify === false ? 'tls_verify' : undefined;
      if (tlsKey !== undefined) throw new ConfigError(keyPath(path, tlsKey), 'only applies to https targets', { expected: 'an https url or targets' });
    }
  },
);

/**
 * A credential's unknown key is named with the expected ones, as everywhere else in the file;
 * an unknown credential type, and the values, are checked by the gateway (gateway/consumers.ts).
 */
function checkCredentialKeys(consumer: ConsumerConfig, path: string): void {
  for (const [type, entries] of Object.entries(consumer.credentials)) {
    if (!Object.hasOwn(CREDENTIAL_FIELDS, type)) continue;
    const fields = CREDENTIAL_FIELDS[type]!;
    entries.forEach((entry, index) => {
      const unknown = Object.keys(entry).find((key) => !fields.includes(key));
      if (unknown === undefined) return;
      const expected = `one of: ${fields.join(', ')}`;
      throw new ConfigError(keyPath(keyPath(keyPath(keyPath(path, 'credentials'), type), index), unknown), `unknown key (expected ${expected})`, { expected });
    });
  }
}

const consumer = object<ConsumerConfig>(
  {
    username: str().doc('Consumer name; unique; the internal token\'s `consumer` claim.'),
    groups: list(str()).default([]).doc('Groups, for ACLs and the internal token\'s `groups` claim.'),
    custom_id: format('custom id', CONSUMER_CUSTOM_ID_RULE, (text) => (customIdProblem(text) === undefined ? text : undefined))
      .optional()
      .doc("Your own id for the consumer (Kong's `custom_id`); unique; sent upstream as `X-Consumer-Custom-ID`."),
    tags: list(format('tag', CONSUMER_TAG_RULE, (text) => (isTag(text) ? text : undefined)))
      .optional()
      .doc("Labels (Kong's `tags`): admin API `GET /consumers?tags=a,b` (all) or `a/b` (any) filters by them."),
    credentials: mapOf(list(record()), 'plugin')
      .default({})
      .sensitive()
      .doc('Credentials per auth plugin, e.g. `key-auth: [{ key: … }]`.'),
  },
  checkCredentialKeys,
);

export const gateway = object<GatewayConfig>(
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
        'Client headers removed before proxying, besides `X-Consumer-*`, `X-Userinfo`, `X-Drawbridge-*`, `X-Credential-*`, `X-Authenticated-*` (a trailing `*` is a prefix). `_` counts as `-`: `X_Consumer_Id` goes too (CGI-style servers read both as one).',
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
    admin_token: str()
      .optional()
      .sensitive()
      .doc(`Bearer token for the admin API; required with \`admin_listen\`, at least ${MIN_ADMIN_TOKEN_LENGTH} characters when that is not a loopback address.`),
    internal_token_ttl: duration(1).default('60s').doc('Lifetime of the internal JWT sent upstream.'),
    services: list(service, { uniqueBy: 'name' }).default([]).doc('Upstream services.'),
    consumers: list(consumer, { uniqueBy: 'username' }).default([]).doc('API consumers and their credentials.'),
    plugins: list(plugin).default([]).doc('Global plugins, run for every route.'),
  },
  function checkGateway(value, path) {
    if (value.admin_listen !== undefined && value.admin_token === undefined) {
      throw new ConfigError(keyPath(path, 'admin_token'), 'required when admin_listen is set');
    }
    if (value.admin_listen !== undefined) {
      const problem = adminTokenProblem(value.admin_listen, value.admin_token!);
      if (problem !== undefined) throw new ConfigError(keyPath(path, 'admin_token'), problem, { expected: `at least ${MIN_ADMIN_TOKEN_LENGTH} characters` });
    }
    checkRouteIds(value, path);
    checkConsumerCustomIds(value, path);
  },
);

/**
 * Why `token` is too weak for an admin listener on `listen`, or undefined. Any token will do on
 * a loopback address; elsewhere it needs MIN_ADMIN_TOKEN_LENGTH characters (`admin_token: "a"`
 * on 0.0.0.0 used to validate).
 */
export function adminTokenProblem(listen: string, token: string): string | undefined {
  if (isLoopbackHost(listenHost(listen)) || token.length >= MIN_ADMIN_TOKEN_LENGTH) return undefined;
  return `expected at least ${MIN_ADMIN_TOKEN_LENGTH} characters, got ${token.length}: gateway.admin_listen ${listen} is not a loopback address (use a long random token, e.g. openssl rand -hex 32, or listen on 127.0.0.1)`;
}

/** custom_id is unique when set (the database's unique index would refuse the second at start). */
function checkConsumerCustomIds(gateway: GatewayConfig, path: string): void {
  const seen = new Map<string, number>();
  gateway.consumers.forEach((c, i) => {
    if (c.custom_id === undefined) return;
    const first = seen.get(c.custom_id);
    const consumers = keyPath(path, 'consumers');
    if (first !== undefined) throw new ConfigError(keyPath(keyPath(consumers, i), 'custom_id'), `duplicate custom_id ${show(c.custom_id)} (already used by ${keyPath(consumers, first)})`);
    seen.set(c.custom_id, i);
  });
}

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
