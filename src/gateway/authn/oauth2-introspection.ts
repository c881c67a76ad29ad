// `oauth2-introspection`: the phantom-token authenticator. An opaque bearer token is
// exchanged at the issuer's introspection endpoint (RFC 7662; with `jwt_response`, a signed
// RFC 9701 response) for who is calling; the mutate stage then mints the internal JWT
// (ARCHITECTURE §5), so the opaque token never reaches upstream and any RFC 7662 server works.
//
// The hot path never calls the auth server per request: answers are cached under a keyed
// digest of the token until the earlier of its `exp` and `max_cache_ttl`, inactive ones for
// `negative_cache_ttl`, and concurrent misses for one token share one call. Entries are also
// tagged with the plain SHA-256 digest the auth server stores, so its `token.revoked`
// events (and `user.revoked`, `client.revoked`) evict them on every instance; after the
// event subscription was lost (`events.resumed`) the whole cache is dropped.
//
// The answer's `aud` is checked per route (./audience.ts): against `audience`, or, when the
// issuer is Drawbridge's own (the top-level `issuer`) and none is configured, against the
// issuer and the route's service name; a foreign issuer's tokens without `audience`, not at all.
//
// Bearer tokens that are JWTs (three segments) are the `jwt` plugin's: skipped.
import { sha256Base64url } from '../../core/crypto-util.js';
import { bool, ConfigError, duration, format, keyPath, list, object, oneOf, str } from '../../config/schema.js';
import { insufficientScope, invalidBearer, malformedBearer, serviceUnavailable } from '../errors.js';
import {
  SKIP,
  type Authenticator,
  type AuthnResult,
  type EventBus,
  type GatewayDeps,
  type GatewayRequest,
  type Identity,
  type PluginFactory,
  type PluginInstance,
} from '../types.js';
import { audienceField, audiencesOf, configuredAudience, ownIssuerAudience, sameIssuer, type AudienceRule } from './audience.js';
import { applyEvent, CredentialCache, CredentialDigester, DEFAULT_CACHE_ENTRIES, RevocationList, type AuthnShared, type CacheTags } from './cache.js';
import { authParam, DEFAULT_REALM, headerValue, hideAuthorization, instanceNamespace, isB64Token, realmField } from './common.js';
import { IntrospectionClient, type IntrospectionOutcome } from './introspection/client.js';
import { looksLikeJwt } from './jwt/verify.js';

interface IntrospectionConfig {
  issuer: string;
  client_id: string;
  client_secret: string;
  introspection_endpoint?: string;
  token_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post';
  jwt_response: boolean;
  audience?: string[];
  required_scopes: string[];
  negative_cache_ttl: number;
  max_cache_ttl: number;
  timeout: number;
  realm: string;
  hide_credentials: boolean;
  anonymous?: string;
}

const httpUrl = format('URL', 'an absolute http(s) URL', (text) => (/^https?:\/\/[^/\s]+/i.test(text) ? text.replace(/\/$/, '') : undefined));

export const introspectionConfigSchema = object<IntrospectionConfig>(
  {
    issuer: httpUrl.doc('The authorization server (its discovery names the endpoint and keys).'),
    client_id: str().doc('The gateway\'s client at the issuer (a confidential client allowed to introspect).'),
    client_secret: str().sensitive().doc('Its secret.'),
    introspection_endpoint: httpUrl.optional().doc('Introspection URL; absent: from the issuer\'s discovery.'),
    token_endpoint_auth_method: oneOf(['client_secret_basic', 'client_secret_post'] as const)
      .default('client_secret_basic')
      .doc('How the gateway authenticates to the introspection endpoint.'),
    jwt_response: bool()
      .default(true)
      .doc('Ask for a signed response (RFC 9701) and verify it with the issuer\'s JWKS; false: plain RFC 7662 JSON.'),
    audience: audienceField(
      'Accepted `aud` values of the introspected token (any one suffices; a token without `aud` is refused). Absent: when `issuer` is the top-level `issuer` (Drawbridge\'s own), `aud` must contain the issuer or the route\'s service name; for other issuers `aud` is not checked.',
    ),
    required_scopes: list(str()).default([]).doc('Scopes every token must carry (else 403 insufficient_scope).'),
    negative_cache_ttl: duration().default('5s').doc('How long an inactive token is remembered (0: not at all).'),
    max_cache_ttl: duration().default('5m').doc('Longest an active token is remembered (never past its `exp`; 0: no cache).'),
    timeout: duration(1).default('5s').doc('Timeout of one call to the issuer.'),
    realm: realmField.default(DEFAULT_REALM).doc('Realm of the `Bearer` challenge.'),
    hide_credentials: bool().default(true).doc('Remove the token before proxying.'),
    anonymous: str().optional().doc('Consumer to proceed as when no credential is presented.'),
  },
  function checkIntrospection(value, path) {
    if (value.client_secret === '') throw new ConfigError(keyPath(path, 'client_secret'), 'must not be empty');
  },
);

