// `jwt`: bearer JWTs from trusted issuers (`issuers: [{ issuer, jwks_uri | keys,
// algorithms, typ }]`), checked for the JOSE header `typ` (default `at+jwt`, RFC 9068: an ID
// token or a logout token is no access token), `iss`, `exp`, `nbf` and `iat` with `leeway`, `aud` (`audience`;
// without it, tokens of our own issuer must name the issuer or the route's service:
// ./audience.ts) and `required_scopes`. Verification runs on node:crypto KeyObjects prepared once per
// JWK, and a verified token is remembered (keyed digest → identity) until it expires or
// `cache_ttl` passes, whichever is first. Only asymmetric algorithms exist here: `none`
// and HMAC (algorithm confusion with a public key) cannot be expressed.
//
// A bearer token that is not a JWS (three segments) is not ours: we skip it, so an
// introspection authenticator on the same route can take opaque tokens.
// Challenges (RFC 6750): `Bearer realm="drawbridge"`; with a rejected token,
// `Bearer realm="drawbridge", error="invalid_token", error_description="…"`.
import {
  bool,
  ConfigError,
  duration,
  format,
  keyPath,
  list,
  object,
  oneOf,
  record,
  str,
} from '../../config/schema.js';
import { insufficientScope, invalidBearer, malformedBearer, serviceUnavailable } from '../errors.js';
import {
  SKIP,
  type Authenticator,
  type AuthnResult,
  type EventBus,
  type GatewayDeps,
  type GatewayRequest,
  type PluginFactory,
  type PluginInstance,
} from '../types.js';
import { audienceField, audiencesOf, configuredAudience, ownIssuerAudience, sameIssuer, type AudienceRule } from './audience.js';
import { authnShared } from './cache.js';
import { authParam, DEFAULT_REALM, headerValue, instanceNamespace, isB64Token, queryValues, realmField, stripCookie } from './common.js';
import { ALL_JWT_ALGS, type JwtAlg, type PreparedKey } from './jwt/algorithms.js';
import { identityOf, tagsOf } from './jwt/claims.js';
import { fromCookie, type FoundToken } from './jwt/cookie.js';
import { KeySet, prepareJwk, RemoteKeySource, staticKeySource, type KeySource } from './jwt/jwks.js';
import { looksLikeJwt, verifyJwt, type TrustedIssuer } from './jwt/verify.js';

interface JwtIssuerConfig {
  issuer: string;
  jwks_uri?: string;
  keys?: Array<Record<string, unknown>>;
  algorithms: JwtAlg[];
  typ: string[];
}

interface JwtConfig {
  issuers: JwtIssuerConfig[];
  audience?: string[];
  required_scopes: string[];
  leeway: number;
  realm: string;
  cookie_names: string[];
  uri_param_names: string[];
  hide_credentials: boolean;
  cache_ttl: number;
  jwks_refetch_interval: number;
  jwks_cache_ttl: number;
  anonymous?: string;
}

const jwksUri = format('URL', 'an absolute http(s) URL', (text) => (/^https?:\/\/[^/\s]+/i.test(text) ? text : undefined));

// RFC 6838 §4.2 restricted-name, optionally after a type and '/': `at+jwt`, `JWT`, `application/jwt`
const MEDIA_NAME = '[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}';
const TYP = new RegExp(`^(?:${MEDIA_NAME}/)?${MEDIA_NAME}$`);
const typValue = format('media type', 'a media type such as at+jwt or JWT (no parameters)', (text) => (TYP.test(text) ? text : undefined));

/**
 * A `typ` as RFC 7515 §4.1.9 compares it: case-insensitively, `application/` implied when
 * there is no '/'. So `at+jwt`, `AT+JWT` and `application/at+jwt` are one value.
 */
function normalTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

