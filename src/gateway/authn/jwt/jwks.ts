// Verification keys of one trusted issuer: given inline (`keys`) or fetched from its
// `jwks_uri`. Each JWK becomes a node:crypto KeyObject once, when the set is loaded.
// A remote set is refreshed in the background when older than `cacheTtl`, and refetched
// at once when a token names a key we do not have — at most every `refetchInterval`
// seconds, so a stream of made-up `kid`s cannot turn the gateway into a JWKS hammer.
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { request } from 'undici';
import type { Clock } from '../../../core/clock.js';
import { readLimitedResponse } from '../../../core/http.js';
import type { Logger } from '../../../observability/logger.js';
import { keyFits, type JwtAlg, type PreparedKey } from './algorithms.js';

const ASYMMETRIC = new Set(['RSA', 'EC', 'OKP']);

/**
 * A public key from a JWK, or a reason it cannot be one. Symmetric (`oct`) keys are
 * refused outright: HMAC-signed tokens are never accepted.
 */
export function prepareJwk(jwk: Record<string, unknown>): PreparedKey | string {
  const kty = jwk.kty;
  if (typeof kty !== 'string' || !ASYMMETRIC.has(kty)) return `key type ${String(kty)} is not accepted (RSA, EC or OKP public keys only)`;
  if (jwk.use !== undefined && jwk.use !== 'sig') return `key use ${String(jwk.use)} is not "sig"`;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return 'key_ops does not include "verify"';
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return 'kid must be a string';
  if (jwk.alg !== undefined && typeof jwk.alg !== 'string') return 'alg must be a string';
  const { kid, alg, use: _use, key_ops: _ops, d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...material } = jwk;
  let key;
  try {
    key = createPublicKey({ key: material as JsonWebKey, format: 'jwk' });
  } catch (err) {
    return `not a valid public key (${(err as Error).message})`;
  }
  const prepared: PreparedKey = { key, type: key.asymmetricKeyType ?? 'unknown' };
  if (typeof kid === 'string') prepared.kid = kid;
  if (typeof alg === 'string') prepared.alg = alg;
  if (typeof jwk.crv === 'string') prepared.curve = jwk.crv;
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined) prepared.bits = bits;
  return prepared;
}

/** Prepared keys, by kid. */
export class KeySet {
  readonly keys: readonly PreparedKey[];
  readonly #byKid = new Map<string, PreparedKey[]>();

  constructor(keys: PreparedKey[]) {
    this.keys = keys;
    for (const key of keys) {
      if (key.kid === undefined) continue;
      const list = this.#byKid.get(key.kid);
      if (list) list.push(key);
      else this.#byKid.set(key.kid, [key]);
    }
  }

  has(kid: string): boolean {
    return this.#byKid.has(kid);
  }

  /** Keys that may verify `alg` for a token naming `kid` (any key of the right type when it names none). */
  candidates(alg: JwtAlg, kid: string | undefined): PreparedKey[] {
    const pool = kid === undefined ? this.keys : this.#byKid.get(kid);
    if (pool === undefined) return [];
    return pool.filter((key) => keyFits(alg, key));
  }
}

/** Keys are needed but the issuer's JWKS could not be loaded: 503, not the client's fault. */
export class KeysUnavailableError extends Error {
  override readonly name = 'KeysUnavailableError';
}

export interface KeySource {
  /** Keys for a token; may refetch once for an unknown kid. Throws KeysUnavailableError. */
  candidates(alg: JwtAlg, kid: string | undefined): PreparedKey[] | Promise<PreparedKey[]>;
}

export function staticKeySource(set: KeySet): KeySource {
  return { candidates: (alg, kid) => set.candidates(alg, kid) };
}

interface RemoteKeySourceOptions {
  uri: string;
  clock: Clock;
  logger: Logger;
  /** least seconds between fetches caused by unknown kids */
  refetchInterval: number;
  /** seconds after which the set is refreshed in the background */
  cacheTtl: number;
  timeoutMs?: number;
  maxBytes?: number;
}

