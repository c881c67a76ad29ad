// Gateway sessions in SQL (SessionStore of ./types.ts) for `gateway.sessions.store: sql`:
// SQLite (one instance, or processes sharing the file) or PostgreSQL (any number of
// instances). Tables from migration 0009, on the Storage's own connection. Updates never
// insert, so a deleted session stays deleted. The per-session lock is a row in
// gateway_session_locks taken with one atomic upsert — insert, or take over a row whose
// locked_until has passed — and released by deleting it only with the holder's token.
import { sql, type Kysely } from 'kysely';
import { systemClock, type Clock } from '../core/clock.js';
import { sqlHandleOf } from '../storage/open.js';
import { driverError, isUnavailableError } from '../storage/unavailable.js';
import type { Database } from '../storage/schema.js';
import type { Storage } from '../storage/types.js';
import { runLocked } from './lock.js';
import { newestFirst } from './order.js';
import { SessionStoreUnavailableError, type GatewaySession, type SessionStore } from './types.js';

type GatewaySessionsTable = {
  id: string;
  sub: string;
  issuer: string;
  client_id: string;
  idp_sid: string | null;
  claims: string; // JSON
  scope: string; // JSON list
  tokens: string;
  access_expires_at: number;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
};

type GatewaySessionLocksTable = {
  id: string;
  token: string;
  /** epoch milliseconds */
  locked_until: number;
};

// a type alias (not an interface): kysely's withTables wants an index-signature-compatible shape
type SessionTables = {
  gateway_sessions: GatewaySessionsTable;
  gateway_session_locks: GatewaySessionLocksTable;
};

type SessionDb = Kysely<Database & SessionTables>;

interface SqlSessionStoreOptions {
  clock?: Clock;
}

export class SqlSessionStore implements SessionStore {
  readonly #db: SessionDb;
  readonly #clock: Clock;

  constructor(storage: Storage, opts: SqlSessionStoreOptions = {}) {
    const handle = sqlHandleOf(storage);
    if (!handle) throw new Error('sessions: the sql store needs a Storage opened by openStorage');
    this.#db = handle.db.withTables<SessionTables>();
    this.#clock = opts.clock ?? systemClock;
  }

