// Storage URLs of a fresh database per test, for suites that start servers on storage that
// outlives one server (a restart on the same data): a SQLite file in a temporary directory,
// and a fresh PostgreSQL schema, migrated (PostgreSQL is never migrated implicitly). Both
// are removed by t.after. PostgreSQL's storage() is undefined when it is not reachable.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { migratedPostgresSchema, postgresUrl } from './services.js';

export interface PersistentTarget {
  name: 'SQLite file' | 'PostgreSQL';
  /** a storage URL for this test, cleaned up by t.after; undefined: PostgreSQL not reachable */
  storage(t: TestContext): Promise<string | undefined>;
}

/** The SQLite-file and PostgreSQL targets; `prefix` names the temporary directories. */
export function persistentTargets(prefix: string): PersistentTarget[] {
  return [
    {
      name: 'SQLite file',
      async storage(t) {
        const dir = await mkdtemp(join(tmpdir(), prefix));
        t.after(() => rm(dir, { recursive: true, force: true }));
        return `sqlite:${join(dir, 'db.sqlite')}`;
      },
    },
    {
      name: 'PostgreSQL',
      async storage(t) {
        const base = await postgresUrl();
        if (base === undefined) return undefined;
        const schema = await migratedPostgresSchema(base);
        t.after(() => schema.drop());
        return schema.url;
      },
    },
  ];
}