const issuerSchema = object<JwtIssuerConfig>(
  {
    issuer: str().doc('The exact `iss` of its tokens.'),
    jwks_uri: jwksUri.optional().doc('Where its public keys are published (JWKS).'),
    keys: list(record(), { min: 1 }).optional().doc('Its public keys inline (JWK objects), instead of `jwks_uri`.'),
    algorithms: list(oneOf(ALL_JWT_ALGS), { min: 1 })
      .default(ALL_JWT_ALGS)
      .doc('Accepted JWS algorithms (asymmetric only; `none` and HS* do not exist here).'),
    typ: list(typValue, { min: 1 })
      .default(['at+jwt'])
      .doc(
        'Accepted JOSE header `typ` values, compared case-insensitively with or without `application/` (RFC 7515 §4.1.9); a token without `typ` counts as `JWT`. The default takes RFC 9068 access tokens only (Drawbridge\'s own), so an ID token or a logout token is refused. An issuer whose access tokens are typed `JWT` or not at all (Keycloak, older Auth0, most others before RFC 9068) needs `typ: [JWT]`. Any other typ: 401 invalid_token.',
      ),
  },
  function checkIssuer(value, path) {
    if (value.jwks_uri === undefined && value.keys === undefined) {
      throw new ConfigError(keyPath(path, 'jwks_uri'), 'required unless keys is set', { expected: 'exactly one of jwks_uri or keys' });
    }
    if (value.jwks_uri !== undefined && value.keys !== undefined) {
      throw new ConfigError(keyPath(path, 'keys'), 'not allowed together with jwks_uri');
    }
  },
);

const PARAM_NAME = /^[A-Za-z0-9_.~-]+$/;
const paramName = format('name', 'a cookie or parameter name', (text) => (PARAM_NAME.test(text) ? text : undefined));

export const jwtConfigSchema = object<JwtConfig>({
  issuers: list(issuerSchema, { min: 1, uniqueBy: 'issuer' }).doc('Trusted token issuers.'),
  audience: audienceField(
    'Accepted `aud` values (any one suffices; a token without `aud` is refused). Absent: tokens of the issuer named by the top-level `issuer` (Drawbridge\'s own) must have the issuer or the route\'s service name in `aud`; other issuers\' `aud` is not checked.',
  ),
  required_scopes: list(str()).default([]).doc('Scopes every token must carry (else 403 insufficient_scope).'),
  leeway: duration().default('30s').doc('Clock tolerance for `exp`, `nbf` and `iat` (a token issued later than now plus the leeway is refused).'),
  realm: realmField.default(DEFAULT_REALM).doc('Realm of the `Bearer` challenge.'),
  cookie_names: list(paramName).default([]).doc('Cookies that may carry the token (after the Authorization header).'),
  uri_param_names: list(paramName).default([]).doc('Query parameters that may carry the token.'),
  hide_credentials: bool().default(true).doc('Remove the token (header, parameter or cookie) before proxying.'),
  cache_ttl: duration().default('5m').doc('Longest a verified token is remembered (never past its `exp`).'),
  jwks_refetch_interval: duration(1).default('60s').doc('Least time between JWKS refetches caused by an unknown `kid`.'),
  jwks_cache_ttl: duration(1).default('10m').doc('Age after which a JWKS is refreshed in the background.'),
  anonymous: str().optional().doc('Consumer to proceed as when no credential is presented.'),
});

export const jwt: PluginFactory = {
  name: 'jwt',
  create: function createJwt(config, deps, path): PluginInstance {
    const settings = jwtConfigSchema.parse(config, path);
    const issuers = buildIssuers(settings, deps, keyPath(path, 'issuers'));
    return { stage: 'authenticate', impl: jwtAuthenticator(settings, issuers, deps) };
  },
};

/** Issuers with their key sources: inline keys prepared now (a bad one is a config error), remote sets prefetched. */
function buildIssuers(settings: JwtConfig, deps: GatewayDeps, path: string): Map<string, TrustedIssuer> {
  const issuers = new Map<string, TrustedIssuer>();
  settings.issuers.forEach((cfg, index) => {
    const at = keyPath(path, index);
    let keys: KeySource;
    if (cfg.keys !== undefined) {
      const prepared: PreparedKey[] = cfg.keys.map((jwk, k) => {
        const key = prepareJwk(jwk);
        if (typeof key === 'string') throw new ConfigError(keyPath(keyPath(at, 'keys'), k), key);
        return key;
      });
      keys = staticKeySource(new KeySet(prepared));
    } else {
      keys = remoteKeys(cfg.jwks_uri!, settings, deps);
    }
    issuers.set(cfg.issuer, { issuer: cfg.issuer, algorithms: new Set(cfg.algorithms), keys });
  });
  return issuers;
}

