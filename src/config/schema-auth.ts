// The `auth` section of the Config schema (schema.ts): clients, users, password policy,
// brute-force guard, SSO sessions, audit and the authorization server's own settings.
import type {
  AccessTokenFormat,
  AuthConfig,
  SsoSessionsConfig,
  AuditConfig,
  BackchannelLogoutConfig,
  BrandingConfig,
  BruteForceConfig,
  ClientAuthMethod,
  ClientConfig,
  GrantType,
  JwkSet,
  PasswordPolicyConfig,
  SigningAlg,
  TlsConfig,
  UserConfig,
} from './types.js';
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { ConfigError, Field, keyPath, str, oneOf, int, bool, duration, size, record, list, object, show, leaf, isPlainObject, mismatch } from './fields.js';
import { REQUEST_OBJECT_ALGS } from '../crypto/algorithms.js';
import { audience, clientId, httpUrl, listen, scope, redirectUri, backchannelUri, sha256Hex, argon2idHash, hexColor, logoUrl } from './formats.js';

/** The scope that lets a client introspect tokens issued to other clients (RFC 7662 §4; auth/endpoints/introspect.ts). */
export const INTROSPECT_SCOPE = 'introspect';

export const SIGNING_ALGS: SigningAlg[] = ['ES256', 'RS256', 'EdDSA'];
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

export const tls = object<TlsConfig>({
  cert: str().doc('PEM file with the certificate chain.'),
  key: str().doc('PEM file with the private key.'),
});

/** The shortest RSA modulus a client key may have (RFC 7518 §3.3: 2048 bits or larger). */
const MIN_RSA_BITS = 2048;

/** JWK members of a private key (RFC 7518 §6.2.2, §6.3.2) or a symmetric one (§6.4.1). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * A client's public key for private_key_jwt: an asymmetric JWK that node:crypto can import,
 * without private members. Anything else was stored and only failed at the client's first
 * assertion (an opaque invalid_client), and a private key given by mistake was kept.
 */
const publicJwk = leaf<Record<string, unknown>>('JWK', 'a public JWK (kty EC, RSA or OKP)', function parsePublicJwk(raw, path, sensitive) {
  if (!isPlainObject(raw)) throw mismatch(path, 'a public JWK (kty EC, RSA or OKP)', raw, sensitive);
  const secret = PRIVATE_JWK_MEMBERS.find((member) => Object.hasOwn(raw, member));
  // the value is never shown: it is key material
  if (secret !== undefined) throw new ConfigError(keyPath(path, secret), 'a private key member: give the public key only (the client keeps its private key)');
  if (raw.kty !== 'EC' && raw.kty !== 'RSA' && raw.kty !== 'OKP') throw new ConfigError(keyPath(path, 'kty'), `expected "EC", "RSA" or "OKP" (client assertions are signed with an asymmetric key), got ${show(raw.kty)}`);
  let key;
  try {
    key = createPublicKey({ key: raw as JsonWebKey, format: 'jwk' });
  } catch {
    throw new ConfigError(path, `not a usable ${raw.kty} public key (check its members: crv, x, y or n, e)`);
  }
  // what verifying will demand (jose refuses shorter RSA keys): said now, not as an opaque
  // invalid_client at the client's first assertion
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (raw.kty === 'RSA' && (bits ?? 0) < MIN_RSA_BITS) {
    throw new ConfigError(keyPath(path, 'n'), `expected an RSA key of at least ${MIN_RSA_BITS} bits, got ${bits ?? 0}`);
  }
  return raw;
});

