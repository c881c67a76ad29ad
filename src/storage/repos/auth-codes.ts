// Authorization codes, by digest. Single use is one conditional UPDATE (used_at IS NULL),
// atomic on both dialects and across processes. redirect_uri_given is stored as 0/1 (NULL:
// not recorded, codes from before migration 0010). A redeemed code also leaves a small record
// in used_codes (migration 0017) that outlives the code as long as its tokens may live.

import { fromJson, toJson } from '../json.js';
import type { AuthCodesTable, Db } from '../schema.js';
import type { AuthCodeRecord, AuthCodeRepo } from '../types.js';
import type { UsedCodeRecord } from '../contracts/auth-codes.js';

export class SqlAuthCodeRepo implements AuthCodeRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async insert(rec: AuthCodeRecord): Promise<void> {
    await this.#db
      .insertInto('auth_codes')
      .values({ ...rec, amr: toJson(rec.amr), redirect_uri_given: rec.redirect_uri_given === null ? null : rec.redirect_uri_given ? 1 : 0 })
      .execute();
  }

  async consume(digest: string, at: number): Promise<{ code: AuthCodeRecord; first: boolean } | undefined> {
    const result = await this.#db
      .updateTable('auth_codes')
      .set({ used_at: at })
      .where('digest', '=', digest)
      .where('used_at', 'is', null)
      .executeTakeFirst();
    const row = await this.#db.selectFrom('auth_codes').selectAll().where('digest', '=', digest).executeTakeFirst();
    if (!row) return undefined;
    return { code: fromRow(row), first: result.numUpdatedRows > 0n };
  }

  async rememberUsed(rec: UsedCodeRecord): Promise<void> {
    await this.#db
      .insertInto('used_codes')
      .values(rec)
      .onConflict((oc) => oc.column('digest').doNothing())
      .execute();
  }

  async findUsed(digest: string, now: number): Promise<UsedCodeRecord | undefined> {
    const row = await this.#db.selectFrom('used_codes').selectAll().where('digest', '=', digest).where('expires_at', '>', now).executeTakeFirst();
    return row && { ...row, expires_at: Number(row.expires_at) };
  }

  async deleteExpired(now: number): Promise<number> {
    const codes = await this.#db.deleteFrom('auth_codes').where('expires_at', '<=', now).executeTakeFirst();
    const used = await this.#db.deleteFrom('used_codes').where('expires_at', '<=', now).executeTakeFirst();
    return Number(codes.numDeletedRows) + Number(used.numDeletedRows);
  }
}

function fromRow(row: AuthCodesTable): AuthCodeRecord {
  return {
    ...row,
    auth_time: Number(row.auth_time),
    created_at: Number(row.created_at),
    expires_at: Number(row.expires_at),
    used_at: row.used_at === null ? null : Number(row.used_at),
    amr: fromJson<string[]>(row.amr),
    // an integer column: PostgreSQL may hand back a string, SQLite a number
    redirect_uri_given: row.redirect_uri_given === null ? null : Number(row.redirect_uri_given) !== 0,
  };
}
