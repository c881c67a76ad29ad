// Starts the authorization server role: syncs configured clients into storage, prepares
// the context and listens.
import type { Redis } from 'ioredis';
import type { AuthConfig, Config } from '../config/types.js';
import { memoryCounter, redisCounter } from '../cache/counter.js';
import { pingRedis } from '../cache/redis.js';
import { createEventBus, type EventBus, type RunningEventBus } from '../cache/events.js';
import type { Clock } from '../core/clock.js';
import { startListener, type RunningListener } from '../core/listener.js';
import { reloadCertificate } from '../core/reload-tls.js';
import { waitingKeys } from '../config/changed-keys.js';
import type { Keyring } from '../crypto/keyring.js';
import { openAuditLog, type AuditLog } from '../observability/audit.js';
import type { Logger } from '../observability/logger.js';
import type { Storage } from '../storage/types.js';
import { clientsChangeStamp } from '../storage/open.js';
import { ClientCache } from './clients.js';
import { syncConfiguredClientsRevokingRemoved } from './config-clients.js';
import { RedisSsoSessionStore } from './sessions/redis-store.js';
import { endpointsFor, type AuthContext } from './context.js';
import { createAuthEvents } from './events.js';
import { authHandler } from './router.js';
import { logoutDeps } from './logout/end-sessions.js';
import { startBackchannelRetries } from './logout/retries.js';
import { syncConfiguredUsersSigningOutRemoved } from './users/removed.js';

export interface AuthServerDeps {
  config: Config;
  storage: Storage;
  keyring: Keyring;
  clock: Clock;
  logger: Logger;
  redis?: Redis;
  /** the process's event bus when a gateway runs in this process too (revocations reach it without Redis) */
  events?: EventBus;
  /** the audit log to use; absent: the one auth.audit asks for */
  audit?: AuditLog;
}

export interface RunningAuthServer {
  ctx: AuthContext;
  listener: RunningListener;
  /**
   * SIGHUP: the file's `auth.clients` and `auth.users` apply as they would at a start
   * (removed ones revoked and signed out everywhere); other changed `auth` keys are named in
   * a warning and wait for a restart. Reloads run one at a time.
   */
  reload(next: AuthConfig): Promise<void>;
  close(): Promise<void>;
}

/**
 * How long a cached client is used without reading it again, at most: changes made by another
 * process apply within this time (SQLite notices them sooner, see clientsChangeStamp).
 */
export const CLIENT_CACHE_MAX_TTL_MS = 2000;

function createAuthContext(deps: AuthServerDeps): AuthContext {
  const auth = deps.config.auth;
  if (!auth) throw new Error('auth: the configuration has no auth section');
  const clients = new ClientCache(deps.storage.clients, {
    // as fresh as the signing keys (keys.refresh_interval), and never older than 2 s
    ttlMs: Math.min(deps.config.keys.refresh_interval * 1000, CLIENT_CACHE_MAX_TTL_MS),
    changeStamp: clientsChangeStamp(deps.storage),
  });
  return {
    config: deps.config,
    auth,
    storage: deps.storage,
    keyring: deps.keyring,
    clock: deps.clock,
    logger: deps.logger,
    endpoints: endpointsFor(deps.config.issuer),
    failures: deps.redis ? redisCounter(deps.redis) : memoryCounter(),
    ssoSessions: deps.redis ? new RedisSsoSessionStore(deps.redis) : deps.storage.ssoSessions,
    clients,
    events: createAuthEvents({ bus: deps.events, redis: deps.redis, logger: deps.logger }),
    audit: deps.audit ?? openAuditLog(deps.config, deps.logger),
  };
}

