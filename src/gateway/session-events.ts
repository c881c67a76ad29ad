// Revocations reach the gateway's browser sessions: on `user.revoked` {sub} every session of
// that user ends; on `session.revoked` {sid} (the auth server ended an SSO session) the
// gateway sessions started under it end — matched by (issuer, idp_sid), the ID token's `sid`.
// The store is shared, so one instance would do; each doing it is harmless (idempotent) and
// keeps working when some instance misses the event.
//
// The same events keep each instance's session read cache (src/sessions/cache.ts) honest:
// `gateway-session.ended` {ids} — published by whichever instance ended sessions (logout,
// admin API, CLI, back-channel logout, a refused refresh) — and the two revocations above
// evict at once; `events.resumed` (the subscription came back, events may have been lost)
// flushes it; and while the subscription is down the cache is not used at all.
import type { Logger } from '../observability/logger.js';
import { SessionCache } from '../sessions/cache.js';
import type { GatewaySession, SessionStore } from '../sessions/types.js';
import type { EventBus, GatewayEvent } from './types.js';

/** Most ids in one `gateway-session.ended` message (a user may have many sessions). */
const IDS_PER_EVENT = 500;

/** One gateway's (one EventBus's) session read cache, kept in step with the bus. */
export class GatewaySessionCache {
  readonly cache: SessionCache;
  readonly #events: EventBus;
  #logger: Logger | undefined;

  constructor(events: EventBus, cache = new SessionCache()) {
    this.cache = cache;
    this.#events = events;
    const self = this;
    events.subscribe(function onSessionCacheEvent(event) {
      self.apply(event);
    });
  }

  /** Where to report a failed publish (the first context that knows a logger sets it). */
  set logger(logger: Logger) {
    this.#logger ??= logger;
  }

  /** Cached answers are served only while events published anywhere reach this instance. */
  trusted(): boolean {
    return this.#events.connected?.() ?? true;
  }

  /** A fresh cached session, or undefined (also whenever the cache is not trusted). */
  peek(id: string): GatewaySession | undefined {
    return this.trusted() ? this.cache.get(id) : undefined;
  }

  /** Read before going to the store; pass to remember(). */
  get generation(): number {
    return this.cache.generation;
  }

  /** Caches what the store said (or what this instance just wrote). */
  remember(session: GatewaySession, generation: number, nowSeconds: number): void {
    if (this.trusted()) this.cache.set(session, generation, nowSeconds);
  }

  /** Drops one session here without telling anyone: the store no longer has it. */
  forget(id: string): void {
    this.cache.delete(id);
  }

  /**
   * Sessions that ended here (already deleted from the store): dropped here at once (before
   * this returns) and announced so every other instance drops them. Request paths do not
   * wait for the announcement (while Redis is down it may take a while to fail); it is best
   * effort: an instance that misses it stops serving its copy within SESSION_CACHE_TTL_MS.
   */
  async ended(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    this.cache.evict(ids);
    for (let i = 0; i < ids.length; i += IDS_PER_EVENT) {
      try {
        await this.#events.publish({ type: 'gateway-session.ended', ids: ids.slice(i, i + IDS_PER_EVENT) });
      } catch (err) {
        this.#logger?.warn({ err: (err as Error).message }, 'could not announce ended gateway sessions; other instances drop them by cache TTL');
      }
    }
  }

  /** What an event means for the cache. */
  apply(event: GatewayEvent): void {
    switch (event.type) {
      case 'gateway-session.ended':
        // from the wire: only a list of strings is taken
        if (Array.isArray(event.ids)) this.cache.evict(event.ids.filter((id): id is string => typeof id === 'string'));
        return;
      case 'user.revoked':
        if (typeof event.sub === 'string') this.cache.evictWhere((s) => s.sub === event.sub);
        return;
      case 'session.revoked':
        // any issuer: evicting a little more than needed only costs a store read
        if (typeof event.sid === 'string') this.cache.evictWhere((s) => s.idp_sid === event.sid);
        return;
      case 'events.resumed':
        this.cache.clear();
        return;
      default:
        return;
    }
  }
}

const caches = new WeakMap<EventBus, GatewaySessionCache>();

/** The session cache of the gateway owning `events`, created (and subscribed) on first use. */
export function sessionCacheOf(events: EventBus, logger?: Logger): GatewaySessionCache {
  let found = caches.get(events);
  if (found === undefined) {
    found = new GatewaySessionCache(events);
    caches.set(events, found);
  }
  if (logger !== undefined) found.logger = logger;
  return found;
}

interface SessionEventsOptions {
  store: SessionStore;
  events: EventBus;
  /** the auth server whose events these are (its `iss`, as in the sessions' ID tokens) */
  issuer: string;
  logger: Logger;
}

/** Subscribes; returns the unsubscribe function. `settled()` on the result is for tests. */
export function followSessionEvents(opts: SessionEventsOptions): (() => void) & { settled(): Promise<void> } {
  const cache = sessionCacheOf(opts.events, opts.logger);
  const pending = new Set<Promise<void>>();
  function track(work: Promise<string[]>, event: GatewayEvent): void {
    const what = { event: event.type };
    const p = work.then(
      (ended) => {
        // once the store no longer holds them: a request that read the store between the
        // event (which evicted at once) and the deletion may have cached one again
        cache.cache.evict(ended);
        cache.apply(event);
        if (ended.length > 0) opts.logger.info({ ...what, sessions: ended.length }, 'gateway sessions ended by a revocation');
      },
      (err: unknown) => opts.logger.warn({ ...what, err: (err as Error).message }, 'could not end gateway sessions for a revocation'),
    );
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }
  const unsubscribe = opts.events.subscribe(function onSessionEvent(event) {
    if (event.type === 'user.revoked' && typeof event.sub === 'string') {
      track(opts.store.deleteByUser(event.sub), event);
    } else if (event.type === 'session.revoked' && typeof event.sid === 'string') {
      track(opts.store.deleteByIdpSid(opts.issuer, event.sid), event);
    }
  });
  return Object.assign(() => unsubscribe(), {
    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  });
}
