// Back-channel logout deliveries not yet made (migration 0018), claimed one attempt at a time:
// a claim moves due_at to when it lapses, so of instances racing for a due delivery only the
// one whose conditional UPDATE still finds it due gets it (the same statement on both
// dialects: SQLite runs writes one at a time, PostgreSQL re-checks the WHERE of an UPDATE that
// waited for another's row lock).

import type { BackchannelLogoutsTable, Db } from '../schema.js';
import type { BackchannelLogoutRepo, PendingLogoutRecord } from '../types.js';

export class SqlBackchannelLogoutRepo implements BackchannelLogoutRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async insert(rec: PendingLogoutRecord): Promise<void> {
    await this.#db.insertInto('backchannel_logouts').values(rec).execute();
  }

  async claimDue(now: number, until: number, claim: string, limit: number): Promise<PendingLogoutRecord[]> {
    const due = await this.#db
      .selectFrom('backchannel_logouts')
      .selectAll()
      .where('due_at', '<=', now)
      .orderBy('due_at')
      .orderBy('jti')
      .limit(limit)
      .execute();
    const claimed: PendingLogoutRecord[] = [];
    for (const row of due) {
      const result = await this.#db
        .updateTable('backchannel_logouts')
        .set({ claim, due_at: until })
        .where('jti', '=', row.jti)
        .where('due_at', '<=', now)
        .executeTakeFirst();
      if (result.numUpdatedRows > 0n) claimed.push({ ...fromRow(row), claim, due_at: until });
    }
    return claimed;
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
