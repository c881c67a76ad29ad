// The authenticators' shared memory of verified credentials: a bounded LRU with per-entry
// expiry, keyed by a keyed digest of the credential (SHA-256 over a key derived from the
// master secret and the credential: CredentialDigester.cacheKey), so neither a credential
// nor a plain hash of it sits in memory as a key. One cache per gateway (per EventBus): it subscribes once, and credential or
// revocation events evict matching entries on every instance that hears them.
//
// Self-contained credentials (JWTs) stay valid after eviction, so revocation events also
// land in a small deny list that the jwt authenticator consults on a cache miss.
import { createHmac, hash } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { OldestKeys } from '../../core/oldest-keys.js';
import { deriveKey } from '../../crypto/seal.js';
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
}

export interface CredentialCacheOptions {
  maxEntries: number;
  clock: Clock;
}

/** Bounded LRU with TTL. Map keeps insertion order: the first key is the least recently used. */
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
    // move to the most-recently-used end
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.hits++;
    return entry.value as V;
  }

  /** Stores `value` until `expiresAt` (epoch seconds); nothing is stored when that is not in the future. */
  set(key: string, value: unknown, expiresAt: number, tags: CacheTags = {}): void {
    if (expiresAt <= this.#clock.now()) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt, tags });
    if (this.#entries.size > this.#max) this.#oldest.evict();
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

/** Keyed digests of credentials: the cache key, never the credential itself. */
export class CredentialDigester {
  readonly #key: Buffer;
  /** the same key as text, for cacheKey()'s one-shot hash */
  readonly #prefix: string;

  constructor(secret: string) {
    this.#key = deriveKey(secret, 'gateway-credential-cache');
    this.#prefix = this.#key.toString('base64') + '\0';
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
   * The in-process cache key of a credential, computed on every request (cache hits too):
   * SHA-256 over the secret key, the namespace and the credential in one call, about a
   * fifth of createHmac's cost (no Hmac object, no key import). Only as strong as a cache
   * key needs: without the key nobody can tell which credential an entry belongs to, nor
   * test a guess. It never leaves the process and authenticates nothing, so SHA-256's
   * length extension (the reason HMAC exists) gives nothing away; use digest() for
   * anything that leaves the process.
   */
  cacheKey(namespace: string, credential: string): string {
    return hash('sha256', this.#prefix + namespace + '\0' + credential, 'base64url');
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
