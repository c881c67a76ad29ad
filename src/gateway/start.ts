// Starts the gateway role: consumers from the config into storage, the plugin chains and
// pools compiled (the config file merged with the admin API's stored entities), the
// listener (with /healthz, /readyz, TLS + HSTS, graceful drain) and WebSocket upgrades,
// then the admin control (admin listener, config.changed events). Every reload recompiles
// and swaps the route table atomically: requests in flight finish on the table they
// started with.
import cluster from 'node:cluster';
import type { Redis } from 'ioredis';
import type { Config, GatewayConfig } from '../config/types.js';
import { pingRedis } from '../cache/redis.js';
import { waitingKeys } from '../config/changed-keys.js';
import type { Clock } from '../core/clock.js';
import { reloadCertificate } from '../core/reload-tls.js';
import { startListener, type RunningListener } from '../core/listener.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Logger } from '../observability/logger.js';
import { openSessionStore, type RunningSessionStore } from '../sessions/open.js';
import type { SessionStore } from '../sessions/types.js';
import type { Storage } from '../storage/types.js';
import { addressMatcher } from './addresses.js';
import { startGatewayControl, withAdminEntities, type GatewayControl, type UserAdminFactory } from './admin/index.js';
import { compileGateway, type RouteTable } from './compile.js';
import { createConsumerStore, syncConfiguredConsumers, type RunningConsumerStore } from './consumers.js';
import { createEventBus, type RunningEventBus } from './events.js';
import { createMetrics, type Metrics } from './metrics.js';
import { joinClusterMetrics } from './metrics-cluster.js';
import { headerPolicy } from './mutate/headers.js';
import { InternalTokenMinter } from './mutate/internal-token.js';
import { PLUGINS } from './plugins.js';
import { gatewayHandler, swapTable, type GatewayState } from './server.js';
import { upgradeHandler } from './upgrade.js';
import { followSessionEvents } from './session-events.js';
import type { CompiledRoute, ConsumerStore, EventBus, GatewayDeps, PluginFactory } from './types.js';

interface GatewayStartDeps {
  config: Config;
  storage: Storage;
  keyring: Keyring;
  clock: Clock;
  logger: Logger;
  redis?: Redis;
  /** default: the SQL-backed store of src/gateway/consumers.ts */
  consumers?: ConsumerStore;
  /** default: Redis pub/sub when `redis` is set, else in-process */
  events?: EventBus;
  /** default: the plugin table of src/gateway/plugins.ts (tests add their own) */
  plugins?: ReadonlyMap<string, PluginFactory>;
  metrics?: Metrics;
  /** default: built from `gateway.sessions` (src/sessions/open.ts) */
  sessions?: SessionStore;
  /** the auth server's user operations for the admin API's /users (the CLI's wiring hands them in); absent: no /users */
  users?: UserAdminFactory;
}

export interface RunningGateway {
  /** the gateway listener's URL */
  readonly url: string;
  /** the admin listener's URL, when `gateway.admin_listen` is set */
  readonly adminUrl?: string;
  readonly listener: RunningListener;
  readonly deps: GatewayDeps;
  readonly metrics: Metrics;
  /** the routes of the table in use */
  readonly routes: readonly CompiledRoute[];
  /**
   * A freshly loaded config file (SIGHUP): merged with the admin API's entities, its
   * consumers synced, services, routes and plugins recompiled, the route table swapped;
   * then `admin_token`, `hsts`, `trusted_proxies`, `strip_headers` and `forward_auth` apply,
   * and every listener reads its TLS certificate and key again. Throws (ConfigError) and
   * keeps the running configuration when the config is bad. Other gateway settings (listen,
   * admin_listen, workers, turning TLS on or off, sessions, internal_token_ttl) need a
   * restart: a changed one is named in a warning.
   */
  reload(config: Config): Promise<void>;
  close(): Promise<void>;
}

function hstsValue(gateway: GatewayConfig): string {
  const h = gateway.hsts;
  return `max-age=${h.max_age}${h.include_subdomains ? '; includeSubDomains' : ''}${h.preload ? '; preload' : ''}`;
}

