// Verifies the token a service receives (ARCHITECTURE §5) locally, against the issuer's
// published keys: no call to the auth server per request.
//
// What is checked, in jose's order: the algorithm is on the allow-list (asymmetric only:
// `none` and HS* can never pass, so a public key can't be abused as an HMAC secret), the
// signature against a key from the JWKS (and no unknown `crit` header), then `typ: at+jwt`,
// `iss`, `aud`, `exp`/`nbf`/`iat` (with a small clock tolerance), and finally the claim types
// a service relies on.
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { toClaims, type InternalClaims } from './claims.js';
import { describe, discover, DiscoveryError } from './discovery.js';
import { DrawbridgeAuthError } from './errors.js';

/** What the Drawbridge keyring signs with (src/crypto/algorithms.ts): ES256, RS256, EdDSA. */
export const DEFAULT_ALGORITHMS: readonly string[] = Object.freeze(['ES256', 'RS256', 'EdDSA']);

/** Asymmetric JWS algorithms a caller may add to the allow-list. */
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

export interface VerifierOptions {
  /** The issuer exactly as in the tokens' `iss` (the auth server's public base URL). */
  issuer: string;
  /** This service's name: the gateway's `services[].name`, or a resource indicator. Any one must be in `aud`. */
  audience: string | readonly string[];
  /** Skip discovery and fetch keys here. Default: `jwks_uri` from `${issuer}/.well-known/openid-configuration`. */
  jwksUri?: string;
  /** Allow-list; default ES256, RS256, EdDSA. Only asymmetric algorithms are accepted. */
  algorithms?: readonly string[];
  /** Seconds of clock skew tolerated on exp/nbf/iat; default 5. */
  clockTolerance?: number;
  /** Timeout of discovery and JWKS fetches, in ms; default 5000. */
  timeoutMs?: number;
  /**
   * After a JWKS fetch, how long (ms) a token with an unknown `kid` is refused before the keys
   * are fetched again; default 5000. Drawbridge publishes a rotated key `keys.publish_ahead`
   * before it signs (longer than the 10-minute key cache), so this matters only after
   * `drawbridge key rotate --now`: it bounds how long a service refuses fresh tokens then. It
   * also bounds forged-kid floods to one JWKS fetch per period. After a failed fetch the endpoint
   * is left alone for as long, and the keys last fetched are used meanwhile.
   */
  jwksCooldownMs?: number;
}

