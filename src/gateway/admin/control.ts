// Keeps a running gateway's configuration current: the config file merged with the
// entities the admin API stored. Applies them at start, follows `config.changed` events
// (an admin change on any instance), reloads the file on request (SIGHUP), and runs the
// admin listener when `gateway.admin_listen` is set.
//
// Layering: `reload` below is the gateway's pure "compile this complete config and swap"
// step; the control merges before calling it. Wiring in src/gateway/start.ts:
//   const control = await startGatewayControl({ config, reload: applyConfig, storage, events,
//     clock, logger, metrics, plugins });          // applyConfig = sync consumers + compile + swap
//   RunningGateway.adminUrl = control.adminUrl
//   RunningGateway.reload(fileConfig) = control.reloadFile(fileConfig)   // SIGHUP keeps admin entities
//   close(): await control.close() before the listener drains
// (Compiling `await withAdminEntities(storage, config)` at start and passing
// `applyAtStart: false` saves the one extra compile at start.)
import type { Config } from '../../config/types.js';
import type { Clock } from '../../core/clock.js';
import type { ReadinessCheck, RunningListener } from '../../core/listener.js';
import type { Logger } from '../../observability/logger.js';
import type { SessionStore } from '../../sessions/types.js';
import type { Storage } from '../../storage/types.js';
import { credentialKeys } from '../credentials.js';
import type { Metrics } from '../metrics.js';
import type { EventBus, PluginFactory } from '../types.js';
import type { AdminContext, UserAdminFactory } from './context.js';
import { mergeAdminEntities } from './merge.js';
import { assertAdminListenSafe, startAdminListener } from './server.js';
import { endGatewaySessions } from './sessions.js';

export interface GatewayControlOptions {
  /** the config file as loaded (its gateway section is what admin entities merge into) */
  config: Config;
  /** applies a complete configuration on this instance; throws ConfigError and keeps the old one when bad */
  reload(config: Config): Promise<void>;
  storage: Storage;
  events: EventBus;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  plugins: ReadonlyMap<string, PluginFactory>;
  readiness?: Record<string, ReadinessCheck>;
  /** apply stored admin entities at start (default true; false when the caller compiled withAdminEntities already) */
  applyAtStart?: boolean;
  /** the browser-session store, for /sessions */
  sessions?: SessionStore;
  /** the auth server's user operations, for /users */
  users?: UserAdminFactory;
}

export interface GatewayControl {
  readonly adminUrl?: string;
  readonly adminListener?: RunningListener;
  /** the config file as last loaded */
  readonly config: Config;
  /** SIGHUP: a freshly loaded config file, merged with the admin entities and applied */
  reloadFile(config: Config): Promise<void>;
  /** re-merge and apply now (what a config.changed event does) */
  applyEntities(): Promise<void>;
  close(): Promise<void>;
}

/** `config` with its gateway section merged with the stored admin entities. */
export async function withAdminEntities(storage: Storage, config: Config): Promise<Config> {
  if (!config.gateway) return config;
  const entities = await storage.entities.list();
  if (entities.length === 0) return config;
  return { ...config, gateway: mergeAdminEntities(config.gateway, entities) };
}

export async function startGatewayControl(opts: GatewayControlOptions): Promise<GatewayControl> {
  let fileConfig = opts.config;
  if (!fileConfig.gateway) throw new Error('gateway: the configuration has no gateway section');
  if (!fileConfig.secret) throw new Error('secret: required by the admin API (credential digests, sealed secrets)');

  // Applies run one at a time, each reading the newest entities when its turn comes, so a
  // slow compile can never swap in an older configuration after a newer one. Events queue at
  // most one follow-up apply (a burst of admin changes costs at most two compiles).
  let chain: Promise<void> = Promise.resolve();
  let followQueued = false;
  async function apply(): Promise<void> {
    await opts.reload(await withAdminEntities(opts.storage, fileConfig));
  }
  function serial(fn: () => Promise<void>): Promise<void> {
    const next = chain.then(fn);
    chain = next.catch(() => undefined);
    return next;
  }
  function follow(): void {
    if (followQueued) return;
    followQueued = true;
    serial(() => {
      followQueued = false;
      return apply();
    }).catch((err: unknown) => opts.logger.error({ err }, 'gateway: could not apply the changed configuration; keeping the running one'));
  }

  const unsubscribe = opts.events.subscribe(function onConfigChanged(event) {
    if (event.type === 'config.changed') follow();
  });

  if (opts.applyAtStart ?? true) {
    if ((await opts.storage.entities.list()).length > 0) await apply();
  }

  const ctx: AdminContext = {
    storage: opts.storage,
    events: opts.events,
    keys: credentialKeys(fileConfig.secret),
    clock: opts.clock,
    logger: opts.logger,
    metrics: opts.metrics,
    plugins: opts.plugins,
    sessions: opts.sessions,
    users: opts.users?.({
      events: opts.events,
      config: () => fileConfig,
      endGatewaySessions: async (sub) => (opts.sessions ? endGatewaySessions(opts.sessions, opts.events, sub) : []),
    }),
    fileConfig: () => fileConfig.gateway!,
    clientRules: () => ({
      issuer: fileConfig.issuer,
      keys: { algorithm: fileConfig.keys.algorithm, id_token_algorithms: fileConfig.keys.id_token_algorithms },
      fileClientIds: new Set((fileConfig.auth?.clients ?? []).map((c) => c.client_id)),
    }),
    async applyEntities() {
      // this instance first, synchronously with the admin request (a bad entity is refused)…
      await serial(apply);
      // …then every other instance
      await opts.events.publish({ type: 'config.changed' });
    },
  };

  const gw = fileConfig.gateway;
  let adminListener: RunningListener | undefined;
  if (gw.admin_listen !== undefined) {
    try {
      adminListener = await startAdminListener(ctx, { listen: gw.admin_listen, token: () => fileConfig.gateway!.admin_token, tls: gw.tls, readiness: opts.readiness });
    } catch (err) {
      unsubscribe();
      throw err;
    }
  }

  return {
    adminUrl: adminListener?.url,
    adminListener,
    get config() {
      return fileConfig;
    },
    reloadFile(config: Config) {
      if (!config.gateway) return Promise.reject(new Error('gateway: the reloaded configuration has no gateway section'));
      // the new admin_token applies (read per request): refused like at a start, on the listener in use
      if (gw.admin_listen !== undefined) {
        try {
          assertAdminListenSafe(gw.admin_listen, config.gateway.admin_token);
        } catch (err) {
          return Promise.reject(err as Error);
        }
      }
      return serial(async () => {
        await opts.reload(await withAdminEntities(opts.storage, config));
        fileConfig = config;
      });
    },
    applyEntities: ctx.applyEntities,
    async close() {
      unsubscribe();
      await adminListener?.close();
      await chain;
    },
  };
}