const jwks = object<JwkSet>({
  keys: list(publicJwk, { min: 1 }).doc('The public keys (JWK objects: kty EC, RSA of 2048 bits or more, or OKP; no private members).'),
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
  if (client.request_object_signing_alg !== undefined && !hasKeys(client)) {
    throw new ConfigError(at('request_object_signing_alg'), 'request objects are verified with the client\'s keys: needs jwks or jwks_uri');
  }
  if (client.require_signed_request_object === true && !hasKeys(client)) {
    throw new ConfigError(at('require_signed_request_object'), 'request objects are verified with the client\'s keys: needs jwks or jwks_uri (without them it could never send one)');
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
  // RFC 9700 §2.1.1: public clients MUST use PKCE; only a client that authenticates may be let off
  if (client.require_pkce === false && method === 'none') {
    throw new ConfigError(at('require_pkce'), 'false is only allowed for confidential clients (a public client must use PKCE)');
  }
  const outside = (client.default_scopes ?? []).findIndex((name) => !client.scopes.includes(name));
  if (outside >= 0) {
    const problem = `${show(client.default_scopes![outside])} is not one of the client's scopes`;
    throw new ConfigError(keyPath(at('default_scopes'), outside), problem);
  }
}

const client = object<ClientConfig>(
  {
    client_id: clientId.doc('Identifier the client authenticates with; unique among clients; at most 256 characters, no control characters.'),
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
      .doc('Allowed redirect URIs, compared exactly (only the port of a loopback IP URI such as `http://127.0.0.1/cb` may vary, and only for a public client, i.e. a native app: RFC 8252 §7.3; a confidential client\'s must match port and all); required for `authorization_code` and `implicit`.'),
    grant_types: list(oneOf(GRANT_TYPES), { min: 1 })
      .derive<ClientConfig>('`[client_credentials]` with a secret or keys, else `[authorization_code, refresh_token]`', (c) =>
        hasSecret(c) || hasKeys(c) ? ['client_credentials'] : ['authorization_code', 'refresh_token'],
      )
      .doc('Grant types the client may use.'),
    scopes: list(scope).default([]).doc('Scopes the client may request. `introspect` also lets it introspect tokens issued to other clients (the gateway\'s `oauth2-introspection` client needs it); without it, only tokens issued to it or whose `aud` names it (others: `{"active": false}`).'),
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
    audiences: list(audience).optional().doc('Targets the client may ask for: resource indicators (RFC 8707 `resource`) and service names (`audience` at client_credentials and token exchange); absent: any. A value that starts with a URI scheme and `:` is a resource indicator and must be an absolute URI as RFC 3986 writes it, without a fragment (as the token endpoint takes `resource`: percent-encode a space, `{`, `|` and the like). A request that names none gets these as the token\'s `aud` (absent or empty: the issuer).'),
    consent: oneOf(['ask', 'skip'] as const)
      .optional()
      .doc('`skip`: a first-party client whose users are never shown the consent page; absent: `ask`.'),
    mfa: oneOf(['optional', 'required'] as const)
      .optional()
      .doc('`required`: everyone signing in to this client uses TOTP (users without it enrol during sign-in; a password-only SSO session is stepped up); absent: `optional` (per-user requirement only).'),
    require_pkce: bool()
      .optional()
      .doc('`false`: this confidential client may use the code flow without PKCE (server-side RPs that send no `code_challenge`; one it does send is still checked, S256 only), and then OpenID requests without a challenge must carry `nonce`; not allowed for public clients (RFC 9700 §2.1.1); absent: `true`.'),
    require_pushed_authorization_requests: bool()
      .optional()
      .doc('`true`: this client\'s authorization requests are accepted only through the pushed authorization request endpoint `/oauth2/par` (RFC 9126 client metadata); absent: `false` (unless `auth.require_pushed_authorization_requests`).'),
    post_logout_redirect_uris: list(redirectUri)
      .default([])
      .doc('Where RP-initiated logout (`end_session_endpoint`) may send the browser afterwards, compared exactly.'),
    backchannel_logout_uri: backchannelUri
      .optional()
      .doc('OIDC Back-Channel Logout: where a signed logout token is POSTed when a session the client received tokens in ends (https, or http on a loopback host).'),
    id_token_signed_response_alg: oneOf(SIGNING_ALGS)
      .optional()
      .doc('Algorithm of this client\'s ID tokens and back-channel logout tokens (OIDC Dynamic Client Registration metadata); one of `keys.id_token_algorithms`; absent: the first of those.'),
    request_object_signing_alg: oneOf(REQUEST_OBJECT_ALGS)
      .optional()
      .doc('The only algorithm accepted on this client\'s request objects (`request` at `/oauth2/authorize` and `/oauth2/par`, RFC 9101; OIDC Dynamic Client Registration metadata), verified with its `jwks`/`jwks_uri`; absent: any of those advertised in discovery (`request_object_signing_alg_values_supported`: asymmetric only).'),
    require_signed_request_object: bool()
      .optional()
      .doc('`true`: this client\'s authorization requests are accepted only as a signed request object (`request` at `/oauth2/authorize`, or pushed to `/oauth2/par`; RFC 9101 §10.5, OIDC Dynamic Client Registration metadata); a plain request is refused with `invalid_request`; needs `jwks`/`jwks_uri`; absent: `false`.'),
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

/** A back-channel logout delivery is given up when a day old (auth/logout/backchannel.ts MAX_DELIVERY_AGE). */
const BACKCHANNEL_MAX_AGE = 24 * 3600;
/** Retries a schedule may list: enough for one every 15 minutes for a day. */
const BACKCHANNEL_MAX_RETRIES = 100;

/** 86398 → `23h59m58s` (zero parts left out). */
function hms(seconds: number): string {
  const parts: Array<[number, string]> = [[Math.floor(seconds / 3600), 'h'], [Math.floor(seconds / 60) % 60, 'm'], [seconds % 60, 's']];
  return parts.filter(([n]) => n > 0).map(([n, unit]) => `${n}${unit}`).join('') || '0s';
}

const retryDelayList = list(duration(1), { min: 1 });

/**
 * The retry schedule, refused where a retry could never be sent. The sender (backchannel.ts
 * attemptDelivery) waits each delay and a second (its clock counts whole seconds), and gives a
 * delivery up, unsent, once its next retry would come MAX_DELIVERY_AGE or more after the
 * logout: retry n comes at the earliest (delay 1 + 1) + … + (delay n + 1) seconds after it,
 * should every attempt fail at once, and that must stay under a day.
 */
const retrySchedule = new Field<number[]>({
  ...retryDelayList.spec,
  parse: function parseRetrySchedule(raw, path, sensitive) {
    const delays = retryDelayList.parse(raw, path, sensitive);
    if (delays.length > BACKCHANNEL_MAX_RETRIES) {
      throw new ConfigError(path, `expected at most ${BACKCHANNEL_MAX_RETRIES} item(s), got ${delays.length}`);
    }
    let before = 0; // when the previous retry comes at the earliest, in seconds after the logout
    delays.forEach((delay, i) => {
      const at = before + delay + 1;
      if (at < BACKCHANNEL_MAX_AGE) {
        before = at;
        return;
      }
      const got = show((raw as unknown[])[i]);
      const most = BACKCHANNEL_MAX_AGE - 2 - before;
      if (most < 1) {
        throw new ConfigError(
          keyPath(path, i),
          `expected no retry ${i + 1}: retry ${i} comes ${before}s after the logout at the earliest, so any further retry would come a day (${BACKCHANNEL_MAX_AGE}s) after the logout or later, when a delivery is given up unsent (remove this delay and any after it); got ${got}`,
          { expected: 'no further retry' },
        );
      }
      const expected = `at most ${most}s${most >= 60 ? ` (${hms(most)})` : ''} here`;
      throw new ConfigError(
        keyPath(path, i),
        `expected ${expected}: with it, retry ${i + 1} would come ${at}s after the logout at the earliest (the delays up to it, and a second each), a day after the logout or later, when a delivery is given up unsent; got ${got}`,
        { expected },
      );
    });
    return delays;
  },
});

const backchannelLogout = object<BackchannelLogoutConfig>({
  retry_delays: retrySchedule
    .optional()
    .doc(
      'How long a failed delivery waits before retry 1, 2, … (durations; a number is seconds), at most 100; after the last one it is given up. Each wait is its delay and a second, and a delivery is given up when a day old, so the waits up to any retry must add up to less than a day (one retry: at most `86398`); a schedule with a retry that could never be sent is refused. Absent: `1s, 5s, 25s, 2m, 10m, 30m`, then `1h` while within that day (29 retries), enough to outlast a relying party\'s deploy or an outage of hours.',
    ),
});

export const auth = object<AuthConfig>({
  listen: listen.default('127.0.0.1:9000').doc('Address the auth server listens on.'),
  tls: tls.optional().doc('Serve HTTPS with this certificate; absent: plain HTTP (behind a TLS proxy).'),
  access_token_ttl: duration(1).default('10m').doc('Lifetime of access tokens.'),
  refresh_token_ttl: duration(1).default('30d').doc('Lifetime of refresh tokens.'),
  refresh_token_idle_ttl: duration(1)
    .default('7d')
    .doc('A refresh token unused for this long is dead (each use rotates it and starts the period anew).'),
  refresh_grace_period: duration(0)
    .default('10s')
    .doc('After a refresh, repeats of the old token within this period get the same new pair (concurrent refreshes) while neither of its tokens has been used or revoked, else `invalid_grant` with the family left alone; later repeats revoke the family.'),
  introspection_jwt_ttl: duration(1).default('60s').doc('Lifetime of JWT introspection responses (RFC 9701).'),
  max_body_size: size(1).default('64kb').doc('Largest accepted request body.'),
  require_pushed_authorization_requests: bool()
    .default(false)
    .doc('Accept authorization requests only through the pushed authorization request endpoint `/oauth2/par` (RFC 9126); advertised in discovery.'),
  client_auth_throttle: object<AuthConfig['client_auth_throttle']>({
    max_failures: int(1)
      .default(10)
      .doc('Failed client authentications allowed per client that authenticates with a secret (client_secret_basic, client_secret_post; private_key_jwt and public clients count per IP only)…'),
    max_failures_per_ip: int(1)
      .default(100)
      .doc('…and per client IP (higher: many clients may share one address behind a NAT or proxy, and one client guessing must not lock out the others)…'),
    window: duration(1).default('60s').doc('…within this window; then 429 with Retry-After.'),
  })
    .default({})
    .doc('Slows down guessing of client secrets.'),
  clients: list(client, { uniqueBy: 'client_id' })
    .default([])
    .doc(
      'OAuth clients, applied at start and on SIGHUP; one removed from this list is deleted then, with its tokens and those other clients exchanged from them revoked.',
    ),
  users: list(user, { uniqueBy: 'username' })
    .default([])
    .doc('Users who can log in on the login page, applied at start and on SIGHUP; one removed from this list is deleted then, its tokens revoked and its SSO sessions ended.'),
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
  backchannel_logout: backchannelLogout
    .optional()
    .doc('OIDC Back-Channel Logout (clients\' `backchannel_logout_uri`): how failed deliveries are retried; absent: the defaults below. Applied at start, not on SIGHUP.'),
});