  async get(id: string): Promise<GatewaySession | undefined> {
    const row = await this.#run(() =>
      this.#db.selectFrom('gateway_sessions').selectAll().where('id', '=', id).where('expires_at', '>', this.#clock.now()).executeTakeFirst(),
    );
    return row && fromRow(row);
  }

  async insert(s: GatewaySession): Promise<void> {
    const row: GatewaySessionsTable = {
      id: s.id,
      sub: s.sub,
      issuer: s.issuer,
      client_id: s.client_id,
      idp_sid: s.idp_sid,
      claims: JSON.stringify(s.claims),
      scope: JSON.stringify(s.scope),
      tokens: s.tokens,
      access_expires_at: s.access_expires_at,
      created_at: s.created_at,
      last_seen_at: s.last_seen_at,
      expires_at: s.expires_at,
    };
    const { id: _id, ...rest } = row;
    await this.#run(() =>
      this.#db
        .insertInto('gateway_sessions')
        .values(row)
        .onConflict((oc) => oc.column('id').doUpdateSet(rest))
        .execute(),
    );
  }

  async updateTokens(id: string, tokens: string, accessExpiresAt: number, at: number): Promise<boolean> {
    const result = await this.#run(() =>
      this.#db
        .updateTable('gateway_sessions')
        .set({ tokens, access_expires_at: accessExpiresAt, last_seen_at: latest(at) })
        .where('id', '=', id)
        .where('expires_at', '>', this.#clock.now())
        .executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }

  async touch(id: string, at: number): Promise<boolean> {
    const result = await this.#run(() =>
      this.#db
        .updateTable('gateway_sessions')
        .set({ last_seen_at: latest(at) })
        .where('id', '=', id)
        .where('expires_at', '>', this.#clock.now())
        .executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.#run(() => this.#db.deleteFrom('gateway_sessions').where('id', '=', id).executeTakeFirst());
    return result.numDeletedRows > 0n;
  }

  async listByUser(sub: string): Promise<GatewaySession[]> {
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('gateway_sessions')
        .selectAll()
        .where('sub', '=', sub)
        .where('expires_at', '>', this.#clock.now())
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .execute(),
    );
    // ordered again in JS: SQLite and PostgreSQL collate the id tiebreak differently
    return rows.map(fromRow).sort(newestFirst);
  }

  async deleteByUser(sub: string): Promise<string[]> {
    const rows = await this.#run(() => this.#db.deleteFrom('gateway_sessions').where('sub', '=', sub).returning('id').execute());
    return rows.map((r) => r.id);
  }

  async deleteByIdpSid(issuer: string, idpSid: string): Promise<string[]> {
    const rows = await this.#run(() =>
      this.#db.deleteFrom('gateway_sessions').where('issuer', '=', issuer).where('idp_sid', '=', idpSid).returning('id').execute(),
    );
    return rows.map((r) => r.id);
  }

  async withLock<T>(id: string, opts: { ttlMs: number; waitMs: number }, fn: () => Promise<T>): Promise<T | undefined> {
    return runLocked(
      {
        take: (token) => this.#tryLock(id, token, opts.ttlMs),
        // only our own row: after ttlMs another holder may have taken it over
        release: async (token) => {
          await this.#db
            .deleteFrom('gateway_session_locks')
            .where('id', '=', id)
            .where('token', '=', token)
            .execute()
            .catch(() => undefined);
        },
      },
      opts.waitMs,
      fn,
    );
  }

  async #tryLock(id: string, token: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    // One statement on both dialects: insert, or take over a lock past its time. A live
    // lock is left untouched and nothing counts as changed; racers serialise on the key.
    const result = await this.#run(() =>
      this.#db
        .insertInto('gateway_session_locks')
        .values({ id, token, locked_until: now + Math.max(1, Math.ceil(ttlMs)) })
        .onConflict((oc) =>
          oc
            .column('id')
            .doUpdateSet((eb) => ({ token: eb.ref('excluded.token'), locked_until: eb.ref('excluded.locked_until') }))
            .where('gateway_session_locks.locked_until', '<=', now),
        )
        .executeTakeFirst(),
    );
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async deleteExpired(now: number): Promise<number> {
    const result = await this.#run(() => this.#db.deleteFrom('gateway_sessions').where('expires_at', '<=', now).executeTakeFirst());
    await this.#run(() => this.#db.deleteFrom('gateway_session_locks').where('locked_until', '<=', now * 1000).execute());
    return Number(result.numDeletedRows);
  }

  async ping(): Promise<void> {
    try {
      await sql`select 1`.execute(this.#db);
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Connection failures become SessionStoreUnavailableError; anything else (a bug) passes through. */
  async #run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw isUnavailableError(err) ? unavailable(err) : err;
    }
  }
}

/** last_seen_at never moves back (parallel requests may finish out of order). */
function latest(at: number) {
  return sql<number>`case when last_seen_at < ${at} then ${at} else last_seen_at end`;
}

function unavailable(failure: unknown): SessionStoreUnavailableError {
  const err = driverError(failure);
  const message = err instanceof Error ? err.message : String(err);
  return new SessionStoreUnavailableError(`session store: database unavailable (${message})`, { cause: failure });
}

function fromRow(row: GatewaySessionsTable): GatewaySession {
  return {
    id: row.id,
    sub: row.sub,
    issuer: row.issuer,
    client_id: row.client_id,
    idp_sid: row.idp_sid,
    claims: JSON.parse(row.claims) as Record<string, unknown>,
    scope: JSON.parse(row.scope) as string[],
    tokens: row.tokens,
    access_expires_at: Number(row.access_expires_at),
    created_at: Number(row.created_at),
    last_seen_at: Number(row.last_seen_at),
    expires_at: Number(row.expires_at),
  };
}
