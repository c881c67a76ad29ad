// The event bus shared by the auth server and the gateway: revocations from the auth
// server, credential and config changes from the admin API. With Redis, events go over
// pub/sub on one channel so every instance (and every worker) hears them; without it, an
// in-process emitter serves the one process (auth and gateway share it when they run
// together). Lives in `cache` so that neither role imports the other.
import cluster from 'node:cluster';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';

export const EVENTS_CHANNEL = 'drawbridge:events';

export type GatewayEvent =
  | { type: 'token.revoked'; digest?: string; jti?: string }
  | { type: 'session.revoked'; sid: string }
  | { type: 'user.revoked'; sub: string }
  | { type: 'client.revoked'; client_id: string }
  /** an OAuth client was created or changed (admin API): auth servers drop their cached copy */
  | { type: 'client.changed'; client_id: string }
  | { type: 'credentials.changed'; consumer?: string }
  | { type: 'config.changed' }
  /**
   * Gateway browser sessions ended on one instance (logout, admin, CLI, back-channel
   * logout, a refused refresh): the others drop them from their session caches. `ids` are
   * the store keys (SHA-256 digests of the cookies), never cookie values.
   */
  | { type: 'gateway-session.ended'; ids: string[] }
  /**
   * Local only (never accepted from the wire): the Redis subscription came back after a
   * disconnect, so events may have been missed; caches must not be trusted blindly.
   */
  | { type: 'events.resumed' };

export interface EventBus {
  publish(event: GatewayEvent): Promise<void>;
  subscribe(listener: (event: GatewayEvent) => void): () => void;
  /**
   * Whether events published anywhere reach this bus right now (the Redis subscription is
   * up). Caches that only stay correct through events must not be trusted while false.
   * Absent: always connected (an in-process bus).
   */
  connected?(): boolean;
}

const EVENT_TYPES: ReadonlySet<string> = new Set([
  'token.revoked',
  'session.revoked',
  'user.revoked',
  'client.revoked',
  'client.changed',
  'credentials.changed',
  'config.changed',
  'gateway-session.ended',
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
    // a worker of `gateway.workers` without Redis never hears the other workers' events
    connected: () => !cluster.isWorker,
    close: async () => {
      emitter.removeAllListeners();
    },
  };
}

function redisEventBus(redis: Redis, logger: Logger): RunningEventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  // A connection in subscriber mode can run no other command: it needs one of its own.
  // It re-subscribes itself after a reconnect (not ioredis's autoResubscribe, whose SUBSCRIBE
  // promise nobody handles), so that it knows when events flow again.
  const subscriber = redis.duplicate({ autoResubscribe: false });
  subscriber.on('error', (err: Error) => logger.debug({ err: err.message }, 'event subscriber: redis error'));
  subscriber.on('message', function onMessage(channel: string, message: string) {
    if (channel !== EVENTS_CHANNEL) return;
    const event = parseEvent(message);
    if (event) emitter.emit('event', event);
    else logger.warn({ channel }, 'ignored a malformed gateway event');
  });
  // Whatever was published while the connection was down is lost: once the subscription is
  // back, listeners hear `events.resumed` and drop what they cannot trust any more.
  // connected() is true from a SUBSCRIBE reply until that connection closes.
  let everReady = false;
  let lost = false;
  let live = false;
  let pending = false;
  let closed = false;
  function subscribeNow(): Promise<void> {
    pending = true;
    const done = subscriber.subscribe(EVENTS_CHANNEL).then(() => {
      if (subscriber.status !== 'ready') return; // closed again meanwhile: the next 'ready' retries
      live = true;
      if (lost) {
        lost = false;
        logger.info('event subscription restored; flushing caches that rely on events');
        emitter.emit('event', { type: 'events.resumed' } satisfies GatewayEvent);
      }
    });
    done.then(
      () => {
        pending = false;
      },
      (err: unknown) => {
        pending = false;
        if (closed) return;
        logger.warn({ err: (err as Error).message }, 'event subscription failed; retrying');
        // failed on a connection that is (again) up: its 'ready' has passed, so retry from here
        setTimeout(function resubscribe() {
          if (!live && !pending && !closed && subscriber.status === 'ready') void subscribeNow();
        }, 100).unref();
      },
    );
    return done;
  }
  subscriber.on('close', function onSubscriberClose() {
    live = false;
    if (everReady) lost = true;
  });
  subscriber.on('ready', function onSubscriberReady() {
    everReady = true;
    if (!live && !pending && !closed) void subscribeNow();
  });
  let subscribed: Promise<void> = subscribeNow();

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
    connected() {
      return live && subscriber.status === 'ready';
    },
    async close() {
      if (closed) return;
      closed = true;
      live = false;
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

/** A revoked token as storage names it. */
interface RevokedTokenRef {
  digest: string;
  jti: string;
  format: 'opaque' | 'jwt';
  kind: string;
}

type TokenRevokedEvent = Extract<GatewayEvent, { type: 'token.revoked' }>;

/** The event that makes gateways forget a token: by storage digest (opaque) and by jti (JWT). */
export function tokenRevoked(rec: Pick<RevokedTokenRef, 'digest' | 'jti' | 'format'>): TokenRevokedEvent {
  return rec.format === 'jwt' ? { type: 'token.revoked', digest: rec.digest, jti: rec.jti } : { type: 'token.revoked', digest: rec.digest };
}

/** token.revoked for each access token among `tokens`: gateways cache access tokens only (refresh tokens never reach them). */
export function accessTokenRevocations(tokens: readonly RevokedTokenRef[]): TokenRevokedEvent[] {
  const events: TokenRevokedEvent[] = [];
  for (const t of tokens) if (t.kind === 'access_token') events.push(tokenRevoked(t));
  return events;
}

/** What gateways hear when a client goes: client.revoked, and token.revoked for what others exchanged from its tokens. */
export function clientRevocationEvents(clientId: string, exchanged: readonly RevokedTokenRef[]): Array<Extract<GatewayEvent, { type: 'client.revoked' | 'token.revoked' }>> {
  return [{ type: 'client.revoked', client_id: clientId }, ...accessTokenRevocations(exchanged)];
}

/**
 * Publishes events from a short-lived process (a CLI command), in order, and disconnects.
 * Best effort: false when Redis is unreachable (gateways then catch up by their cache TTLs).
 */
export async function publishOnce(redisUrl: string, events: GatewayEvent | readonly GatewayEvent[]): Promise<boolean> {
  // loaded on demand: only this path needs a Redis client of its own
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    for (const event of Array.isArray(events) ? events : [events]) await redis.publish(EVENTS_CHANNEL, JSON.stringify(event));
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
