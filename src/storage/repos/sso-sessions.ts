// SSO sessions at the auth server, by the digest of the cookie value.

import { fromJson, toJson } from '../json.js';
import type { Db, SsoSessionsTable } from '../schema.js';
import type { SsoSessionRecord, SsoSessionRepo } from '../types.js';

export class SqlSsoSessionRepo implements SsoSessionRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async insert(rec: SsoSessionRecord): Promise<void> {
    await this.#db.insertInto('sso_sessions').values({ ...rec, amr: toJson(rec.amr) }).execute();
  }

  async get(id: string): Promise<SsoSessionRecord | undefined> {
    const row = await this.#db.selectFrom('sso_sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return row && fromRow(row);
  }

  async touch(id: string, at: number): Promise<boolean> {
    const result = await this.#db.updateTable('sso_sessions').set({ last_seen_at: at }).where('id', '=', id).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('sso_sessions').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async deleteByUser(userId: string): Promise<number> {
    const result = await this.#db.deleteFrom('sso_sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteExpired(now: number): Promise<number> {
    const result = await this.#db.deleteFrom('sso_sessions').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function fromRow(row: SsoSessionsTable): SsoSessionRecord {
  return {
    id: row.id,
    user_id: row.user_id,
    auth_time: Number(row.auth_time),
    amr: fromJson<string[]>(row.amr),
    acr: row.acr,
    created_at: Number(row.created_at),
    last_seen_at: Number(row.last_seen_at),
    expires_at: Number(row.expires_at),
  };
}
