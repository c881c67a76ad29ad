// The optional Redis connection. A single instance never needs it; when `redis:` is set
// it carries counters that every instance must agree on and cross-instance events.
import { Redis, ReplyError } from 'ioredis';
import { UnavailableError } from '../core/errors.js';
import type { Logger } from '../observability/logger.js';

export function connectRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    // Commands issued while the event loop handles one batch of I/O (every request's
    // rate-limit script, nonce claim …) go out in one write instead of one write each:
    // less CPU per request in the rate-limited gateway (bench/GATEWAY.md). Commands keep
    // their order on the connection, and a script stays one atomic command.
    enableAutoPipelining: true,
  });
  let reported = false;
  redis.on('error', (err: Error) => {
    if (!reported) logger.warn({ err: err.message }, 'redis unavailable; retrying');
    reported = true;
  });
  redis.on('ready', () => {
    if (reported) logger.info('redis connection restored');
    reported = false;
  });
  return redis;
}

/** ioredis states of a connection that was lost (not the first connect, which is queued). */
const LOST = new Set(['reconnecting', 'close', 'end']);

/**
 * Whether the connection is lost: a command now would only wait in ioredis's offline queue
 * until its retries run out (MaxRetriesPerRequestError), so callers fail fast instead.
 */
export function redisLost(redis: Redis): boolean {
  return LOST.has(redis.status);
}

export async function pingRedis(redis: Redis): Promise<void> {
  const reply = await redis.ping();
  if (reply !== 'PONG') throw new Error(`unexpected PING reply ${reply}`);
}

/**
 * One step against Redis for `what` (a name for messages): a lost connection fails at once,
 * and any failure but a reply error (a bug in the caller) is core's UnavailableError (503
 * temporarily_unavailable), never a 500 and never an answer taken as "absent". `Unavailable`:
 * the kind of UnavailableError to throw (a store's own, e.g. SessionStoreUnavailableError).
 */
export async function onRedis<T>(
  redis: Redis,
  what: string,
  step: () => Promise<T>,
  Unavailable: new (message: string, opts?: { cause?: unknown }) => UnavailableError = UnavailableError,
): Promise<T> {
  if (redisLost(redis)) throw new Unavailable(`${what}: redis is ${redis.status}`);
  try {
    return await step();
  } catch (err) {
    if (err instanceof ReplyError || err instanceof UnavailableError) throw err;
    throw new Unavailable(`${what}: redis unavailable (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}
