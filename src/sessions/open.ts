// Builds the gateway's session store from the configuration: Redis when
// `gateway.sessions.store` says so (or, absent, when the top-level `redis` is set), else
// the SQL database of `storage`. The Redis store gets a connection of its own (fail-fast
// settings); the SQL store shares the Storage's.
import type { Redis } from 'ioredis';
import type { Config, SessionStoreKind } from '../config/types.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../observability/logger.js';
import type { Storage } from '../storage/types.js';
import { RedisSessionStore } from './redis-store.js';
import { SqlSessionStore } from './sql-store.js';
import type { SessionStore } from './types.js';

/** A store plus the way to let go of it. */
export interface RunningSessionStore extends SessionStore {
  readonly kind: SessionStoreKind;
  close(): Promise<void>;
}

/** The configured store kind with its default applied. */
export function sessionStoreKind(config: Pick<Config, 'redis' | 'gateway'>): SessionStoreKind {
  return config.gateway?.sessions?.store ?? (config.redis !== undefined ? 'redis' : 'sql');
}

interface OpenSessionStoreDeps {
  config: Pick<Config, 'redis' | 'gateway'>;
  storage: Storage;
  /** a running Redis connection to copy settings from; else one is made from config.redis */
  redis?: Redis;
  clock?: Clock;
  logger?: Logger;
  /** how long to wait for Redis at open before carrying on (calls then fail fast until it is up); default 2000 */
  connectWaitMs?: number;
}

export async function openSessionStore(deps: OpenSessionStoreDeps): Promise<RunningSessionStore> {
  const kind = sessionStoreKind(deps.config);
  if (kind === 'redis') {
    const source = deps.redis ?? deps.config.redis;
    if (source === undefined) throw new Error('gateway.sessions.store: redis needs the top-level `redis` URL');
    const store = new RedisSessionStore({ redis: source, clock: deps.clock, logger: deps.logger });
    if (!(await store.ready(deps.connectWaitMs ?? 2000))) {
      deps.logger?.warn('session store: redis not reachable yet; session routes answer 503 until it is');
    }
    return withKind(store, 'redis', () => store.close());
  }
  const store = new SqlSessionStore(deps.storage, { clock: deps.clock });
  return withKind(store, 'sql', async () => undefined);
}

function withKind(store: SessionStore, kind: SessionStoreKind, close: () => Promise<void>): RunningSessionStore {
  return {
    kind,
    close,
    get: (id) => store.get(id),
    insert: (s) => store.insert(s),
    updateTokens: (id, tokens, exp, at) => store.updateTokens(id, tokens, exp, at),
    touch: (id, at) => store.touch(id, at),
    delete: (id) => store.delete(id),
    listByUser: (sub) => store.listByUser(sub),
    deleteByUser: (sub) => store.deleteByUser(sub),
    deleteByIdpSid: (issuer, sid) => store.deleteByIdpSid(issuer, sid),
    withLock: (id, opts, fn) => store.withLock(id, opts, fn),
    deleteExpired: (now) => store.deleteExpired(now),
    ping: () => store.ping(),
  };
}
