// Wires the roles a config names into one running process: storage, optional Redis,
// the keyring, then the auth server (and, once it exists, the gateway). One close()
// drains listeners first, then closes pools.
import type { Redis } from 'ioredis';
import type { Config } from '../config/types.js';
import { connectRedis } from '../cache/redis.js';
import { systemClock, type Clock } from '../core/clock.js';
import { Keyring } from '../crypto/keyring.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { openStorage } from '../storage/open.js';
import type { Storage } from '../storage/types.js';
import { startAuthServer, type RunningAuthServer } from '../auth/start.js';

export type Role = 'auth' | 'gateway';

export interface RunOptions {
  only?: Role;
  logger?: Logger;
  clock?: Clock;
  /** `drawbridge dev` may run with a generated secret; production start may not */
  dev?: boolean;
}

export interface Running {
  config: Config;
  storage: Storage;
  keyring: Keyring;
  redis?: Redis;
  auth?: RunningAuthServer;
  logger: Logger;
  close(): Promise<void>;
}

export class StartupError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.exitCode = exitCode;
  }
}

/** The longest any token signed by a key can live: how long a rotated-out key stays published. */
export function maxTokenLifetime(config: Config): number {
  let max = config.gateway?.internal_token_ttl ?? 0;
  if (config.auth) {
    max = Math.max(max, config.auth.access_token_ttl, config.auth.introspection_jwt_ttl);
    for (const c of config.auth.clients) max = Math.max(max, c.access_token_ttl ?? 0);
  }
  return max + 60;
}

export function openKeyring(config: Config, storage: Storage, clock: Clock, logger: Logger): Keyring {
  if (!config.secret) throw new StartupError('secret: required to encrypt signing keys', 2);
  return new Keyring({
    repo: storage.keys,
    secret: config.secret,
    alg: config.keys.algorithm,
    clock,
    refreshInterval: config.keys.refresh_interval,
    onError: (err) => logger.warn({ err: (err as Error).message }, 'key refresh failed'),
    onChange: (k) => logger.info({ kid: k.kid, alg: k.alg }, 'signing key in use'),
  });
}

export async function run(config: Config, opts: RunOptions = {}): Promise<Running> {
  const logger = opts.logger ?? createLogger(config.log);
  const clock = opts.clock ?? systemClock;
  const roles: Role[] = opts.only ? [opts.only] : (['auth', 'gateway'] as Role[]).filter((r) => config[r] !== undefined);
  if (roles.length === 0) throw new StartupError('config: configures neither auth nor gateway; nothing to start', 2);
  if (roles.includes('gateway')) {
    if (opts.only === 'gateway') {
      throw new StartupError('gateway: this build does not include the gateway role yet; start with --only auth', 2);
    }
    logger.warn('gateway: configured but not part of this build yet; starting the auth server only');
  }
  if (roles.includes('auth') && !config.auth) throw new StartupError('auth: --only auth needs an auth section in the config', 2);

  let storage: Storage;
  try {
    storage = await openStorage(config.storage);
  } catch (err) {
    throw new StartupError((err as Error).message, 1, err);
  }
  const redis = config.redis ? connectRedis(config.redis, logger) : undefined;
  const keyring = openKeyring(config, storage, clock, logger);
  let auth: RunningAuthServer | undefined;
  try {
    await keyring.start();
    if (config.auth) auth = await startAuthServer({ config, storage, keyring, clock, logger, redis });
  } catch (err) {
    keyring.stop();
    redis?.disconnect();
    await storage.close();
    throw err instanceof StartupError ? err : new StartupError((err as Error).message, 1, err);
  }
  let closing: Promise<void> | undefined;
  return {
    config,
    storage,
    keyring,
    redis,
    auth,
    logger,
    close() {
      closing ??= (async () => {
        await auth?.close();
        keyring.stop();
        if (redis) await redis.quit().catch(() => redis.disconnect());
        await storage.close();
      })();
      return closing;
    },
  };
}
