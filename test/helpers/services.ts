// External services for tests: PostgreSQL and Redis. A suite that needs one asks here;
// when the service is down the suite is skipped with a LOUD line on stderr, except in CI
// (DRAWBRIDGE_REQUIRE_SERVICES=1), where a missing service fails the run instead.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { openStorage } from '../../src/storage/open.js';

const DEFAULT_POSTGRES = 'postgres://postgres@127.0.0.1:5432/test';
const DEFAULT_REDIS = 'redis://127.0.0.1:6379';
// A service that is not there refuses at once; a long wait is only for one that is there but
// slow to answer on a loaded machine (2 s once timed out with the load average at 13, and
// skipped PostgreSQL's suites: a failure under DRAWBRIDGE_REQUIRE_SERVICES)
const PROBE_TIMEOUT_MS = 15_000;

let postgresProbe: Promise<string | undefined> | undefined;
let redisProbe: Promise<string | undefined> | undefined;

/**
 * The test PostgreSQL URL when reachable, else undefined (after a loud SKIPPED line). Probed once per process.
 * DRAWBRIDGE_TEST_POSTGRES=off leaves PostgreSQL out on purpose, quietly (test/compat/node24.test.ts:
 * a second run of the storage suites for the SQLite driver).
 */
export function postgresUrl(): Promise<string | undefined> {
  if (process.env.DRAWBRIDGE_TEST_POSTGRES === 'off') return Promise.resolve(undefined);
  postgresProbe ??= probe('PostgreSQL', process.env.DRAWBRIDGE_TEST_POSTGRES || DEFAULT_POSTGRES, pingPostgres);
  return postgresProbe;
}

/** The test Redis URL when reachable, else undefined (after a loud SKIPPED line). Probed once per process. */
export function redisUrl(): Promise<string | undefined> {
  redisProbe ??= probe('Redis', process.env.DRAWBRIDGE_TEST_REDIS || DEFAULT_REDIS, pingRedis);
  return redisProbe;
}

export interface TestSchema {
  /** `base` with `options=-c search_path=<schema>`: everything opened with it lives in the schema. */
  url: string;
  schema: string;
  /** Drop the schema and everything in it. */
  drop(): Promise<void>;
}

/**
 * A throw-away PostgreSQL schema `t_<random>`, so concurrent test runs never see each other's
 * tables nor touch real data. Call drop() when done (in `after`/`afterEach`).
 */
export async function freshPostgresSchema(base: string): Promise<TestSchema> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  await withPostgresClient(base, async (client) => {
    await client.query(`create schema ${schema}`);
  });
  const url = new URL(base);
  const options = url.searchParams.get('options');
  url.searchParams.set('options', `${options ? `${options} ` : ''}-c search_path=${schema}`);
  return {
    url: url.href,
    schema,
    async drop() {
      await withPostgresClient(base, (client) => client.query(`drop schema if exists ${schema} cascade`));
    },
  };
}

/**
 * freshPostgresSchema with our migrations applied (PostgreSQL is never migrated implicitly):
 * what a suite wants that starts servers or opens storage on it. drop() as for freshPostgresSchema.
 */
export async function migratedPostgresSchema(base: string): Promise<TestSchema> {
  const schema = await freshPostgresSchema(base);
  try {
    await (await openStorage(schema.url, { autoMigrate: true })).close();
  } catch (err) {
    await schema.drop().catch(() => undefined);
    throw err;
  }
  return schema;
}

async function probe(
  name: string,
  url: string,
  ping: (url: string) => Promise<void>,
): Promise<string | undefined> {
  try {
    await ping(url);
    return url;
  } catch (err) {
    const reason = err instanceof Error ? err.message || err.name : String(err);
    const where = redact(url);
    if (process.env.DRAWBRIDGE_REQUIRE_SERVICES === '1') {
      throw new Error(`${name} not reachable at ${where} (${reason}) and DRAWBRIDGE_REQUIRE_SERVICES=1`, {
        cause: err,
      });
    }
    process.stderr.write(
      `\n*** SKIPPED: ${name} not reachable at ${where} — suites needing it are skipped (${reason}) ***\n\n`,
    );
    return undefined;
  }
}

async function pingPostgres(url: string): Promise<void> {
  await withPostgresClient(url, (client) => client.query('select 1'));
}

async function withPostgresClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on('error', () => undefined); // a dropped connection surfaces as the query's rejection
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function pingRedis(url: string): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null, // one attempt: a probe, not a client
    enableOfflineQueue: false,
  });
  // connect() only rejects with "Connection is closed."; the 'error' event says why.
  let cause: unknown;
  redis.on('error', (err: unknown) => (cause ??= err));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw cause ?? err;
  } finally {
    redis.disconnect();
  }
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return '(unparseable URL)';
  }
}
