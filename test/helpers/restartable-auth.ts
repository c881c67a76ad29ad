// An auth server started as `drawbridge start --only auth` starts it, on storage that outlives
// it, so a test can stop it and start the next one with a changed config file (one issuer
// across restarts). It records its log lines (parsed) and, without Redis, the events it puts
// on its in-process bus; with Redis it publishes there itself.
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { startAuthServer } from '../../src/auth/start.js';
import { createEventBus, type GatewayEvent, type RunningEventBus } from '../../src/cache/events.js';
import { connectRedis } from '../../src/cache/redis.js';
import { openKeyring } from '../../src/cli/run.js';
import { validateConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/types.js';
import { systemClock } from '../../src/core/clock.js';
import { createAuditLog } from '../../src/observability/audit.js';
import { openStorage } from '../../src/storage/open.js';
import { freePort, testKeys, TEST_SECRET } from './auth-server.js';

export type Body = Record<string, unknown>;

export interface RestartableAuth {
  base: string;
  config: Config;
  /** events seen on the in-process bus (none with `redis`: the auth server publishes there itself) */
  events: GatewayEvent[];
  /** every log line, parsed */
  lines: Body[];
  close(): Promise<void>;
}

export interface RestartableAuthOptions {
  storage: string;
  issuer: string;
  /** the config file's `auth` section, without `listen` */
  auth: Record<string, unknown>;
  redis?: string;
}

/** Starts the auth server; it is closed after the test at the latest. */
export async function startRestartableAuth(t: TestContext, opts: RestartableAuthOptions): Promise<RestartableAuth> {
  const port = await freePort();
  const config = validateConfig({
    issuer: opts.issuer,
    storage: opts.storage,
    secret: TEST_SECRET,
    log: { level: 'info' },
    keys: testKeys({}),
    ...(opts.redis ? { redis: opts.redis } : {}),
    auth: { listen: `127.0.0.1:${port}`, ...opts.auth },
  });
  const lines: Body[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Body) });
  const storage = await openStorage(config.storage);
  const keyring = openKeyring(config, storage, systemClock, logger);
  await keyring.start();
  const redis = opts.redis ? connectRedis(opts.redis, logger) : undefined;
  const events: GatewayEvent[] = [];
  const bus: RunningEventBus | undefined = redis ? undefined : createEventBus(undefined, logger);
  bus?.subscribe((e) => events.push(e));
  const audit = createAuditLog(undefined, { silent: true }); // audit lines would go to stdout
  const auth = await startAuthServer({ config, storage, keyring, clock: systemClock, logger, redis, events: bus, audit });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await auth.close();
      await bus?.close();
      keyring.stop();
      await redis?.quit();
      await storage.close();
    })());
  t.after(close);
  return { base: `http://127.0.0.1:${port}`, config, events, lines, close };
}

/** Polls `items` (filled by someone else) until one matches, 2 s at most. */
export async function waitFor<T>(items: T[], pred: (item: T) => boolean): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const found = items.find(pred);
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not seen; got ${JSON.stringify(items)}`);
}