/** Each issuer's accepted `typ` values, normalized (normalTyp) once here. */
function typRules(settings: JwtConfig): Map<string, ReadonlySet<string>> {
  return new Map(settings.issuers.map((cfg) => [cfg.issuer, new Set(cfg.typ.map(normalTyp))]));
}

/** Whether the token's `typ` header is one the issuer's tokens may have; none counts as JWT (RFC 7519 §5.1). */
function typAccepted(typ: unknown, accepted: ReadonlySet<string> | undefined): boolean {
  if (accepted === undefined) return false;
  if (typ === undefined) return accepted.has('jwt');
  return typeof typ === 'string' && accepted.has(normalTyp(typ));
}

const remoteSources = new WeakMap<EventBus, Map<string, RemoteKeySource>>();

/**
 * One fetched key set per JWKS URI (and refetch settings) per gateway: routes that trust
 * the same issuer share it, and a reload keeps it rather than fetching again.
 */
function remoteKeys(uri: string, settings: JwtConfig, deps: GatewayDeps): RemoteKeySource {
  let sources = remoteSources.get(deps.events);
  if (sources === undefined) {
    sources = new Map();
    remoteSources.set(deps.events, sources);
  }
  const key = `${uri}\n${settings.jwks_refetch_interval}\n${settings.jwks_cache_ttl}`;
  let source = sources.get(key);
  if (source === undefined) {
    source = new RemoteKeySource({
      uri,
      clock: deps.clock,
      logger: deps.logger,
      refetchInterval: settings.jwks_refetch_interval,
      cacheTtl: settings.jwks_cache_ttl,
    });
    source.prefetch();
    sources.set(key, source);
  }
  return source;
}

/** What the cache holds for a verified token. */
interface Verified {
  ok: AuthnResult;
  rule: AudienceRule | undefined;
  aud: readonly string[];
}

/**
 * The audience rule of each trusted issuer (./audience.ts): the configured `audience` for
 * all; without one, the default for our own issuer (`ownIssuer`, the top-level `issuer`)
 * and no check for the others.
 */
function audienceRules(settings: JwtConfig, issuers: ReadonlyMap<string, TrustedIssuer>, ownIssuer: string): Map<string, AudienceRule> {
  const rules = new Map<string, AudienceRule>();
  const configured = settings.audience === undefined ? undefined : configuredAudience(settings.audience, settings.realm);
  for (const name of issuers.keys()) {
    if (configured !== undefined) rules.set(name, configured);
    else if (sameIssuer(name, ownIssuer)) rules.set(name, ownIssuerAudience(ownIssuer, settings.realm));
  }
  return rules;
}