/** After a failed fetch, the next attempt may come this soon (seconds), however long refetchInterval is. */
const RETRY_AFTER_FAILURE = 5;

type FetchReason = 'initial' | 'stale' | 'unknown_key';

export class RemoteKeySource implements KeySource {
  readonly #opts: RemoteKeySourceOptions;
  #set: KeySet | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  /** earliest time an unknown key may cause a fetch (set by such fetches) */
  #unknownKeyAt = Number.NEGATIVE_INFINITY;
  /** earliest time any fetch may follow a failed one */
  #retryAt = Number.NEGATIVE_INFINITY;
  #inFlight: Promise<KeySet | undefined> | undefined;
  /** how many fetches were made (metrics, tests) */
  fetches = 0;

  constructor(opts: RemoteKeySourceOptions) {
    this.#opts = opts;
  }

  /** Starts the first fetch without waiting for it (a slow issuer must not hold up start). */
  prefetch(): void {
    void this.#load('initial');
  }

  candidates(alg: JwtAlg, kid: string | undefined): PreparedKey[] | Promise<PreparedKey[]> {
    const set = this.#set;
    if (set === undefined) return this.#afterLoad(alg, kid, 'initial');
    const now = this.#opts.clock.now();
    if (now - this.#fetchedAt >= this.#opts.cacheTtl && now >= this.#retryAt) void this.#load('stale');
    const found = set.candidates(alg, kid);
    // a key we have never seen: perhaps the issuer rotated — look once per interval.
    // (a known kid whose key does not fit the algorithm is not a reason to fetch)
    if (found.length > 0 || (kid !== undefined && set.has(kid))) return found;
    if (now < this.#unknownKeyAt || now < this.#retryAt) return found;
    return this.#afterLoad(alg, kid, 'unknown_key');
  }

  async #afterLoad(alg: JwtAlg, kid: string | undefined, reason: FetchReason): Promise<PreparedKey[]> {
    const now = this.#opts.clock.now();
    const set = now >= this.#retryAt || this.#inFlight ? await this.#load(reason) : this.#set;
    if (set === undefined) throw new KeysUnavailableError(`keys of ${this.#opts.uri} are unavailable`);
    return set.candidates(alg, kid);
  }

  #load(reason: FetchReason): Promise<KeySet | undefined> {
    if (reason === 'unknown_key') this.#unknownKeyAt = this.#opts.clock.now() + this.#opts.refetchInterval;
    this.#inFlight ??= this.#fetch().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #fetch(): Promise<KeySet | undefined> {
    const { clock, logger, uri } = this.#opts;
    const started = clock.now();
    this.fetches++;
    try {
      const set = await fetchJwks(uri, this.#opts.timeoutMs ?? 5000, this.#opts.maxBytes ?? 512 * 1024);
      this.#set = set;
      this.#fetchedAt = started;
      return set;
    } catch (err) {
      this.#retryAt = started + Math.min(RETRY_AFTER_FAILURE, this.#opts.refetchInterval);
      logger.warn({ jwks_uri: uri, err: (err as Error).message }, 'could not fetch JWKS; keeping the keys we had');
      return this.#set;
    }
  }
}

async function fetchJwks(uri: string, timeoutMs: number, maxBytes: number): Promise<KeySet> {
  const res = await request(uri, {
    method: 'GET',
    headers: { accept: 'application/jwk-set+json, application/json' },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`JWKS answered ${res.statusCode}`);
  }
  const parsed: unknown = JSON.parse((await readLimitedResponse(res.body, maxBytes, 'JWKS')).toString('utf8'));
  const keys = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new Error('JWKS has no "keys" list');
  const prepared: PreparedKey[] = [];
  for (const jwk of keys) {
    if (typeof jwk !== 'object' || jwk === null) continue;
    const key = prepareJwk(jwk as Record<string, unknown>);
    // keys we cannot use (encryption keys, oct, unknown curves) are skipped, not fatal
    if (typeof key !== 'string') prepared.push(key);
  }
  return new KeySet(prepared);
}