export async function startAuthServer(deps: AuthServerDeps): Promise<RunningAuthServer> {
  const ctx = createAuthContext(deps);
  // clients removed from the file: deleted, their tokens revoked, the gateways told
  await syncConfiguredClientsRevokingRemoved(ctx);
  // users removed from the file: deleted, signed out everywhere, announced to the gateways
  await syncConfiguredUsersSigningOutRemoved(ctx);
  // every stored client: the config file's (just synced) and those made by the CLI
  for (const c of await deps.storage.clients.list()) {
    const legacy = c.grant_types.filter((g) => g === 'password' || g === 'implicit');
    if (legacy.length > 0) {
      deps.logger.warn({ client_id: c.client_id, grant_types: legacy }, 'legacy grant enabled for client; RFC 9700 says not to use it');
    }
  }
  const readiness: Record<string, () => Promise<void>> = { storage: () => deps.storage.ping() };
  if (deps.redis) readiness.redis = () => pingRedis(deps.redis!);
  const listener = await startListener({
    name: 'auth',
    listen: ctx.auth.listen,
    tls: ctx.auth.tls,
    handler: authHandler(ctx),
    logger: deps.logger,
    readiness,
  });
  const housekeeping = setInterval(() => {
    const now = deps.clock.now();
    Promise.all([deps.storage.tokens.deleteExpired(now - 60), deps.storage.jtis.deleteExpired(now), deps.storage.keys.retireExpired(now), deps.storage.ssoSessions.deleteExpired(now), deps.storage.authCodes.deleteExpired(now - 60)]).catch(
      (err) => deps.logger.warn({ err: (err as Error).message }, 'housekeeping failed'),
    );
  }, 60_000);
  housekeeping.unref();
  // back-channel logout deliveries that failed, from this instance or any other (stored in SQL)
  const retries = startBackchannelRetries(logoutDeps(ctx));
  const stopFollowing = followClientChanges(ctx, deps);
  let reloading: Promise<void> = Promise.resolve();
  return {
    ctx,
    listener,
    reload(next) {
      // after the previous one, whether it worked or not (a failed reload must not stop the next)
      reloading = reloading
        .catch(() => undefined)
        .then(async () => {
          const renewed = ctx.auth.tls !== undefined && next.tls !== undefined;
          await reloadEntities(ctx, next);
          // a renewed certificate (the same or other files): new handshakes get it
          if (renewed) reloadCertificate(listener.server, next.tls!, 'auth.tls', ctx.logger, 'auth');
        });
      return reloading;
    },
    close: async () => {
      clearInterval(housekeeping);
      await stopFollowing();
      await listener.close();
      // after the requests (a logout's first attempts): attempts under way aborted, claims released
      await retries.stop();
      await ctx.audit.close?.();
    },
  };
}

async function reloadEntities(ctx: AuthContext, next: AuthConfig): Promise<void> {
  // tls: its files are read again by reload (above) while TLS stays on; turning it on or off waits
  const tlsStays = ctx.auth.tls !== undefined && next.tls !== undefined;
  const waiting = waitingKeys('auth', ctx.auth, next);
  if (waiting.length > 0) ctx.logger.warn({ keys: waiting }, 'reload: these auth settings changed and apply at the next start');
  ctx.auth = { ...ctx.auth, clients: next.clients, users: next.users, ...(tlsStays ? { tls: next.tls } : {}) };
  ctx.config = { ...ctx.config, auth: ctx.auth };
  const removed = await syncConfiguredClientsRevokingRemoved(ctx);
  // this process's cache sees the change at once (others within CLIENT_CACHE_MAX_TTL_MS)
  ctx.clients.clear();
  const users = await syncConfiguredUsersSigningOutRemoved(ctx);
  ctx.logger.info({ clients: next.clients.length, clients_removed: removed.length, users: next.users.length, users_removed: users.pruned.length }, 'reload: auth clients and users applied');
}

/**
 * Clients changed elsewhere (the admin API on a gateway: `client.changed`, `client.revoked`)
 * apply here at once, not after the client cache's TTL: the cache is dropped on each such
 * event, and after a Redis outage (`events.resumed`: some may have been missed). An auth
 * server alone in its process with Redis listens on a bus of its own. Clients change
 * rarely, so dropping all of them costs one read per client afterwards.
 */
function followClientChanges(ctx: AuthContext, deps: AuthServerDeps): () => Promise<void> {
  const own: RunningEventBus | undefined = deps.events === undefined && deps.redis !== undefined ? createEventBus(deps.redis, deps.logger) : undefined;
  const bus = deps.events ?? own;
  if (bus === undefined) return async () => undefined;
  const unsubscribe = bus.subscribe(function onClientEvent(event) {
    if (event.type === 'client.changed' || event.type === 'client.revoked' || event.type === 'events.resumed') ctx.clients.clear();
  });
  return async () => {
    unsubscribe();
    await own?.close();
  };
}
