// Local users of the login pages. `id` is the stable subject; the username may be looked up
// but is not the identity, so upsert by username keeps the id it was first given.

import { fromJson, toJson } from '../json.js';
import type { Db, UsersTable } from '../schema.js';
import type { RecordSource, UserRecord, UserRepo } from '../types.js';

export class SqlUserRepo implements UserRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async get(id: string): Promise<UserRecord | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && fromRow(row);
  }

  async getByUsername(username: string): Promise<UserRecord | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return row && fromRow(row);
  }

  async list(): Promise<UserRecord[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('username').execute();
    return rows.map(fromRow);
  }

  async upsert(rec: UserRecord): Promise<UserRecord> {
    const row = toRow(rec);
    const { id: _id, username: _username, created_at: _created, ...changes } = row;
    const stored = await this.#db
      .insertInto('users')
      .values(row)
      .onConflict((oc) => oc.column('username').doUpdateSet(changes))
      .returningAll()
      .executeTakeFirstOrThrow();
    return fromRow(stored);
  }

  async delete(username: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('users').where('username', '=', username).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async prune(source: RecordSource, keepUsernames: string[]): Promise<string[]> {
    let query = this.#db.deleteFrom('users').where('source', '=', source);
    // `not in ()` is a syntax error on PostgreSQL: with nothing to keep, delete them all.
    if (keepUsernames.length > 0) query = query.where('username', 'not in', keepUsernames);
    const rows = await query.returning('username').execute();
    return rows.map((r) => r.username).sort();
  }
}

function toRow(rec: UserRecord): UsersTable {
  return {
    id: rec.id,
    username: rec.username,
    password_hash: rec.password_hash,
    claims: toJson(rec.claims),
    locked: rec.locked ? 1 : 0,
    source: rec.source,
    created_at: rec.created_at,
    updated_at: rec.updated_at,
  };
}

function fromRow(row: UsersTable): UserRecord {
  return {
    id: row.id,
    username: row.username,
    password_hash: row.password_hash,
    claims: fromJson<Record<string, unknown>>(row.claims),
    locked: row.locked === 1,
    source: row.source as RecordSource,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
