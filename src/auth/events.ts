// What the auth server tells every gateway: tokens, users and clients it has revoked. Over
// the shared event bus (src/cache/events.ts): Redis pub/sub on `drawbridge:events` when
// `redis:` is set, or the in-process bus when the gateway runs in this process. Publishing
// never fails the operation that revoked: a lost event is bounded by the gateways' cache
// lifetimes and the short internal tokens.
import type { Redis } from 'ioredis';
import { EVENTS_CHANNEL, type EventBus, type GatewayEvent } from '../cache/events.js';
import type { Logger } from '../observability/logger.js';

/** The revocation events the auth server emits (a subset of the bus's events). */
export type RevocationEvent = Extract<GatewayEvent, { type: 'token.revoked' | 'user.revoked' | 'client.revoked' | 'session.revoked' }>;

export interface AuthEvents {
  /** resolves when the event is handed to the bus; never rejects */
  publish(event: RevocationEvent): Promise<void>;
}

/** Publishes nothing: an auth server with neither Redis nor an in-process gateway. */
const NO_AUTH_EVENTS: AuthEvents = Object.freeze({ publish: async () => undefined });

interface AuthEventsOptions {
  /** the process's bus, shared with an in-process gateway */
  bus?: EventBus;
  redis?: Redis;
  logger: Logger;
}

export function createAuthEvents(opts: AuthEventsOptions): AuthEvents {
  const { bus, redis, logger } = opts;
  if (bus === undefined && redis === undefined) return NO_AUTH_EVENTS;
  return {
    publish: async function publishRevocation(event) {
      try {
        // a shared bus already publishes over Redis when there is one; else publish ourselves
        if (bus !== undefined) await bus.publish(event);
        else await redis!.publish(EVENTS_CHANNEL, JSON.stringify(event));
      } catch (err) {
        logger.warn({ err: (err as Error).message, type: event.type }, 'revocation event not published');
      }
    },
  };
}

export { accessTokenRevocations, clientRevocationEvents, tokenRevoked } from '../cache/events.js';
