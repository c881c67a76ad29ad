// `hmac-auth`: requests signed with HTTP Message Signatures (RFC 9421), algorithm
// `hmac-sha256`, `keyid` = the consumer credential's `key_id`. The signature must cover
// `@method`, `@authority`, `@path`, `@query` (when the request has a query) and, whenever
// there is a body, `content-digest` (RFC 9530), which is checked against the body: the
// body is buffered (up to `max_body`) into gr.body and replayed upstream. `created` must
// be within `clock_skew` of now, `expires` is honoured, and a `nonce` is accepted once.
//
// With `legacy: true` Kong's `Authorization: hmac username=…` scheme is accepted too, for
// teams migrating from Kong; its signature must cover `request-line` and the Date used.
//
// On every 401 of a route with hmac-auth (its own, and the route's when no credential was
// recognised), a challenge (RFC 9421 defines none) and RFC 9421 §5.1's `Accept-Signature`,
// both naming what that very request's signature must cover (`@query` only with a query,
// `content-digest` only with a body, then enforce_headers), e.g. for a POST with a query:
//   WWW-Authenticate: Signature realm="drawbridge", alg="hmac-sha256", headers="@method @authority @path @query content-digest"
//   Accept-Signature: sig1=("@method" "@authority" "@path" "@query" "content-digest");created;alg="hmac-sha256"
// and for a GET without one: headers="@method @authority @path", sig1=("@method" "@authority" "@path").
// Both are made once per request shape at start, from the lists the coverage check uses.
import { HmacSha256 } from '../../crypto/hmac-sha256.js';
import { GatewayError, serviceUnavailable, unauthorized } from '../errors.js';
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
import { authnShared } from './cache.js';
import { authParam, consumerIdentity, headerValue, hideAuthorization, instanceNamespace } from './common.js';
import { hmacAuthConfigSchema, type HmacAuthConfig } from './hmac/config.js';
import { checkContentDigest } from './hmac/content-digest.js';
import {
  checkLegacyDigest,
  parseLegacyParams,
  verifyLegacySignature,
  type LegacyParams,
} from './hmac/kong-legacy.js';
import { findHmacSignature, verifyHmacSignature, type HmacSignature } from './hmac/message-signature.js';
import { memoryNonceStore, redisNonceStore, type NonceStore } from './hmac/nonce-cache.js';
import { rawPath, signedMessage } from './hmac/request-view.js';
import { SignatureBaseError } from './hmac/signature-base.js';
import { hasBody, readBodyInto } from './read-body.js';

export const hmacAuth: PluginFactory = {
  name: 'hmac-auth',
  create: function createHmacAuth(config, deps, path): PluginInstance {
    return { stage: 'authenticate', impl: hmacAuthenticator(hmacAuthConfigSchema.parse(config, path), deps) };
  },
};

interface CachedCredential {
  result: AuthnResult;
  secret: Buffer;
  /** the secret as an HMAC-SHA256 key, its pads made once (RFC 9421 signatures) */
  mac: HmacSha256;
  keyId: string;
}

const nonceStores = new WeakMap<EventBus, NonceStore>();

/** One nonce store per gateway, so a reload does not forget the nonces already seen. */
function nonceStore(deps: GatewayDeps): NonceStore {
  let store = nonceStores.get(deps.events);
  if (store === undefined) {
    store = deps.redis ? redisNonceStore(deps.redis) : memoryNonceStore(deps.clock);
    nonceStores.set(deps.events, store);
  }
  return store;
}

const REQUIRED = ['"@method"', '"@authority"', '"@path"'];
/** index of a request shape in the per-shape lists: query × 2 + body */
const requiredIndex = (withQuery: boolean, withBody: boolean): number => (withQuery ? 2 : 0) + (withBody ? 1 : 0);
const MAX_REMEMBERED_KEY_IDS = 1000;

