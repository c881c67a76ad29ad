// The authenticators' shared memory of verified credentials: a bounded LRU with per-entry
// expiry, keyed by a keyed digest of the credential (SipHash or SHA-256 under a key derived
// from the master secret: CredentialDigester.cacheKey), so neither a credential nor a plain
// hash of it sits in memory as a key. One cache per gateway (per EventBus): it subscribes
// once, and credential or revocation events evict matching entries on every instance that
// hears them.
//
// Self-contained credentials (JWTs) stay valid after eviction, so revocation events also
// land in a small deny list that the jwt authenticator consults on a cache miss.
import { createHmac, hash } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { OldestKeys } from '../../core/oldest-keys.js';
import { deriveKey } from '../../crypto/seal.js';
import { sipHash128 } from '../../crypto/siphash.js';
import type { EventBus, GatewayEvent } from '../types.js';

/** What an entry is about, so events can find it. All optional; compared by equality. */
export interface CacheTags {
  /** consumer username (consumer credentials) */
  consumer?: string;
  sub?: string;
  client_id?: string;
  jti?: string;
  sid?: string;
  /** the auth server's token digest: base64url SHA-256 of the jti (JWT) or of the token */
  digest?: string;
}

interface Entry {
  value: unknown;
  /** epoch seconds; the entry is dead from this second on */
  expiresAt: number;
  tags: CacheTags;
  /** read since it was (re)inserted: spared once by the eviction (second chance) */
  used: boolean;
}

interface CredentialCacheOptions {
  maxEntries: number;
  clock: Clock;
}

/**
 * Bounded, with TTL, and approximately least-recently-used by "second chance" (CLOCK): a hit
 * only marks its entry, and the eviction moves a marked entry from the old end to the new
 * end once instead of dropping it. A hit costs one Map lookup and no reordering, which on
 * every authenticated request is most of what the cache costs (a delete and re-insert per
 * hit measured about 2 % of a key-auth request's CPU).
 */
export class CredentialCache {
  readonly #entries = new Map<string, Entry>();
  readonly #oldest = new OldestKeys(this.#entries);
  readonly #max: number;
  readonly #clock: Clock;
  hits = 0;
  misses = 0;