/** Per gateway (per EventBus): the introspection cache and its event subscription. */
interface IntrospectionShared extends AuthnShared {
  /** bumped by every evicting event: an answer fetched before it must not be cached after it */
  generation: number;
}

const sharedByBus = new WeakMap<EventBus, IntrospectionShared>();

function introspectionShared(deps: GatewayDeps): IntrospectionShared {
  let found = sharedByBus.get(deps.events);
  if (found === undefined) {
    const target: IntrospectionShared = {
      cache: new CredentialCache({ maxEntries: DEFAULT_CACHE_ENTRIES, clock: deps.clock }),
      revocations: new RevocationList(deps.clock),
      digester: new CredentialDigester(deps.secret),
      generation: 0,
    };
    deps.events.subscribe(function onIntrospectionEvent(event) {
      if (event.type === 'credentials.changed' || event.type === 'config.changed') return;
      target.generation++;
      if (event.type === 'events.resumed') target.cache.clear();
      else applyEvent(target, event);
    });
    sharedByBus.set(deps.events, target);
    found = target;
  }
  return found;
}

export const oauth2Introspection: PluginFactory = {
  name: 'oauth2-introspection',
  create: function createIntrospection(config, deps, path): PluginInstance {
    const settings = introspectionConfigSchema.parse(config, path);
    const client = new IntrospectionClient({
      issuer: settings.issuer,
      clientId: settings.client_id,
      clientSecret: settings.client_secret,
      endpoint: settings.introspection_endpoint,
      authMethod: settings.token_endpoint_auth_method,
      jwtResponse: settings.jwt_response,
      timeoutMs: settings.timeout * 1000,
      clock: deps.clock,
      logger: deps.logger,
      events: deps.events,
    });
    client.prefetch();
    return { stage: 'authenticate', impl: introspectionAuthenticator(settings, client, deps) };
  },
};

