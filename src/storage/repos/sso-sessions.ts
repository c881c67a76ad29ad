// SSO sessions at the auth server, by the digest of the cookie value, and the grants made
// in each (sso_session_grants, migration 0007), deleted together with their session.

import { fromJson, toJson } from '../json.js';
import type { Db, SsoSessionsTable } from '../schema.js';
import type { SsoSessionGrant, SsoSessionRecord, SsoSessionRepo } from '../types.js';

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
    await this.#db.deleteFrom('sso_session_grants').where('session_id', '=', id).execute();
    return result.numDeletedRows > 0n;
  }

  async end(id: string): Promise<SsoSessionGrant[]> {
    // three statements, each committed before the next starts (SsoSessionRepo.end)
    await this.#db.deleteFrom('sso_sessions').where('id', '=', id).execute();
    const grants = await this.grants(id);
    await this.#db.deleteFrom('sso_session_grants').where('session_id', '=', id).execute();
    return grants;
  }

  async deleteByUser(userId: string): Promise<number> {
    const ids = this.#db.selectFrom('sso_sessions').select('id').where('user_id', '=', userId);
    await this.#db.deleteFrom('sso_session_grants').where('session_id', 'in', ids).execute();
    const result = await this.#db.deleteFrom('sso_sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteExpired(now: number): Promise<number> {
    const result = await this.#db.deleteFrom('sso_sessions').where('expires_at', '<=', now).executeTakeFirst();
    // grants of sessions that are gone (expired, deleted with their user, or recorded after
    // their session ended); kept a minute, so a code exchanged just now is not swept mid-way
    await this.#db
      .deleteFrom('sso_session_grants')
      .where('created_at', '<', now - 60)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('sso_sessions').select('id').whereRef('sso_sessions.id', '=', 'sso_session_grants.session_id'))))
      .execute();
    return Number(result.numDeletedRows);
  }

  async listByUser(userId: string): Promise<SsoSessionRecord[]> {
    const rows = await this.#db.selectFrom('sso_sessions').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
    return rows.map(fromRow);
  }

  async addGrant(id: string, clientId: string, grantId: string, at: number): Promise<void> {
    // the session ended (or never was): nothing will read these grants, store none (as Redis)
    if (!(await this.#db.selectFrom('sso_sessions').select('id').where('id', '=', id).executeTakeFirst())) return;
    await this.#db
      .insertInto('sso_session_grants')
      .values({ session_id: id, grant_id: grantId, client_id: clientId, created_at: at })
      .onConflict((oc) => oc.columns(['session_id', 'grant_id']).doNothing())
      .execute();
  }

  async grants(id: string): Promise<SsoSessionGrant[]> {
    const rows = await this.#db
      .selectFrom('sso_session_grants')
      .select(['client_id', 'grant_id'])
      .where('session_id', '=', id)
      .orderBy('created_at')
      .orderBy('grant_id')
      .execute();
    return rows.map((r) => ({ client_id: r.client_id, grant_id: r.grant_id }));
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