  constructor(opts: CredentialCacheOptions) {
    this.#max = opts.maxEntries;
    this.#clock = opts.clock;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Whether `key` has an entry (live or not yet swept), without counting as a use. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  get<V>(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    if (entry.expiresAt <= this.#clock.now()) {
      this.#entries.delete(key);
      this.misses++;
      return undefined;
    }
    entry.used = true;
    this.hits++;
    return entry.value as V;
  }

  /** Stores `value` until `expiresAt` (epoch seconds); nothing is stored when that is not in the future. */
  set(key: string, value: unknown, expiresAt: number, tags: CacheTags = {}): void {
    if (expiresAt <= this.#clock.now()) return;
    this.#entries.delete(key);
    // room first, so the new entry is never the one dropped
    if (this.#entries.size >= this.#max) this.#evictOne();
    this.#entries.set(key, { value, expiresAt, tags, used: false });
  }

  /**
   * Drops the oldest entry not used since it was (re)inserted; used ones on the way go to the
   * new end, unmarked. Each spare undoes one hit's mark, so the sweeps cost at most one move
   * per hit overall (what the old move-on-every-hit cost always), and one sweep ends after a
   * full round at most.
   */
  #evictOne(): void {
    const entries = this.#entries;
    for (;;) {
      const key = this.#oldest.take();
      if (key === undefined) return;
      const entry = entries.get(key)!;
      entries.delete(key);
      if (!entry.used) return;
      entry.used = false;
      entries.set(key, entry);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops every entry whose tags match; events are rare, so a scan is fine. */
  evict(match: (tags: CacheTags) => boolean): number {
    let count = 0;
    for (const [key, entry] of this.#entries) {
      if (match(entry.tags)) {
        this.#entries.delete(key);
        count++;
      }
    }
    return count;
  }

  clear(): void {
    this.#entries.clear();
  }
}

/**
 * Revoked tokens, sessions, users and clients as announced by events, remembered for
 * `retention` seconds (longer than any token this gateway would accept from the auth
 * server lives). Bounded: past `maxEntries` the oldest announcement is forgotten.
 */
export class RevocationList {
  readonly #tokens = new Map<string, number>(); // jti or digest → forget at
  readonly #cutoffs = new Map<string, number>(); // "sub:x" | "sid:x" | "client:x" → revoked at
  readonly #oldestTokens = new OldestKeys(this.#tokens);
  readonly #oldestCutoffs = new OldestKeys(this.#cutoffs);
  readonly #clock: Clock;
  readonly #retention: number;
  readonly #max: number;

  constructor(clock: Clock, retention = 86_400, maxEntries = 100_000) {
    this.#clock = clock;
    this.#retention = retention;
    this.#max = maxEntries;
  }

  get empty(): boolean {
    return this.#tokens.size === 0 && this.#cutoffs.size === 0;
  }

  revokeToken(idOrDigest: string): void {
    bounded(this.#tokens, this.#oldestTokens, idOrDigest, this.#clock.now() + this.#retention, this.#max);
  }

  /** Tokens of this subject, session or client issued at or before now are refused. */
  revokeBefore(kind: 'sub' | 'sid' | 'client', value: string): void {
    bounded(this.#cutoffs, this.#oldestCutoffs, `${kind}:${value}`, this.#clock.now(), this.#max);
  }

  /** true when the token described by `tags` (issued at `iat`) has been revoked. */
  isRevoked(tags: CacheTags, iat: number | undefined): boolean {
    if (this.empty) return false;
    const now = this.#clock.now();
    for (const id of [tags.jti, tags.digest]) {
      if (id === undefined) continue;
      const until = this.#tokens.get(id);
      if (until !== undefined && until > now) return true;
    }
    // Without iat we cannot tell old tokens from new ones: refuse while the cutoff is remembered.
    const issued = iat ?? Number.NEGATIVE_INFINITY;
    for (const key of cutoffKeys(tags)) {
      const at = this.#cutoffs.get(key);
      if (at !== undefined && issued <= at && at + this.#retention > now) return true;
    }
    return false;
  }
}

function cutoffKeys(tags: CacheTags): string[] {
  const keys: string[] = [];
  if (tags.sub !== undefined) keys.push(`sub:${tags.sub}`);
  if (tags.sid !== undefined) keys.push(`sid:${tags.sid}`);
  if (tags.client_id !== undefined) keys.push(`client:${tags.client_id}`);
  return keys;
}

function bounded(map: Map<string, number>, oldest: OldestKeys<string>, key: string, value: number, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) oldest.evict();
}

/**
 * Inputs up to this many characters get SipHash (JavaScript, about 0.3 µs at 40 characters
 * and linear); longer ones (JWTs) a one-shot SHA-256, which OpenSSL does faster at that size.
 */
const SIPHASH_MAX_INPUT = 256;

/** Keyed digests of credentials: the cache key, never the credential itself. */
export class CredentialDigester {
  readonly #key: Buffer;
  /** the same key as text, for cacheKey()'s one-shot hash */
  readonly #prefix: string;
  readonly #sip: (input: string) => string | undefined;

  constructor(secret: string) {
    this.#key = deriveKey(secret, 'gateway-credential-cache');
    this.#prefix = this.#key.toString('base64') + '\0';
    this.#sip = sipHash128(deriveKey(secret, 'gateway-credential-cache-siphash').subarray(0, 16));
  }

  /**
   * HMAC-SHA256 of the credential: for digests that leave this cache (credential ids,
   * counter keys), where it has to be a real MAC.
   * `namespace` keeps plugin instances (with different settings) apart.
   */
  digest(namespace: string, credential: string): string {
    return createHmac('sha256', this.#key).update(namespace).update('\0').update(credential).digest('base64url');
  }

  /**
   * The in-process cache key of a credential, computed on every request (cache hits too),
   * over the namespace and the credential. Short latin1 input (API keys, Basic credentials,
   * opaque tokens, key ids; header values always are latin1) gets SipHash-2-4-128 under a
   * key derived from the master secret: a PRF made for short inputs, so without the key
   * nobody can tell which credential an entry belongs to, test a guess, or make two
   * credentials meet in one entry. Anything else gets SHA-256 over the secret key, the
   * namespace and the credential in one call (its length extension gives nothing away: the
   * key never leaves the process and authenticates nothing). The two never meet: 8
   * characters against 43. Use digest() for anything that leaves the process.
   */
  cacheKey(namespace: string, credential: string): string {
    const input = namespace + '\0' + credential;
    if (input.length <= SIPHASH_MAX_INPUT) {
      const key = this.#sip(input);
      if (key !== undefined) return key;
    }
    return hash('sha256', this.#prefix + input, 'base64url');
  }
}

/** What every authenticator of one gateway shares. */
export interface AuthnShared {
  cache: CredentialCache;
  revocations: RevocationList;
  digester: CredentialDigester;
}

export const DEFAULT_CACHE_ENTRIES = 20_000;

const shared = new WeakMap<EventBus, AuthnShared>();

/**
 * The cache, deny list and digester of the gateway owning `deps.events`, created and
 * subscribed on first use. Plugin instances come and go with reloads; this stays.
 */
export function authnShared(deps: { events: EventBus; clock: Clock; secret: string }): AuthnShared {
  let found = shared.get(deps.events);
  if (found === undefined) {
    found = {
      cache: new CredentialCache({ maxEntries: DEFAULT_CACHE_ENTRIES, clock: deps.clock }),
      revocations: new RevocationList(deps.clock),
      digester: new CredentialDigester(deps.secret),
    };
    const target = found;
    deps.events.subscribe(function onGatewayEvent(event) {
      applyEvent(target, event);
    });
    shared.set(deps.events, found);
  }
  return found;
}

/** Evicts what an event invalidates (and remembers revocations of self-contained tokens). */
export function applyEvent(target: AuthnShared, event: GatewayEvent): void {
  const { cache, revocations } = target;
  switch (event.type) {
    case 'credentials.changed': {
      const consumer = event.consumer;
      cache.evict((tags) => tags.consumer !== undefined && (consumer === undefined || tags.consumer === consumer));
      return;
    }
    case 'config.changed':
      // consumers from the config file may have changed credentials
      cache.evict((tags) => tags.consumer !== undefined);
      return;
    case 'token.revoked': {
      const { jti, digest } = event;
      if (jti !== undefined) revocations.revokeToken(jti);
      if (digest !== undefined) revocations.revokeToken(digest);
      cache.evict((tags) => (jti !== undefined && tags.jti === jti) || (digest !== undefined && tags.digest === digest));
      return;
    }
    case 'session.revoked':
      revocations.revokeBefore('sid', event.sid);
      cache.evict((tags) => tags.sid === event.sid);
      return;
    case 'user.revoked':
      revocations.revokeBefore('sub', event.sub);
      cache.evict((tags) => tags.sub === event.sub);
      return;
    case 'client.revoked':
      revocations.revokeBefore('client', event.client_id);
      cache.evict((tags) => tags.client_id === event.client_id);
      return;
    case 'events.resumed':
      // events may have been missed while the subscription was down: trust nothing cached
      cache.clear();
      return;
  }
}
