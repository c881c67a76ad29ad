// The databases every storage suite runs against: memory:, a SQLite file in a temp dir, and
// the real PostgreSQL in a throw-away schema (skipped loudly when it is not reachable).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach } from 'node:test';
import pg from 'pg';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { freshPostgresSchema, migratedPostgresSchema, postgresUrl } from '../helpers/services.js';

export interface Place {
  url: string;
  /** Remove every trace (temp dir, schema). */
  cleanup(): Promise<void>;
}

export interface Target {
  name: string;
  /** A reason to skip, or undefined to run. */
  skip: string | undefined;
  /** Which adapters hold tokens and jtis: Maps (src/storage/memory/) or SQL (src/storage/repos/). */
  tokenStore: 'memory' | 'sql';
  /** A fresh, empty database. */
  prepare(): Promise<Place>;
  /**
   * A migrated database for a whole suite, emptied before each test (`empty`), where making
   * one per test is slow: PostgreSQL's migrations are DDL, about 0.3 s a schema. Absent:
   * prepare() per test.
   */
  shared?(): Promise<Place & { empty(): Promise<void> }>;
}

/** SQLite in memory, with the Map adapters for tokens and jtis: the suite covers those too. */
export const memoryTarget: Target = {
  name: 'memory:',
  skip: undefined,
  tokenStore: 'memory',
  async prepare() {
    return { url: 'memory:', cleanup: async () => undefined };
  },
};

export const sqliteFileTarget: Target = {
  name: 'sqlite file',
  skip: undefined,
  tokenStore: 'sql',
  async prepare() {
    const dir = await mkdtemp(join(tmpdir(), 'drawbridge-storage-'));
    // a parent directory that does not exist yet: openStorage creates it
    return {
      url: `sqlite:${join(dir, 'data', 'drawbridge.db')}`,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

export async function postgresTarget(): Promise<Target> {
  const base = await postgresUrl();
  return {
    name: 'postgres',
    skip: base === undefined ? 'PostgreSQL not reachable (see the SKIPPED line above)' : undefined,
    tokenStore: 'sql',
    async prepare() {
      if (base === undefined) throw new Error('postgres target is skipped');
      const schema = await freshPostgresSchema(base);
      return { url: schema.url, cleanup: schema.drop };
    },
    async shared() {
      if (base === undefined) throw new Error('postgres target is skipped');
      const schema = await migratedPostgresSchema(base);
      // every table the migrations made but their own bookkeeping (no migration inserts rows),
      // emptied with DELETE, those that reference others first: on tables this small that takes
      // about 2 ms where one TRUNCATE of them all takes about 80 ms (a new file per table)
      const tables = await withClient(schema.url, (client) => tablesReferencingFirst(client));
      const empty = `begin; ${tables.map((t) => `delete from "${t}";`).join(' ')} commit;`;
      return {
        url: schema.url,
        cleanup: schema.drop,
        empty: () => withClient(schema.url, async (client) => void (await client.query(empty))),
      };
    },
  };
}

/** The schema's tables (but the migrations' bookkeeping), each after every table that references it. */
async function tablesReferencingFirst(client: pg.Client): Promise<string[]> {
  const tables = (
    await client.query<{ t: string }>("select tablename as t from pg_tables where schemaname = current_schema() and tablename not like 'drawbridge_migration%'")
  ).rows.map((r) => r.t);
  const refs = (
    await client.query<{ child: string; parent: string }>(
      `select c.relname as child, p.relname as parent from pg_constraint k
         join pg_class c on c.oid = k.conrelid join pg_class p on p.oid = k.confrelid
         join pg_namespace n on n.oid = c.relnamespace
        where k.contype = 'f' and n.nspname = current_schema() and c.relname <> p.relname`,
    )
  ).rows;
  const order: string[] = [];
  const placed = new Set<string>();
  const place = (t: string) => {
    if (placed.has(t)) return;
    placed.add(t);
    for (const r of refs) if (r.parent === t) place(r.child); // what references t goes first
    order.push(t);
  };
  for (const t of tables) place(t);
  return order.filter((t) => tables.includes(t));
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function allTargets(): Promise<Target[]> {
  return [memoryTarget, sqliteFileTarget, await postgresTarget()];
}

/**
 * Every test of the enclosing describe gets a fresh, migrated database on `target`, handed to
 * `opened` (the suite keeps it in its own variables), and closed and removed afterwards.
 */
export function eachFreshStorage(target: Target, opened: (storage: Storage, place: Place) => void | Promise<void>): void {
  if (target.shared !== undefined && target.skip === undefined) return eachEmptiedStorage(target.shared.bind(target), opened);
  let place: Place | undefined;
  let storage: Storage | undefined;
  beforeEach(async () => {
    place = await target.prepare();
    try {
      storage = await openStorage(place.url, { autoMigrate: true });
    } catch (err) {
      await place.cleanup(); // afterEach would close the previous test's storage instead
      place = undefined;
      throw err;
    }
    await opened(storage, place);
  });
  afterEach(async () => {
    await storage?.close();
    await place?.cleanup();
    storage = undefined;
    place = undefined;
  });
}

/** eachFreshStorage on one migrated database for the suite, emptied before each test. */
function eachEmptiedStorage(shared: NonNullable<Target['shared']>, opened: (storage: Storage, place: Place) => void | Promise<void>): void {
  let place: (Place & { empty(): Promise<void> }) | undefined;
  let storage: Storage | undefined;
  before(async () => {
    place = await shared();
  });
  after(async () => {
    await place?.cleanup();
  });
  beforeEach(async () => {
    await place!.empty();
    storage = await openStorage(place!.url, { autoMigrate: true });
    await opened(storage, place!);
  });
  afterEach(async () => {
    await storage?.close();
    storage = undefined;
  });
}