export async function startGateway(deps: GatewayStartDeps): Promise<RunningGateway> {
  const { config, storage, keyring, clock, logger, redis } = deps;
  const gw = config.gateway;
  if (!gw) throw new Error('gateway: the configuration has no gateway section');
  if (!config.secret) throw new Error('secret: required by the gateway (credential digests, sealed secrets)');
  const secret = config.secret;
  const plugins = deps.plugins ?? PLUGINS;
  // a worker's /metrics answers for every worker (the primary merges them)
  const clustered = deps.metrics === undefined && cluster.isWorker && gw.workers !== 1 ? joinClusterMetrics(createMetrics()) : undefined;
  const metrics = deps.metrics ?? clustered?.metrics ?? createMetrics();

  const ownEvents: RunningEventBus | undefined = deps.events ? undefined : createEventBus(redis, logger);
  const events = deps.events ?? ownEvents!;
  const ownConsumers: RunningConsumerStore | undefined = deps.consumers
    ? undefined
    : createConsumerStore(storage, { secret, clock, logger, events });
  const consumers = deps.consumers ?? ownConsumers!;
  const ownSessions: RunningSessionStore | undefined = deps.sessions ? undefined : await openGatewaySessions(deps);
  const sessions = deps.sessions ?? ownSessions;
  const gatewayDeps: GatewayDeps = { storage, keyring, clock, logger, redis, issuer: config.issuer, secret, consumers, events, sessionSettings: gw.sessions, sessions };
  // revocations end browser sessions; SQL sessions past their absolute end are swept hourly
  const stopSessionEvents = sessions ? followSessionEvents({ store: sessions, events, issuer: config.issuer, logger }) : undefined;
  const sweep = ownSessions?.kind === 'sql' ? sweepExpiredSessions(ownSessions, clock, logger) : undefined;

  let listener: RunningListener | undefined;
  let table: RouteTable | undefined;
  let control: GatewayControl | undefined;
  try {
    const merged = await withAdminEntities(storage, config);
    await syncConfiguredConsumers(storage, merged.gateway!, secret, { now: clock.now() });
    ownConsumers?.invalidate();
    table = await compileGateway(merged.gateway!, gatewayDeps, plugins);
    let trusted = addressMatcher(gw.trusted_proxies);
    const minter = new InternalTokenMinter({ keyring, issuer: config.issuer, clock, ttl: gw.internal_token_ttl });
    const port = gw.listen.slice(gw.listen.lastIndexOf(':') + 1);
    const state: GatewayState = {
      current: { table, active: 0, retired: false },
      minter,
      policy: headerPolicy(trusted, gw.strip_headers, port),
      trusted,
      scheme: gw.tls ? 'https' : 'http',
      hsts: gw.tls ? hstsValue(gw) : null,
      forwardAuth: gw.forward_auth.enabled ? { path: gw.forward_auth.path, allow: addressMatcher(gw.forward_auth.allow) } : null,
      logger,
      metrics,
      sockets: new Set(),
    };
    metrics.watchTargets(() => state.current.table.upstreams.flatMap((u) => u.states()));
    const readiness: Record<string, () => Promise<void>> = { storage: () => storage.ping() };
    if (redis) readiness.redis = () => pingRedis(redis);
    listener = await startListener({ name: 'gateway', listen: gw.listen, tls: gw.tls, handler: gatewayHandler(state), logger, readiness });
    // Uploads through a gateway may take long: no cap on the whole request, only on headers.
    listener.server.requestTimeout = 0;
    listener.server.on('upgrade', upgradeHandler(state));
    // with port 0 the real port is known only now
    const listenPort = new URL(listener.url).port;
    state.policy = headerPolicy(trusted, gw.strip_headers, listenPort);
    const running = listener;

    /** Compile a complete configuration and swap it in (the admin control merges before calling). */
    async function applyConfig(next: Config): Promise<void> {
      const nextGw = next.gateway;
      if (!nextGw) throw new Error('gateway: the new configuration has no gateway section');
      await syncConfiguredConsumers(storage, nextGw, secret, { now: clock.now() });
      ownConsumers?.invalidate();
      const nextTable = await compileGateway(nextGw, gatewayDeps, plugins);
      swapTable(state, nextTable);
      minter.clear();
      logger.info({ routes: nextTable.routes.length }, 'gateway configuration applied');
    }

    control = await startGatewayControl({
      config,
      reload: applyConfig,
      storage,
      events,
      clock,
      logger,
      metrics,
      plugins,
      readiness,
      applyAtStart: false, // compiled with the stored entities above
      sessions,
      users: deps.users,
    });
    const admin = control;

    /**
     * After a reload of the file: the listener settings that can change in place do; the
     * others are named in a warning (they apply at the next start of the gateway).
     */
    const startedGw: GatewayConfig = gw;
    function applyListenerSettings(nextGw: GatewayConfig): void {
      const gw = startedGw;
      const waiting = waitingKeys('gateway', gw, nextGw);
      if (waiting.length > 0) logger.warn({ keys: waiting }, 'reload: these gateway settings changed and apply at the next start');
      trusted = addressMatcher(nextGw.trusted_proxies);
      state.trusted = trusted;
      state.policy = headerPolicy(trusted, nextGw.strip_headers, listenPort);
      state.forwardAuth = nextGw.forward_auth.enabled ? { path: nextGw.forward_auth.path, allow: addressMatcher(nextGw.forward_auth.allow) } : null;
      if (gw.tls && nextGw.tls) {
        state.hsts = hstsValue(nextGw);
        reloadCertificate(running.server, nextGw.tls, 'gateway.tls', logger, 'gateway');
        if (admin.adminListener) reloadCertificate(admin.adminListener.server, nextGw.tls, 'gateway.tls', logger, 'admin');
      }
    }
    // cached internal tokens must not outlive a revocation of what they stand for (an ended
    // gateway session needs nothing here: its cookie no longer authenticates, so the tokens
    // minted for its sid are never served again)
    const unsubscribe = events.subscribe(function onGatewayEvent(event) {
      if (event.type !== 'config.changed' && event.type !== 'gateway-session.ended') minter.clear();
    });

    let closing: Promise<void> | undefined;
    return {
      url: listener.url,
      adminUrl: admin.adminUrl,
      listener,
      deps: gatewayDeps,
      metrics,
      get routes() {
        return state.current.table.routes;
      },
      async reload(next: Config) {
        await admin.reloadFile(next);
        applyListenerSettings(next.gateway!);
      },
      close() {
        closing ??= (async () => {
          // admin first: no configuration change may land while the gateway drains
          await admin.close();
          clustered?.stop();
          await running.close();
          for (const socket of state.sockets) socket.destroy();
          unsubscribe();
          await state.current.table.close();
          ownConsumers?.close();
          stopSessionEvents?.();
          if (sweep) clearInterval(sweep);
          await ownSessions?.close();
          await ownEvents?.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    clustered?.stop();
    await control?.close();
    await listener?.close();
    await table?.close();
    ownConsumers?.close();
    stopSessionEvents?.();
    if (sweep) clearInterval(sweep);
    await ownSessions?.close();
    await ownEvents?.close();
    throw err;
  }
}

/**
 * The browser-session store of `gateway.sessions`; undefined (logged) when it cannot be built
 * here, e.g. a Storage not opened by openStorage — the session plugins then refuse to start.
 */
async function openGatewaySessions(deps: GatewayStartDeps): Promise<RunningSessionStore | undefined> {
  try {
    return await openSessionStore({ config: deps.config, storage: deps.storage, redis: deps.redis, clock: deps.clock, logger: deps.logger, connectWaitMs: 1000 });
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message }, 'gateway sessions unavailable: no session store');
    return undefined;
  }
}

const SESSION_SWEEP_MS = 60 * 60 * 1000;

function sweepExpiredSessions(store: SessionStore, clock: Clock, logger: Logger): NodeJS.Timeout {
  const timer = setInterval(function sweepSessions() {
    store.deleteExpired(clock.now()).then(
      (n) => n > 0 && logger.debug({ sessions: n }, 'expired gateway sessions removed'),
      (err: unknown) => logger.warn({ err: (err as Error).message }, 'expired gateway sessions: sweep failed'),
    );
  }, SESSION_SWEEP_MS);
  timer.unref();
  return timer;
}
