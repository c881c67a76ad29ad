// Races against a revoking statement on PostgreSQL, made deterministic with row locks: the test
// locks a token's row on a connection of its own ("locker"), starts the revocation, waits until
// its UPDATE is blocked on that row (seen from a third connection, the "observer"), does what
// should race it, then commits the lock. Each race runs on a fresh, migrated schema: the rows'
// order in the table is the order they were stored in, which the tests rely on.
import pg from 'pg';
import { basic, postForm, startAuth, type TestServer } from './auth-server.js';
import { migratedPostgresSchema, type TestSchema } from './services.js';

export interface RowLockRace {
  server: TestServer;
  /** connections of their own, each for one transaction holding row locks */
  lockers: pg.Client[];
  /** Begins a transaction on `locker` and locks the row of the token stored under `digest`. */
  lock(locker: pg.Client, digest: string): Promise<void>;
  /** Resolves once a statement of another connection waits for a lock `locker` holds. */
  blockedBy(locker: pg.Client): Promise<void>;
  /** Rolls back whatever a locker still holds (after a failure). */
  rollback(): Promise<void>;
  close(): Promise<void>;
}

/** An auth server (`auth` as for startAuth) on a fresh PostgreSQL schema, with `lockers` connections to it. */
export async function startRowLockRace(base: string, auth: Record<string, unknown>, lockers = 1): Promise<RowLockRace> {
  const schema: TestSchema = await migratedPostgresSchema(base);
  const clients: pg.Client[] = [];
  let server: TestServer | undefined;
  const close = async () => {
    await Promise.all(clients.map((c) => c.end()));
    await server?.close();
    await schema.drop();
  };
  try {
    server = await startAuth(auth, { storage: schema.url });
    for (let i = 0; i <= lockers; i++) clients.push(new pg.Client({ connectionString: schema.url }));
    await Promise.all(clients.map((c) => c.connect()));
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  const observer = clients[lockers]!;
  return {
    server,
    lockers: clients.slice(0, lockers),
    async lock(locker, digest) {
      await locker.query('begin');
      await locker.query('select 1 from tokens where digest = $1 for update', [digest]);
    },
    async blockedBy(locker) {
      const pid = (await locker.query('select pg_backend_pid() as pid')).rows[0].pid as number;
      for (let i = 0; i < 1000; i++) {
        const { rows } = await observer.query('select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [pid]);
        if (rows[0].n > 0) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error('the revocation never waited for the lock');
    },
    async rollback() {
      for (const l of clients.slice(0, lockers)) await l.query('rollback').catch(() => undefined);
    },
    close,
  };
}

/**
 * A point a request stops at, in a storage hook, until the test opens it: `wait()` (in the hook)
 * marks it reached and waits; `reached` resolves once it is.
 */
export class Gate {
  readonly reached: Promise<void>;
  private reach!: () => void;
  private opened: Promise<void>;
  private release!: () => void;

  constructor() {
    this.reached = new Promise<void>((resolve) => (this.reach = resolve));
    this.opened = new Promise<void>((resolve) => (this.release = resolve));
  }

  /** Marks the gate reached without waiting at it. */
  arrive(): void {
    this.reach();
  }

  async wait(): Promise<void> {
    this.reach();
    await this.opened;
  }

  open(): void {
    this.release();
  }
}

/** Whether `token` is active, by introspection (RFC 7662) as client `rs`. */
export async function introspectedActive(server: TestServer, rsSecret: string, token: string): Promise<boolean> {
  const res = await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', rsSecret) });
  return ((await res.json()) as { active: boolean }).active;
}