function hmacAuthenticator(settings: HmacAuthConfig, deps: GatewayDeps): Authenticator {
  const { cache, digester } = authnShared(deps);
  const namespace = instanceNamespace('hmac-auth');
  const nonces = nonceStore(deps);
  const skew = settings.clock_skew;
  const hide = settings.hide_credentials;
  const enforced = settings.enforce_headers.map((name) => `"${name}"`);
  // request-line as @method and @path in RFC 9421: without it, one signed request would
  // authorise any method on any path of the route until its Date goes stale (Kong allows it)
  const legacyRequired = ['request-line', ...settings.enforce_headers];
  const legacyAlgorithms = new Set<string>(settings.allow_sha1 ? [...settings.algorithms, 'hmac-sha1'] : settings.algorithms);
  const clock = deps.clock;

  // What a signature must cover, by request shape (query? body?), made once: what
  // verifyRfc9421 checks, what Accept-Signature asks for and what the challenge names are the
  // same lists. RFC 9421 §5.1 `Accept-Signature`: the components, `created`, our algorithm (a
  // key id or nonce we cannot name: the client has its own); the challenge's `headers`: the
  // same components, unquoted.
  const requiredLists = [false, true].flatMap((withQuery) => [false, true].map((withBody) => requiredComponents(withQuery, withBody)));
  const requestedFields: ReadonlyArray<Readonly<Record<string, string>>> = requiredLists.map((ids) =>
    Object.freeze({
      'www-authenticate': `Signature realm="${settings.realm}", alg="hmac-sha256", headers="${ids.map((id) => id.slice(1, -1)).join(' ')}"`,
      'accept-signature': `sig1=(${ids.join(' ')});created;alg="hmac-sha256"`,
    }),
  );
  /**
   * The challenge without a request at hand: that of a request with a query and a body (all
   * a signature may have to cover). Each 401 gets its request's own from requested(): the
   * pipeline puts it in place of this one.
   */
  const challenge = requestedFields[requiredIndex(true, true)]!['www-authenticate']!;

  /** The challenge and Accept-Signature for a refused request: what its shape must sign. */
  function requested(gr: GatewayRequest): Readonly<Record<string, string>> {
    return requestedFields[requiredIndex(gr.query !== '', hasBody(gr))]!;
  }

  function requiredComponents(withQuery: boolean, withBody: boolean): string[] {
    const ids = [...REQUIRED];
    if (withQuery) ids.push('"@query"');
    if (withBody) ids.push('"content-digest"');
    for (const id of enforced) if (!ids.includes(id)) ids.push(id);
    return ids;
  }

  function fail(description: string, reason: string): AuthnResult {
    return { kind: 'fail', error: unauthorized(description, challenge, reason) };
  }

  function failWith(error: GatewayError): AuthnResult {
    return { kind: 'fail', error };
  }

  /** The whole body (kept for the proxy), or the refusal when it is too large or broken. */
  async function bodyOf(gr: GatewayRequest): Promise<Buffer | AuthnResult> {
    try {
      return await readBodyInto(gr, settings.max_body);
    } catch (err) {
      if (err instanceof GatewayError) return failWith(err);
      throw err;
    }
  }

  // cacheKey() is a keyed hash per call. A key id is no secret (it comes in the clear, and the
  // cached credential holds it), so the cache keys of the ids in use are remembered:
  // only ids found in the cache, and the memo starts over past MAX_REMEMBERED_KEY_IDS.
  const cacheKeys = new Map<string, string>();

  /**
   * The consumer behind a key id, remembered for cache_ttl; undefined when unknown, a
   * GatewayError when the store failed. Synchronous on a cache hit: nothing to await.
   */
  function lookup(keyId: string): CachedCredential | undefined | Promise<CachedCredential | GatewayError | undefined> {
    const known = cacheKeys.get(keyId);
    if (known !== undefined) return cache.get<CachedCredential>(known) ?? fetchCredential(keyId, known);
    const cacheKey = digester.cacheKey(namespace, keyId);
    const hit = cache.get<CachedCredential>(cacheKey);
    if (hit === undefined) return fetchCredential(keyId, cacheKey);
    if (cacheKeys.size >= MAX_REMEMBERED_KEY_IDS) cacheKeys.clear();
    cacheKeys.set(keyId, cacheKey);
    return hit;
  }

  async function fetchCredential(keyId: string, cacheKey: string): Promise<CachedCredential | GatewayError | undefined> {
    let match;
    try {
      match = await deps.consumers.hmacCredential(keyId);
    } catch (err) {
      deps.logger.error({ err, plugin: 'hmac-auth' }, 'consumer lookup failed');
      return serviceUnavailable('credential store unavailable');
    }
    if (match === undefined) return undefined;
    const found: CachedCredential = {
      result: Object.freeze({ kind: 'ok', identity: consumerIdentity('hmac-auth', match) }),
      secret: Buffer.from(match.secret, 'utf8'),
      mac: new HmacSha256(match.secret),
      keyId,
    };
    if (settings.cache_ttl > 0) cache.set(cacheKey, found, clock.now() + settings.cache_ttl, { consumer: match.consumer.username });
    return found;
  }

  // The RFC 9421 path is synchronous as long as every step is (a cached credential, the
  // in-process nonce store, no body): most requests then cost no promise at all.
  function verifyRfc9421(gr: GatewayRequest, sig: HmacSignature): AuthnResult | Promise<AuthnResult> {
    const covered = sig.covered;
    const withBody = hasBody(gr);
    for (const id of requiredLists[requiredIndex(gr.query !== '', withBody)]!) if (!covered.has(id)) return fail(`the signature must cover ${id}`, 'coverage');

    const now = clock.now();
    if (sig.created === undefined) return fail('the signature has no created time', 'malformed');
    if (Math.abs(now - sig.created) > skew) return fail('the signature was not created within the allowed clock skew', 'stale');
    if (sig.expires !== undefined && now > sig.expires) return fail('the signature has expired', 'expired');
    if (sig.nonce === undefined && settings.enforce_nonce) return fail('the signature needs a nonce', 'nonce_required');

    const found = lookup(sig.keyid);
    if (found instanceof Promise) return found.then((f) => verifyWith(gr, sig, now, withBody, f));
    return verifyWith(gr, sig, now, withBody, found);
  }

  function verifyWith(
    gr: GatewayRequest,
    sig: HmacSignature,
    now: number,
    withBody: boolean,
    found: CachedCredential | GatewayError | undefined,
  ): AuthnResult | Promise<AuthnResult> {
    if (found instanceof GatewayError) return failWith(found);
    if (found === undefined) return fail('unknown key id', 'invalid_credentials');
    let valid: boolean;
    try {
      valid = verifyHmacSignature(sig, signedMessage(gr), found.mac);
    } catch (err) {
      if (err instanceof SignatureBaseError) return fail(err.message, 'malformed');
      throw err;
    }
    if (!valid) return fail('invalid signature', 'invalid_signature');
    if (withBody || sig.covered.has('"content-digest"')) return checkBody(gr, sig, now, found);
    return checkNonce(sig, now, found);
  }

  async function checkBody(gr: GatewayRequest, sig: HmacSignature, now: number, found: CachedCredential): Promise<AuthnResult> {
    const header = headerValue(gr.req.headers, 'content-digest');
    if (header === undefined) return fail('the request needs a Content-Digest', 'body_digest');
    const body = await bodyOf(gr);
    if (!Buffer.isBuffer(body)) return body;
    const digest = checkContentDigest(header, body);
    if (digest !== 'ok') return fail(DIGEST_PROBLEMS[digest], 'body_digest');
    return checkNonce(sig, now, found);
  }

  function checkNonce(sig: HmacSignature, now: number, found: CachedCredential): AuthnResult | Promise<AuthnResult> {
    if (sig.nonce === undefined) return found.result;
    // remembered while the signature could still be accepted
    let ttl = sig.created! + skew - now + 1;
    if (sig.expires !== undefined) ttl = Math.min(ttl, sig.expires - now + 1);
    const replayed = claimNonce(`${found.keyId}\n${sig.nonce}`, ttl);
    if (replayed instanceof Promise) return replayed.then((r) => r ?? found.result);
    return replayed ?? found.result;
  }

  /** undefined when the nonce is new (now claimed), else the refusal. */
  function claimNonce(nonce: string, ttl: number): AuthnResult | undefined | Promise<AuthnResult | undefined> {
    let claimed: boolean | Promise<boolean>;
    try {
      claimed = nonces.claim(nonce, ttl);
    } catch (err) {
      return nonceStoreFailed(err);
    }
    if (claimed instanceof Promise) return claimed.then(replayUnless, nonceStoreFailed);
    return replayUnless(claimed);
  }

  function replayUnless(claimed: boolean): AuthnResult | undefined {
    return claimed ? undefined : fail('the nonce was already used', 'replay');
  }

  function nonceStoreFailed(err: unknown): AuthnResult {
    deps.logger.error({ err, plugin: 'hmac-auth' }, 'nonce store unavailable');
    return failWith(serviceUnavailable('replay protection unavailable'));
  }

  async function verifyLegacy(gr: GatewayRequest, params: LegacyParams): Promise<AuthnResult> {
    if (!legacyAlgorithms.has(params.algorithm)) return fail(`algorithm ${params.algorithm} is not accepted`, 'algorithm');
    const signed = new Set(params.headers);
    for (const name of legacyRequired) if (!signed.has(name)) return fail(`the signature must cover ${name}`, 'coverage');
    const headers = gr.req.headers;
    const dateHeader = headers['x-date'] !== undefined ? 'x-date' : 'date';
    const date = headerValue(headers, dateHeader);
    if (date === undefined) return fail('a Date or X-Date header is required', 'stale');
    if (!signed.has(dateHeader)) return fail(`the signature must cover ${dateHeader}`, 'coverage');
    const time = Date.parse(date);
    if (Number.isNaN(time) || Math.abs(clock.now() - Math.floor(time / 1000)) > skew) {
      return fail('the Date is not within the allowed clock skew', 'stale');
    }
    const digest = headerValue(headers, 'digest');
    if (settings.validate_request_body && (hasBody(gr) || digest !== undefined) && !signed.has('digest')) {
      return fail('the signature must cover digest', 'coverage');
    }

    const found = await lookup(params.username);
    if (found instanceof GatewayError) return failWith(found);
    if (found === undefined) return fail('unknown username', 'invalid_credentials');
    const request = {
      method: gr.method,
      target: gr.query === '' ? rawPath(gr) : `${rawPath(gr)}?${gr.query}`,
      httpVersion: gr.req.httpVersion,
      field: (name: string) => headerValue(headers, name),
    };
    if (!verifyLegacySignature(params, request, found.secret)) return fail('invalid signature', 'invalid_signature');
    if (settings.validate_request_body) {
      const body = await bodyOf(gr);
      if (!Buffer.isBuffer(body)) return body;
      if (!checkLegacyDigest(digest, body)) return fail('the Digest does not match the body', 'body_digest');
    }
    return found.result;
  }

  function hideSignatures(gr: GatewayRequest): void {
    gr.stripHeaders.add('signature');
    gr.stripHeaders.add('signature-input');
    if (settings.legacy) hideAuthorization(gr);
  }

  function authenticateLegacy(gr: GatewayRequest): AuthnResult | Promise<AuthnResult> {
    const headers = gr.req.headers;
    let header = 'proxy-authorization';
    let param = authParam(headerValue(headers, header), 'hmac');
    if (param === undefined) {
      header = 'authorization';
      param = authParam(headerValue(headers, header), 'hmac');
      if (param === undefined) return SKIP;
    }
    if (hide) gr.stripHeaders.add(header);
    // `hmac<TAB>…` (common.ts authParam): malformed, though the parameter parser would skip the TAB
    const params = param.charCodeAt(0) === 0x09 ? undefined : parseLegacyParams(param);
    if (params === undefined) return fail('malformed hmac credentials', 'malformed');
    return verifyLegacy(gr, params);
  }

  return {
    name: 'hmac-auth',
    challenge,
    hide: hide ? hideSignatures : undefined,
    requested,
    authenticate: function authenticateHmac(gr: GatewayRequest): AuthnResult | Promise<AuthnResult> {
      const headers = gr.req.headers;
      const input = headerValue(headers, 'signature-input');
      if (input !== undefined) {
        const found = findHmacSignature(input, headerValue(headers, 'signature'));
        if (found.kind === 'found') {
          if (hide) {
            gr.stripHeaders.add('signature');
            gr.stripHeaders.add('signature-input');
          }
          return verifyRfc9421(gr, found.signature);
        }
        if (found.kind === 'malformed') return fail(found.problem, 'malformed');
      }
      return settings.legacy ? authenticateLegacy(gr) : SKIP;
    },
  };
}

const DIGEST_PROBLEMS = {
  mismatch: 'the Content-Digest does not match the body',
  malformed: 'the Content-Digest is malformed',
  unsupported: 'the Content-Digest has no sha-256 or sha-512 digest',
} as const;