/** What the cache holds for a token: who it is (and its `aud`), or that it is not active. */
type Cached = { identity: Identity; ok: AuthnResult; aud: readonly string[] } | 'inactive';

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '');
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function introspectionAuthenticator(settings: IntrospectionConfig, client: IntrospectionClient, deps: GatewayDeps): Authenticator {
  const shared = introspectionShared(deps);
  const { cache, digester } = shared;
  const namespace = instanceNamespace('oauth2-introspection');
  const { realm, required_scopes: required, hide_credentials: hideCredentials } = settings;
  const negativeTtl = settings.negative_cache_ttl;
  const maxTtl = settings.max_cache_ttl;
  const clock = deps.clock;
  const inFlight = new Map<string, Promise<Cached | IntrospectionOutcome>>();
  const audience: AudienceRule | undefined =
    settings.audience !== undefined
      ? configuredAudience(settings.audience, realm)
      : sameIssuer(settings.issuer, deps.issuer)
        ? ownIssuerAudience(deps.issuer, realm)
        : undefined;

  function resultOf(cached: Cached, gr: GatewayRequest): AuthnResult {
    if (cached === 'inactive') return { kind: 'fail', error: invalidBearer('token is not active', realm) };
    if (audience !== undefined) {
      const refused = audience.check(cached.aud, gr);
      if (refused !== undefined) return refused;
    }
    if (required.length > 0 && !required.every((s) => cached.identity.scope.includes(s))) {
      return { kind: 'fail', error: insufficientScope(required, realm) };
    }
    return cached.ok;
  }

  /** Maps an RFC 7662 answer to what we cache; `tags` gain what events match on. */
  function interpret(claims: Record<string, unknown>, token: string, tags: CacheTags, now: number): { value: Cached; until: number } {
    const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
    const clientId = typeof claims.client_id === 'string' ? claims.client_id : undefined;
    const sub = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : clientId;
    // a refresh token is not a credential for APIs, whatever the server says about it
    // (said as token_use, as ORY Hydra and Drawbridge do, or as token_type, as some servers do)
    const refresh = claims.token_use === 'refresh_token' || claims.token_type === 'refresh_token';
    const usable = claims.active === true && !refresh && sub !== undefined && (exp === undefined || exp > now);
    if (!usable) return { value: 'inactive', until: now + negativeTtl };
    const identity: Identity = {
      auth_method: 'oauth2',
      sub: sub!,
      scope: stringList(claims.scope),
      groups: stringList(claims.groups),
      credential_id: digester.digest('oauth2-credential', token),
    };
    if (clientId !== undefined) identity.client_id = clientId;
    if (exp !== undefined) identity.expires_at = exp;
    // a token with a sign-in session behind it: the internal JWT names that session (ARCHITECTURE §5)
    if (typeof claims.sid === 'string' && claims.sid !== '') identity.sid = claims.sid;
    // a delegated token (RFC 8693 §4.4): who acts for the subject goes on to the internal JWT
    if (typeof claims.act === 'object' && claims.act !== null && !Array.isArray(claims.act)) identity.act = claims.act as Record<string, unknown>;
    Object.freeze(identity);
    tags.sub = sub;
    if (clientId !== undefined) tags.client_id = clientId;
    if (typeof claims.jti === 'string') tags.jti = claims.jti;
    if (typeof claims.sid === 'string') tags.sid = claims.sid;
    const until = Math.min(exp ?? Number.POSITIVE_INFINITY, now + maxTtl);
    return { value: { identity, ok: Object.freeze({ kind: 'ok', identity }), aud: audiencesOf(claims.aud) }, until };
  }

  async function introspect(token: string, cacheKey: string): Promise<Cached | IntrospectionOutcome> {
    const generation = shared.generation;
    const outcome = await client.introspect(token);
    if (!outcome.ok) return outcome;
    const now = clock.now();
    const tags: CacheTags = { digest: sha256Base64url(token) };
    let { value, until } = interpret(outcome.claims, token, tags, now);
    // an event about this very token may be ahead of the issuer's answer (a lagging replica);
    // for subject/client cutoffs the issuer's fresh answer is the authority
    if (value !== 'inactive' && shared.revocations.isRevoked({ digest: tags.digest, jti: tags.jti }, undefined)) {
      ({ value, until } = { value: 'inactive', until: now + negativeTtl });
    }
    // an event that arrived while we were asking may concern this very token: do not cache
    if (generation === shared.generation) cache.set(cacheKey, value, until, tags);
    return value;
  }

  async function miss(token: string, cacheKey: string, gr: GatewayRequest): Promise<AuthnResult> {
    // a token revoked by an event is refused at once, without asking the issuer again
    if (!shared.revocations.empty && shared.revocations.isRevoked({ digest: sha256Base64url(token) }, undefined)) {
      return resultOf('inactive', gr);
    }
    let pending = inFlight.get(cacheKey);
    if (pending === undefined) {
      pending = introspect(token, cacheKey).finally(() => inFlight.delete(cacheKey));
      inFlight.set(cacheKey, pending);
    }
    const answer = await pending;
    if (typeof answer === 'object' && 'problem' in answer) {
      deps.logger.warn({ problem: answer.problem }, 'oauth2-introspection: issuer unavailable');
      return { kind: 'fail', error: serviceUnavailable('the token issuer is unavailable') };
    }
    return resultOf(answer as Cached, gr);
  }

  return {
    name: 'oauth2-introspection',
    challenge: `Bearer realm="${realm}"`,
    hide: hideCredentials ? hideAuthorization : undefined,
    authenticate: function authenticateIntrospection(gr: GatewayRequest): AuthnResult | Promise<AuthnResult> {
      const token = authParam(headerValue(gr.req.headers, 'authorization'), 'bearer');
      if (token === undefined) return SKIP;
      // RFC 6750 §3.1: not a b64token (empty, a space inside…) is a malformed request, never asked about
      if (!isB64Token(token)) return { kind: 'fail', error: malformedBearer(realm) };
      // a JWT is the jwt plugin's
      if (looksLikeJwt(token)) return SKIP;
      if (hideCredentials) gr.stripHeaders.add('authorization');
      const cacheKey = digester.cacheKey(namespace, token);
      const cached = cache.get<Cached>(cacheKey);
      return cached !== undefined ? resultOf(cached, gr) : miss(token, cacheKey, gr);
    },
  };
}
