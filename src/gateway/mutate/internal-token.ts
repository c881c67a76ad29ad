// The internal JWT every authenticated request carries upstream (ARCHITECTURE §5):
// header `typ: at+jwt` + `kid`; claims iss, sub, aud (the service), iat, exp, jti,
// client_id, scope, groups, auth_method, and sid / consumer / act when they apply.
//
// Signing costs tens of µs, so tokens are cached per (credential, service) in a bounded
// LRU and re-minted when less than a fifth of their lifetime remains, when the signing key
// rotates, or when the identity behind the credential changed. A token never outlives the
// identity's own `expires_at`.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { OldestKeys } from '../../core/oldest-keys.js';
import type { Keyring } from '../../crypto/keyring.js';
import { signJwt } from '../../crypto/jwt.js';
import type { Identity } from '../types.js';

interface InternalTokenOptions {
  keyring: Keyring;
  issuer: string;
  clock: Clock;
  /** seconds (gateway.internal_token_ttl) */
  ttl: number;
  /** cached tokens kept at most (default 10000) */
  maxEntries?: number;
}

interface CachedToken {
  token: string;
  /** `Bearer <token>`, the Authorization value upstream: one string per token, not one per request */
  authorization: string;
  kid: string;
  /** epoch seconds after which the token is re-minted */
  refreshAt: number;
  identity: Identity;
  fingerprint: string;
}

// Reserved claims: identity.claims cannot override them.
const RESERVED = new Set(['iss', 'sub', 'aud', 'iat', 'exp', 'nbf', 'jti', 'client_id', 'scope', 'groups', 'auth_method', 'sid', 'consumer', 'act', 'cnf']);

export class InternalTokenMinter {
  readonly #opts: InternalTokenOptions;
  readonly #max: number;
  readonly #cache = new Map<string, CachedToken>();
  readonly #oldest = new OldestKeys(this.#cache);
  /**
   * The last token per identity object: authenticators hand out the same frozen identity
   * for every request with a cached credential, so the usual request finds its token here
   * without building the string key or reordering the LRU.
   */
  #recent = new WeakMap<Identity, CachedToken & { audience: string }>();

  constructor(opts: InternalTokenOptions) {
    this.#opts = opts;
    this.#max = opts.maxEntries ?? 10_000;
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The token for `identity` calling `audience` (a service name): cached or freshly signed. */
  tokenFor(identity: Identity, audience: string): string {
    return this.#entryFor(identity, audience).token;
  }

  /** `Bearer <tokenFor(identity, audience)>`, the same string object while the token is reused. */
  authorizationFor(identity: Identity, audience: string): string {
    return this.#entryFor(identity, audience).authorization;
  }

  #entryFor(identity: Identity, audience: string): CachedToken {
    const now = this.#opts.clock.now();
    const kid = this.#opts.keyring.current.kid;
    const recent = this.#recent.get(identity);
    if (recent !== undefined && recent.audience === audience && recent.refreshAt > now && recent.kid === kid) return recent;
    const key = identity.credential_id + '\u0000' + audience;
    const hit = this.#cache.get(key);
    if (hit !== undefined && hit.refreshAt > now && hit.kid === kid) {
      if (hit.identity === identity || hit.fingerprint === fingerprintOf(identity)) {
        hit.identity = identity;
        // LRU: move to the back
        this.#cache.delete(key);
        this.#cache.set(key, hit);
        this.#recent.set(identity, { ...hit, audience });
        return hit;
      }
    }
    const minted = this.#mint(key, identity, audience, now);
    this.#recent.set(identity, { ...minted, audience });
    return minted;
  }

  /** Drop every cached token (revocations make identities stale). */
  clear(): void {
    this.#cache.clear();
    this.#recent = new WeakMap();
  }

  #mint(key: string, identity: Identity, audience: string, now: number): CachedToken {
    const ttl = this.#opts.ttl;
    const limit = identity.expires_at;
    const exp = limit !== undefined && limit < now + ttl ? limit : now + ttl;
    const payload: Record<string, unknown> = {};
    if (identity.claims) {
      for (const name in identity.claims) if (!RESERVED.has(name)) payload[name] = identity.claims[name];
    }
    payload.iss = this.#opts.issuer;
    payload.sub = identity.sub;
    payload.aud = audience;
    payload.iat = now;
    payload.exp = exp;
    payload.jti = randomUUID();
    // RFC 9068 requires client_id: for consumer credentials the consumer is the client
    payload.client_id = identity.client_id ?? identity.consumer?.username ?? identity.sub;
    payload.scope = identity.scope.join(' ');
    payload.groups = identity.groups;
    payload.auth_method = identity.auth_method;
    if (identity.sid !== undefined) payload.sid = identity.sid;
    if (identity.consumer !== undefined) payload.consumer = identity.consumer.username;
    if (identity.act !== undefined) payload.act = identity.act;
    const signingKey = this.#opts.keyring.current;
    const token = signJwt(signingKey, payload, 'at+jwt');
    // re-mint once less than ~20% of the lifetime is left
    const lifetime = exp - now;
    const refreshAt = exp - Math.max(1, Math.ceil(lifetime / 5));
    this.#cache.delete(key);
    if (this.#cache.size >= this.#max) this.#oldest.evict();
    const entry: CachedToken = { token, authorization: `Bearer ${token}`, kid: signingKey.kid, refreshAt, identity, fingerprint: fingerprintOf(identity) };
    this.#cache.set(key, entry);
    return entry;
  }
}

/** What of an identity goes into its token: a changed fingerprint means a new token. */
function fingerprintOf(identity: Identity): string {
  return JSON.stringify([
    identity.sub,
    identity.auth_method,
    identity.client_id,
    identity.scope,
    identity.groups,
    identity.sid,
    identity.consumer?.username,
    identity.act,
    identity.expires_at,
    identity.claims,
  ]);
}
