// The gateway's event bus: revocations from the auth server, credential and config changes
// from the admin API. With Redis, events go over pub/sub on one channel so every instance
// (and every worker) hears them; without it, an in-process emitter serves the one process.
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { EventBus, GatewayEvent } from './types.js';

export const EVENTS_CHANNEL = 'drawbridge:events';

const EVENT_TYPES: ReadonlySet<string> = new Set([
  'token.revoked',
  'session.revoked',
  'user.revoked',
  'client.revoked',
  'credentials.changed',
  'config.changed',
]);

export interface RunningEventBus extends EventBus {
  /** resolves once events published anywhere reach this bus (the Redis subscription is active) */
  ready(): Promise<void>;
  /** stops listening and closes the dedicated subscriber connection (not the shared one) */
  close(): Promise<void>;
}

export function createEventBus(redis: Redis | undefined, logger: Logger): RunningEventBus {
  return redis ? redisEventBus(redis, logger) : localEventBus(logger);
}

function localEventBus(logger: Logger): RunningEventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(event) {
      // async like Redis delivery, so publishers never run listeners re-entrantly
      queueMicrotask(() => emitter.emit('event', event));
    },
    subscribe(listener) {
      const safe = guarded(listener, logger);
      emitter.on('event', safe);
      return () => emitter.off('event', safe);
    },
    ready: async () => undefined,
    close: async () => {
      emitter.removeAllListeners();
    },
  };
}

function redisEventBus(redis: Redis, logger: Logger): RunningEventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  // A connection in subscriber mode can run no other command: it needs one of its own.
  const subscriber = redis.duplicate();
  subscriber.on('error', (err: Error) => logger.debug({ err: err.message }, 'event subscriber: redis error'));
  subscriber.on('message', function onMessage(channel: string, message: string) {
    if (channel !== EVENTS_CHANNEL) return;
    const event = parseEvent(message);
    if (event) emitter.emit('event', event);
    else logger.warn({ channel }, 'ignored a malformed gateway event');
  });
  // ioredis re-subscribes by itself after a reconnect.
  let subscribed: Promise<void> = subscriber.subscribe(EVENTS_CHANNEL).then(() => undefined);
  subscribed.catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'event subscription failed; retrying on reconnect'));
  let closed = false;

  return {
    async publish(event) {
      try {
        await redis.publish(EVENTS_CHANNEL, JSON.stringify(event));
      } catch (err) {
        // Redis down: at least this process hears its own change; others catch up by cache TTL.
        logger.warn({ err: (err as Error).message, type: event.type }, 'event publish failed; delivered locally only');
        queueMicrotask(() => emitter.emit('event', event));
      }
    },
    subscribe(listener) {
      const safe = guarded(listener, logger);
      emitter.on('event', safe);
      return () => emitter.off('event', safe);
    },
    ready() {
      return subscribed;
    },
    async close() {
      if (closed) return;
      closed = true;
      emitter.removeAllListeners();
      subscribed = Promise.resolve();
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}

/** One failing listener must not stop the others, nor crash the process. */
function guarded(listener: (event: GatewayEvent) => void, logger: Logger): (event: GatewayEvent) => void {
  return function deliver(event) {
    try {
      listener(event);
    } catch (err) {
      logger.error({ err, type: event.type }, 'event listener failed');
    }
  };
}

/** Events come from other processes: accept only objects with a known type. */
export function parseEvent(message: string): GatewayEvent | undefined {
  try {
    const value = JSON.parse(message) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const type = (value as { type?: unknown }).type;
    return typeof type === 'string' && EVENT_TYPES.has(type) ? (value as GatewayEvent) : undefined;
  } catch {
    return undefined;
  }
}
