// Revocations reach the gateway's browser sessions: on `user.revoked` {sub} every session of
// that user ends; on `session.revoked` {sid} (the auth server ended an SSO session) the
// gateway sessions started under it end — matched by (issuer, idp_sid), the ID token's `sid`.
// The store is shared, so one instance would do; each doing it is harmless (idempotent) and
// keeps working when some instance misses the event.
import type { Logger } from '../observability/logger.js';
import type { SessionStore } from '../sessions/types.js';
import type { EventBus } from './types.js';

export interface SessionEventsOptions {
  store: SessionStore;
  events: EventBus;
  /** the auth server whose events these are (its `iss`, as in the sessions' ID tokens) */
  issuer: string;
  logger: Logger;
}

/** Subscribes; returns the unsubscribe function. `settled()` on the result is for tests. */
export function followSessionEvents(opts: SessionEventsOptions): (() => void) & { settled(): Promise<void> } {
  const pending = new Set<Promise<void>>();
  function track(work: Promise<string[]>, what: Record<string, unknown>): void {
    const p = work.then(
      (ended) => {
        if (ended.length > 0) opts.logger.info({ ...what, sessions: ended.length }, 'gateway sessions ended by a revocation');
      },
      (err: unknown) => opts.logger.warn({ ...what, err: (err as Error).message }, 'could not end gateway sessions for a revocation'),
    );
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }
  const unsubscribe = opts.events.subscribe(function onSessionEvent(event) {
    if (event.type === 'user.revoked' && typeof event.sub === 'string') {
      track(opts.store.deleteByUser(event.sub), { event: event.type });
    } else if (event.type === 'session.revoked' && typeof event.sid === 'string') {
      track(opts.store.deleteByIdpSid(opts.issuer, event.sid), { event: event.type });
    }
  });
  return Object.assign(() => unsubscribe(), {
    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  });
}
