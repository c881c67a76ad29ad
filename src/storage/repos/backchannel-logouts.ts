// Back-channel logout deliveries not yet made (migration 0018), claimed one attempt at a time:
// a claim moves due_at to when it lapses. A batch is claimed by one statement, UPDATE … WHERE
// jti IN (the soonest due, LIMIT n) … RETURNING, which re-checks that each row is still due:
// SQLite runs writes one at a time; on PostgreSQL the chosen rows are locked as they are
// chosen (FOR UPDATE SKIP LOCKED, in a CTE run once), so an instance claiming at the same
// moment passes them over and takes the next ones instead of waiting for them.

import type { BackchannelLogoutsTable, Db, Dialect, SqlHandle } from '../schema.js';
import type { BackchannelLogoutRepo, PendingLogoutRecord } from '../types.js';

export class SqlBackchannelLogoutRepo implements BackchannelLogoutRepo {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(handle: SqlHandle) {
    this.#db = handle.db;
    this.#dialect = handle.dialect;
  }

  async insert(rec: PendingLogoutRecord): Promise<void> {
    await this.#db.insertInto('backchannel_logouts').values(rec).execute();
  }

  async claimDue(now: number, until: number, claim: string, limit: number): Promise<PendingLogoutRecord[]> {
    const rows = await this.#db
      .with(
        (cte) => cte('due').materialized(),
        (db) => {
          const soonest = db.selectFrom('backchannel_logouts').select('jti').where('due_at', '<=', now).orderBy('due_at').orderBy('jti').limit(limit);
          return this.#dialect === 'postgres' ? soonest.forUpdate().skipLocked() : soonest;
        },
      )
      .updateTable('backchannel_logouts')
      .set({ claim, due_at: until })
      .where('jti', 'in', (eb) => eb.selectFrom('due').select('due.jti'))
      .where('due_at', '<=', now)
      .returningAll()
      .execute();
    return rows.map(fromRow).sort((a, b) => (a.jti < b.jti ? -1 : a.jti > b.jti ? 1 : 0));
  }

  async nextDue(): Promise<number | undefined> {
    const row = await this.#db
      .selectFrom('backchannel_logouts')
      .select((eb) => eb.fn.min('due_at').as('due_at'))
      .executeTakeFirst();
    return row?.due_at === undefined || row.due_at === null ? undefined : Number(row.due_at);
  }

  async reschedule(jti: string, claim: string, attempts: number, dueAt: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('backchannel_logouts')
      .set({ attempts, due_at: dueAt, claim: null })
      .where('jti', '=', jti)
      .where('claim', '=', claim)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async delete(jti: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('backchannel_logouts').where('jti', '=', jti).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async list(): Promise<PendingLogoutRecord[]> {
    const rows = await this.#db.selectFrom('backchannel_logouts').selectAll().orderBy('due_at').orderBy('jti').execute();
    return rows.map(fromRow);
  }
}

function fromRow(row: BackchannelLogoutsTable): PendingLogoutRecord {
  return {
    jti: row.jti,
    client_id: row.client_id,
    sub: row.sub,
    sid: row.sid,
    created_at: Number(row.created_at),
    attempts: Number(row.attempts),
    due_at: Number(row.due_at),
    claim: row.claim,
  };
}