function jwtAuthenticator(settings: JwtConfig, issuers: ReadonlyMap<string, TrustedIssuer>, deps: GatewayDeps): Authenticator {
  const { cache, digester, revocations } = authnShared(deps);
  const namespace = instanceNamespace('jwt');
  const realm = settings.realm;
  const challenge = `Bearer realm="${realm}"`;
  const audience = audienceRules(settings, issuers, deps.issuer);
  const typs = typRules(settings);
  const required = settings.required_scopes;
  const hideCredentials = settings.hide_credentials;
  const { leeway, cache_ttl: cacheTtl, cookie_names: cookieNames, uri_param_names: paramNames } = settings;
  const clock = deps.clock;

  function hideHeader(gr: GatewayRequest): void {
    gr.stripHeaders.add('authorization');
  }

  /** Every place a token may be: for when another authenticator decided. */
  function hideEverywhere(gr: GatewayRequest): void {
    gr.stripHeaders.add('authorization');
    for (const name of paramNames) gr.stripQuery.add(name);
    for (const name of cookieNames) stripCookie(gr, name);
  }

  /** The token and how to hide it; undefined when the request carries none. */
  function findToken(gr: GatewayRequest): FoundToken | string | undefined {
    const header = authParam(headerValue(gr.req.headers, 'authorization'), 'bearer');
    if (header !== undefined) return { token: header, hide: hideHeader };
    if (paramNames.length > 0 && gr.query !== '') {
      for (const name of paramNames) {
        const values = queryValues(gr.query, name);
        if (values !== null && values.length === 0) continue;
        const hide = (r: GatewayRequest) => r.stripQuery.add(name);
        if (values === null || values.length > 1) return 'malformed token';
        return { token: values[0]!, hide };
      }
    }
    if (cookieNames.length > 0) {
      const cookie = headerValue(gr.req.headers, 'cookie');
      if (cookie !== undefined) return fromCookie(cookie, cookieNames);
    }
    return undefined;
  }

  /** A cached verification: the result, and when its issuer has an audience rule, the token's `aud` to check per route. */
  function fromCache(entry: Verified, gr: GatewayRequest): AuthnResult {
    return entry.rule === undefined ? entry.ok : (entry.rule.check(entry.aud, gr) ?? entry.ok);
  }

  async function verify(token: string, cacheKey: string, gr: GatewayRequest): Promise<AuthnResult> {
    const now = clock.now();
    // `aud` is checked below, per route: the default rule depends on the route's service
    const verified = await verifyJwt(token, issuers, { leeway, now });
    if (!verified.ok) {
      if (verified.unavailable) return { kind: 'fail', error: serviceUnavailable('the token issuer\'s keys are unavailable') };
      return { kind: 'fail', error: invalidBearer(verified.problem, realm) };
    }
    const payload = verified.payload;
    // RFC 8725 §3.11: explicit typing, so a token made for another purpose (an ID token, a logout
    // token) is never taken for an access token; the value is not echoed (it is the caller's)
    if (!typAccepted(verified.header.typ, typs.get(payload.iss as string))) return { kind: 'fail', error: invalidBearer('token type (typ) not accepted', realm) };
    // as the SDK: jose checks `iat` only with a maximum age, but a token from the future is as wrong
    // as an expired one (a skewed or compromised issuer clock, a pre-minted token), and its `iat`
    // would also pass revocations of everything issued before a given time
    if (typeof payload.iat === 'number' && payload.iat > now + leeway) return { kind: 'fail', error: invalidBearer('token issued in the future', realm) };
    const rule = audience.get(payload.iss as string);
    const aud = audiencesOf(payload.aud);
    const refused = rule?.check(aud, gr);
    if (refused !== undefined) return refused;
    const tags = tagsOf(payload);
    const iat = typeof payload.iat === 'number' ? payload.iat : undefined;
    if (revocations.isRevoked(tags, iat)) return { kind: 'fail', error: invalidBearer('token revoked', realm) };
    const identity = identityOf(payload, digester.digest('jwt-credential', token));
    if (identity === undefined) return { kind: 'fail', error: invalidBearer('token has no subject', realm) };
    if (required.length > 0 && !required.every((scope) => identity.scope.includes(scope))) {
      return { kind: 'fail', error: insufficientScope(required, realm) };
    }
    const ok: AuthnResult = Object.freeze({ kind: 'ok', identity });
    // never past the token's own expiry; not at all during the leeway after it
    if (cacheTtl > 0) cache.set(cacheKey, Object.freeze<Verified>({ ok, rule, aud }), Math.min(now + cacheTtl, payload.exp as number), tags);
    return ok;
  }

  return {
    name: 'jwt',
    challenge,
    hide: hideCredentials ? hideEverywhere : undefined,
    authenticate: function authenticateJwt(gr: GatewayRequest): AuthnResult | Promise<AuthnResult> {
      const found = findToken(gr);
      if (found === undefined) return SKIP;
      if (typeof found === 'string') return { kind: 'fail', error: invalidBearer(found, realm) };
      // RFC 6750 §2.1: an Authorization value that is no b64token is a malformed request (400).
      // Tested only where the answer is not already known: a cached token passed it when verified.
      const fromHeader = found.hide === hideHeader;
      // an opaque token is for another authenticator (introspection); leave it untouched
      if (!looksLikeJwt(found.token)) return fromHeader && !isB64Token(found.token) ? { kind: 'fail', error: malformedBearer(realm) } : SKIP;
      if (hideCredentials) found.hide(gr);
      const cacheKey = digester.cacheKey(namespace, found.token);
      const cached = cache.get<Verified>(cacheKey);
      if (cached !== undefined) return fromCache(cached, gr);
      if (fromHeader && !isB64Token(found.token)) return { kind: 'fail', error: malformedBearer(realm) };
      return verify(found.token, cacheKey, gr);
    },
  };
}