export interface Verifier {
  readonly issuer: string;
  readonly audience: readonly string[];
  /** The claims of a valid token; otherwise throws DrawbridgeAuthError (401 invalid_token, 503 when keys can't be fetched). */
  verify(token: string): Promise<InternalClaims>;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Marks an error of the key source (network, non-200, bad JSON) apart from token errors. */
class KeySourceError extends Error {}

export function createVerifier(opts: VerifierOptions): Verifier {
  if (typeof opts.issuer !== 'string' || opts.issuer === '') throw new TypeError('createVerifier: issuer is required');
  const audience = typeof opts.audience === 'string' ? [opts.audience] : [...(opts.audience ?? [])];
  if (audience.length === 0 || audience.some((a) => typeof a !== 'string' || a === '')) {
    throw new TypeError('createVerifier: audience is required (this service\'s name)');
  }
  const algorithms = [...(opts.algorithms ?? DEFAULT_ALGORITHMS)];
  const refused = algorithms.filter((a) => !ASYMMETRIC.has(a));
  if (algorithms.length === 0 || refused.length > 0) {
    throw new TypeError(`createVerifier: algorithms must be asymmetric JWS algorithms (refused: ${refused.join(', ') || 'an empty list'})`);
  }
  const clockTolerance = opts.clockTolerance ?? 5;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const issuer = opts.issuer;

  // The remote key set, created once its URL is known. jose caches the keys (10 min),
  // refetches them when a token names an unknown kid (at most once per cooldown, so a flood
  // of forged kids costs one fetch per period), and shares one fetch between callers.
  let keys: Promise<JWTVerifyGetKey> | undefined;
  function keySet(): Promise<JWTVerifyGetKey> {
    if (keys !== undefined) return keys;
    const pending = (async () => {
      const uri = opts.jwksUri ?? (await discover(issuer, timeoutMs)).jwks_uri;
      const cooldownMs = opts.jwksCooldownMs ?? 5000;
      const remote = createRemoteJWKSet(new URL(uri), { timeoutDuration: timeoutMs, cooldownDuration: cooldownMs });
      // jose's cooldown starts only at a *successful* fetch: while the key source fails, every
      // unknown kid would be another fetch. After a failure we therefore answer from the keys
      // we last had for one cooldown, without asking again.
      let outage: { until: number; lastKeys: JWTVerifyGetKey | undefined; cause: unknown } | undefined;
      const fromLastKeys = async (o: NonNullable<typeof outage>, ...args: Parameters<JWTVerifyGetKey>) => {
        if (o.lastKeys !== undefined) {
          try {
            return await o.lastKeys(...args);
          } catch (err) {
            if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
          }
        }
        // a kid we don't know and can't look up: maybe a new key, so "try later", not "invalid"
        throw new KeySourceError(`keys at ${uri} unavailable: ${describe(o.cause)}`, { cause: o.cause });
      };
      const getKey: JWTVerifyGetKey = async (header, token) => {
        if (outage !== undefined && Date.now() < outage.until) return fromLastKeys(outage, header, token);
        try {
          const key = await remote(header, token);
          outage = undefined;
          return key;
        } catch (err) {
          // "no such key" is the token's problem; anything else is the key source's
          if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
          if (err instanceof errors.JOSENotSupported || err instanceof errors.JOSEAlgNotAllowed) throw err;
          const last = remote.jwks();
          outage = { until: Date.now() + cooldownMs, lastKeys: last === undefined ? undefined : createLocalJWKSet(last), cause: err };
          return fromLastKeys(outage, header, token);
        }
      };
      return getKey;
    })();
    keys = pending;
    // discovery failed: forget it, the next request tries again
    pending.catch(() => {
      if (keys === pending) keys = undefined;
    });
    return keys;
  }

  async function verify(token: string): Promise<InternalClaims> {
    if (typeof token !== 'string' || token === '') throw new DrawbridgeAuthError('invalid_token', 'no token');
    // not even the shape of a signed JWT: refused without fetching keys (nor failing on them)
    if (!COMPACT_JWS.test(token)) throw new DrawbridgeAuthError('invalid_token', 'the token is malformed');
    let getKey: JWTVerifyGetKey;
    try {
      getKey = await keySet();
    } catch (err) {
      throw unavailable(err);
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer,
        audience,
        algorithms,
        typ: 'at+jwt',
        clockTolerance,
        requiredClaims: ['iss', 'aud', 'exp', 'iat', 'sub', 'jti'],
      }));
    } catch (err) {
      if (err instanceof KeySourceError) throw unavailable(err);
      // no `cause`: jose's claim errors carry the payload, which may hold personal data
      throw new DrawbridgeAuthError('invalid_token', reason(err, token));
    }
    // jose checks `iat` only together with maxTokenAge; a token from the future is as
    // wrong as an expired one (a skewed or compromised issuer clock, or a pre-minted token)
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + clockTolerance) {
      throw new DrawbridgeAuthError('invalid_token', 'the token was issued in the future');
    }
    return toClaims(payload);
  }

  return { issuer, audience: Object.freeze(audience), verify };
}

/**
 * The keys can't be had. The message goes to the caller, so it names no internal URL; the
 * reason (which URL, which error) is the `cause`, for the service's logs (`onError`).
 */
function unavailable(err: unknown): DrawbridgeAuthError {
  const cause = err instanceof DiscoveryError || err instanceof KeySourceError ? err : new KeySourceError(describe(err), { cause: err });
  return new DrawbridgeAuthError('temporarily_unavailable', 'cannot verify tokens now: the signing keys are unavailable', { cause });
}

/** Our own words for why a token failed: never jose's message verbatim, never the token. */
function reason(err: unknown, token: string): string {
  if (err instanceof errors.JWTExpired) return 'the token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss':
        return 'the token is from another issuer';
      case 'aud':
        return 'the token is not meant for this service';
      case 'typ':
        return 'the token is not an access token (typ must be at+jwt)';
      case 'nbf':
        return 'the token is not valid yet';
      case 'iat':
        return 'the token was issued in the future';
      default:
        return `the token lacks a valid ${err.claim} claim`;
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm this service does not accept';
  // every allowed algorithm is supported: what jose refuses as unsupported is then a `crit` extension (RFC 7515 §4.1.11)
  if (err instanceof errors.JOSENotSupported && hasCrit(token)) return 'the token has a critical header parameter this service does not understand';
  if (err instanceof errors.JOSENotSupported) return 'the token is signed with an algorithm this service does not accept';
  if (err instanceof errors.JWKSNoMatchingKey) return 'the token is signed with an unknown key';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token signature is invalid';
  return 'the token is malformed';
}

function hasCrit(token: string): boolean {
  try {
    return decodeProtectedHeader(token).crit !== undefined;
  } catch {
    return false;
  }
}
