// Wires the roles a config names into one running process: storage, optional Redis,
// the keyring, then the auth server and the gateway. One close() drains listeners first,
// then closes pools.
import type { Redis } from 'ioredis';
import { rolesToStart, type Role } from '../config/load.js';
import { ConfigError } from '../config/schema.js';
import type { Config } from '../config/types.js';
import { createEventBus } from '../cache/events.js';
import { connectRedis } from '../cache/redis.js';
import { systemClock, type Clock } from '../core/clock.js';
import { Keyring } from '../crypto/keyring.js';
import { openAuditLog, type AuditLog } from '../observability/audit.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { openStorage } from '../storage/open.js';
import type { Storage } from '../storage/types.js';
import type { RunningAuthServer } from '../auth/start.js';
import { logoutDeps } from '../auth/logout/end-sessions.js';
import { userAdmin } from '../auth/users/manage.js';
import { logoutDepsWithoutServer, signOutUser } from '../auth/users/sign-out.js';
import type { UserAdminFactory } from '../gateway/admin/index.js';
import type { RunningGateway } from '../gateway/start.js';
import { StartupError } from './errors.js';
import type { PluginFactory } from '../gateway/types.js';

export type { Role } from '../config/load.js';

interface RunOptions {
  only?: Role;
  logger?: Logger;
  clock?: Clock;
  /** `drawbridge dev` may run with a generated secret; production start may not */
  dev?: boolean;
  /** the gateway's plugin table (default: src/gateway/plugins.ts); tests add test-only plugins */
  gatewayPlugins?: ReadonlyMap<string, PluginFactory>;
}

export interface Running {
  config: Config;
  storage: Storage;
  keyring: Keyring;
  redis?: Redis;
  auth?: RunningAuthServer;
  gateway?: RunningGateway;
  logger: Logger;
  /** the audit log in use: the auth server's, or (gateway alone) the one the admin API's user changes write to */
  audit?: AuditLog;
  close(): Promise<void>;
}

export { StartupError } from './errors.js';

/** The longest any token signed by a key can live: how long a rotated-out key stays published. */
function maxTokenLifetime(config: Config): number {
  let max = config.gateway?.internal_token_ttl ?? 0;
  if (config.auth) {
    max = Math.max(max, config.auth.access_token_ttl, config.auth.introspection_jwt_ttl);
    for (const c of config.auth.clients) max = Math.max(max, c.access_token_ttl ?? 0);
  }
  return max + 60;
}

/**
 * maxTokenLifetime with the stored clients too: one made through the admin API (or kept from an
 * earlier config) may have a longer access_token_ttl than any client of the file.
 */
export async function storedTokenLifetime(config: Config, storage: Storage): Promise<number> {
  let max = maxTokenLifetime(config);
  for (const c of await storage.clients.list()) if (c.access_token_ttl !== null) max = Math.max(max, c.access_token_ttl + 60);
  return max;
}

export function openKeyring(config: Config, storage: Storage, clock: Clock, logger: Logger): Keyring {
  if (!config.secret) throw new StartupError('secret: required to encrypt signing keys', 2);
  return new Keyring({
    repo: storage.keys,
    secret: config.secret,
    alg: config.keys.algorithm,
    idTokenAlgs: config.keys.id_token_algorithms,
    clock,
    refreshInterval: config.keys.refresh_interval,
    // a next key taking over: the key it replaces stays published until its tokens expired
    publishPreviousFor: () => storedTokenLifetime(config, storage),
    onError: (err) => logger.warn({ err: (err as Error).message }, 'key refresh failed'),
    onChange: (k) => logger.info({ kid: k.kid, alg: k.alg }, 'signing key in use'),
  });
}

export async function run(config: Config, opts: RunOptions = {}): Promise<Running> {
  const logger = opts.logger ?? createLogger(config.log);
  const clock = opts.clock ?? systemClock;
  const roles = rolesToStart(config, opts.only);

  let storage: Storage;
  try {
    storage = await openStorage(config.storage);
  } catch (err) {
    throw new StartupError((err as Error).message, 1, err);
  }
  const redis = config.redis ? connectRedis(config.redis, logger) : undefined;
  const keyring = openKeyring(config, storage, clock, logger);
  // both roles in one process share one bus, so revocations reach the gateway even without Redis
  const events = roles.includes('auth') && roles.includes('gateway') ? createEventBus(redis, logger) : undefined;
  let auth: RunningAuthServer | undefined;
  let gateway: RunningGateway | undefined;
  // a gateway alone audits its admin API's user changes as the auth server would
  let ownAudit: AuditLog | undefined;
  // the admin API's /users: the operations of `drawbridge user`, which the gateway may not import
  const users: UserAdminFactory = (env) => {
    const audit = auth?.ctx.audit ?? (ownAudit ??= openAuditLog(config, logger));
    // sign-outs end SSO sessions through the auth server's own logout path when it runs here,
    // else (a gateway alone) where it keeps them, as `drawbridge session revoke` does
    const logout = auth
      ? logoutDeps(auth.ctx)
      : logoutDepsWithoutServer({ config, storage, keyring, clock, logger, redis, publish: (event) => env.events.publish(event), audit });
    return userAdmin({
      storage,
      clock,
      auth: () => env.config().auth,
      async signOut(user, change) {
        // the gateway sessions first: the `user.revoked` the sign-out publishes ends them too,
        // and the answer would then miss them
        const gateway = await env.endGatewaySessions(user.id);
        const sso = await signOutUser(logout, audit, user, { source: 'admin', ...change });
        return { ...sso, sessions: [...sso.sessions, ...gateway] };
      },
      audit,
      source: 'admin',
    });
  };
  try {
    await keyring.start();
    // the auth server and the gateway are loaded only when the process runs them (an auth
    // server alone never loads the proxy, the plugins or their HTTP client; a gateway alone
    // loads only the user operations its admin API's /users needs)
    if (roles.includes('auth')) {
      const { startAuthServer } = await import('../auth/start.js');
      auth = await startAuthServer({ config, storage, keyring, clock, logger, redis, events });
    }
    if (roles.includes('gateway')) {
      const { startGateway } = await import('../gateway/start.js');
      gateway = await startGateway({ config, storage, keyring, clock, logger, redis, events, plugins: opts.gatewayPlugins, users });
    }
  } catch (err) {
    await auth?.close();
    await gateway?.close();
    await ownAudit?.close?.();
    await events?.close();
    keyring.stop();
    redis?.disconnect();
    await storage.close();
    // a plugin config the gateway rejects is a config error (exit 2), not a runtime failure
    throw err instanceof StartupError || err instanceof ConfigError ? err : new StartupError((err as Error).message, 1, err);
  }
  let closing: Promise<void> | undefined;
  return {
    config,
    storage,
    keyring,
    redis,
    auth,
    gateway,
    logger,
    audit: auth?.ctx.audit ?? ownAudit,
    close() {
      closing ??= (async () => {
        // both listeners drain at once: neither role waits on the other
        await Promise.all([gateway?.close(), auth?.close()]);
        await ownAudit?.close?.();
        await events?.close();
        keyring.stop();
        if (redis) await redis.quit().catch(() => redis.disconnect());
        await storage.close();
      })();
      return closing;
    },
  };
}
