// A short-lived, in-process read cache of gateway sessions (issue #5: a session route without
// a store round trip per request). It only answers the per-request check for a session that
// needs nothing done right now (src/gateway/authn/session.ts decides that); everything that
// writes — refresh, touch, ending a session — goes to the store as before, and what this
// instance writes replaces the cached copy.
//
// Why stale entries cannot outlive a revocation by more than SESSION_CACHE_TTL_MS:
// - every entry lives at most SESSION_CACHE_TTL_MS (1 s), and never past the session's
//   absolute end; the caller also re-checks the idle timeout on every hit;
// - every way a session ends evicts at once here and, through the event bus
//   (src/gateway/session-events.ts), on every other instance;
// - a read that started before an eviction is not cached after it (the generation);
// - the owner does not use the cache while its event subscription is down.
// Entries are keyed by the store id (SHA-256 of the cookie value), never the cookie itself.
import { OldestKeys } from '../core/oldest-keys.js';
import type { GatewaySession } from './types.js';

/** How long a cached session is served without asking the store (ms). */
export const SESSION_CACHE_TTL_MS = 1000;
/** Most sessions kept; past it the oldest entry goes (insertion order, refreshed on each write). */
const SESSION_CACHE_MAX_ENTRIES = 10_000;

interface Entry {
  session: GatewaySession;
  /** performance.now() after which the entry is not served */
  until: number;
}

interface SessionCacheOptions {
  ttlMs?: number;
  maxEntries?: number;
  /** monotonic milliseconds (tests replace it) */
  nowMs?: () => number;
}

export class SessionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #oldest = new OldestKeys(this.#entries);
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #nowMs: () => number;
  #generation = 0;

  constructor(opts: SessionCacheOptions = {}) {
    this.#ttlMs = opts.ttlMs ?? SESSION_CACHE_TTL_MS;
    this.#maxEntries = Math.max(1, opts.maxEntries ?? SESSION_CACHE_MAX_ENTRIES);
    this.#nowMs = opts.nowMs ?? (() => performance.now());
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Bumped by every eviction. Read it before going to the store and hand it to set(): an
   * answer read before an eviction could be the session the eviction was about.
   */
  get generation(): number {
    return this.#generation;
  }

  /** The cached session while its entry is fresh, else undefined. */
  get(id: string): GatewaySession | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.until > this.#nowMs()) return entry.session;
    this.#entries.delete(id);
    return undefined;
  }

  /**
   * Caches a session read from (or just written to) the store, unless something was evicted
   * since `generation` was read. The entry lives for the TTL, never past the absolute end.
   */
  set(session: GatewaySession, generation: number, nowSeconds: number): void {
    if (generation !== this.#generation) return;
    const left = (session.expires_at - nowSeconds) * 1000;
    if (left <= 0) return;
    const until = this.#nowMs() + Math.min(this.#ttlMs, left);
    this.#entries.delete(session.id);
    if (this.#entries.size >= this.#maxEntries) this.#oldest.evict();
    this.#entries.set(session.id, { session, until });
  }

  /**
   * Drops one entry without bumping the generation: the store just said the session is
   * gone (a real ending also arrives as an event, which evicts with a bump).
   */
  delete(id: string): void {
    this.#entries.delete(id);
  }

  /** Drops these sessions. */
  evict(ids: Iterable<string>): void {
    this.#generation++;
    for (const id of ids) this.#entries.delete(id);
  }

  /** Drops every session the predicate picks (a user's, a provider session's). */
  evictWhere(pick: (session: GatewaySession) => boolean): void {
    this.#generation++;
    for (const [id, entry] of this.#entries) if (pick(entry.session)) this.#entries.delete(id);
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }
}
