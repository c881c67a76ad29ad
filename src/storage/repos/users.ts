// Local users of the login pages. `id` is the stable subject; the username may be looked up
// but is not the identity, so upsert by username keeps the id it was first given.
// Their MFA state (migration 0003) lives in user_mfa and user_recovery_codes, deleted with
// the user by ON DELETE CASCADE.

import type { Kysely } from 'kysely';
import { fromJson, toJson } from '../json.js';
import type { Database, Db, UsersTable } from '../schema.js';
import type { RecordSource, UserMfaRecord, UserRecord, UserRepo } from '../types.js';

/** Row shapes of migration 0003 (same column conventions as ../schema.ts). */
interface UserMfaTable {
  user_id: string;
  required: number; // 0 | 1
  totp_secret: string | null;
  totp_confirmed_at: number | null;
  totp_last_step: number | null;
  updated_at: number;
}

interface UserRecoveryCodesTable {
  user_id: string;
  digest: string;
  created_at: number;
}

type MfaDb = Kysely<Database & { user_mfa: UserMfaTable; user_recovery_codes: UserRecoveryCodesTable }>;

export class SqlUserRepo implements UserRepo {
  readonly #db: Db;
  readonly #mfa: MfaDb;

  constructor(db: Db) {
    this.#db = db;
    this.#mfa = db.withTables<{ user_mfa: UserMfaTable; user_recovery_codes: UserRecoveryCodesTable }>();
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

  async insert(rec: UserRecord, opts: { mfaRequired?: boolean } = {}): Promise<boolean> {
    if (opts.mfaRequired !== true) return insertUser(this.#mfa, rec);
    // one transaction: a user created to require MFA never exists without that requirement,
    // not even when the second write fails
    return this.#mfa.transaction().execute(async function insertUserRequiringMfa(trx) {
      if (!(await insertUser(trx, rec))) return false;
      await trx.insertInto('user_mfa').values(emptyMfaRow(rec.id, rec.updated_at, { required: 1 })).execute();
      return true;
    });
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

  async setLocked(username: string, locked: boolean, at: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('users')
      .set({ locked: locked ? 1 : 0, updated_at: at })
      .where('username', '=', username)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async setPasswordHash(username: string, passwordHash: string | null, at: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('users')
      .set({ password_hash: passwordHash, updated_at: at })
      .where('username', '=', username)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async setClaims(username: string, claims: Record<string, unknown>, at: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('users')
      .set({ claims: toJson(claims), updated_at: at })
      .where('username', '=', username)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async getMfa(userId: string): Promise<UserMfaRecord | undefined> {
    const [row, codes] = await Promise.all([
      this.#mfa.selectFrom('user_mfa').selectAll().where('user_id', '=', userId).executeTakeFirst(),
      this.#mfa
        .selectFrom('user_recovery_codes')
        .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
        .where('user_id', '=', userId)
        .executeTakeFirstOrThrow(),
    ]);
    if (!row) return undefined;
    return {
      user_id: row.user_id,
      required: row.required === 1,
      totp_secret: row.totp_secret,
      totp_confirmed_at: row.totp_confirmed_at,
      totp_last_step: row.totp_last_step,
      recovery_codes_left: Number(codes.n), // count(*) is bigint on PostgreSQL
      updated_at: row.updated_at,
    };
  }

  async setMfaRequired(userId: string, required: boolean, at: number): Promise<void> {
    await this.#mfa
      .insertInto('user_mfa')
      .values(emptyMfaRow(userId, at, { required: required ? 1 : 0 }))
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ required: required ? 1 : 0, updated_at: at }))
      .execute();
  }

  async setTotpSecret(userId: string, sealedSecret: string, at: number): Promise<void> {
    const changes = { totp_secret: sealedSecret, totp_confirmed_at: null, totp_last_step: null, updated_at: at };
    await this.#mfa
      .insertInto('user_mfa')
      .values(emptyMfaRow(userId, at, changes))
      .onConflict((oc) => oc.column('user_id').doUpdateSet(changes))
      .execute();
  }

  async confirmTotp(userId: string, at: number): Promise<boolean> {
    const result = await this.#mfa
      .updateTable('user_mfa')
      .set({ totp_confirmed_at: at, updated_at: at })
      .where('user_id', '=', userId)
      .where('totp_secret', 'is not', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async useTotpStep(userId: string, step: number, at: number): Promise<boolean> {
    // Compare-and-set in one statement: of two concurrent logins with the same code (any
    // process, either dialect) exactly one changes the row.
    const result = await this.#mfa
      .updateTable('user_mfa')
      .set({ totp_last_step: step, updated_at: at })
      .where('user_id', '=', userId)
      .where('totp_secret', 'is not', null)
      .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async setRecoveryCodes(userId: string, digests: string[], at: number): Promise<void> {
    await this.#mfa.transaction().execute(async function replaceRecoveryCodes(trx) {
      await trx.deleteFrom('user_recovery_codes').where('user_id', '=', userId).execute();
      if (digests.length > 0) {
        await trx
          .insertInto('user_recovery_codes')
          .values([...new Set(digests)].map((digest) => ({ user_id: userId, digest, created_at: at })))
          .execute();
      }
    });
  }

  async useRecoveryCode(userId: string, digest: string): Promise<boolean> {
    const result = await this.#mfa
      .deleteFrom('user_recovery_codes')
      .where('user_id', '=', userId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async resetMfa(userId: string, at: number): Promise<boolean> {
    return this.#mfa.transaction().execute(async function resetUserMfa(trx) {
      const codes = await trx.deleteFrom('user_recovery_codes').where('user_id', '=', userId).executeTakeFirst();
      const totp = await trx
        .updateTable('user_mfa')
        .set({ totp_secret: null, totp_confirmed_at: null, totp_last_step: null, updated_at: at })
        .where('user_id', '=', userId)
        .where('totp_secret', 'is not', null)
        .executeTakeFirst();
      return codes.numDeletedRows > 0n || totp.numUpdatedRows > 0n;
    });
  }
}

async function insertUser(db: MfaDb, rec: UserRecord): Promise<boolean> {
  const result = await db.insertInto('users').values(toRow(rec)).onConflict((oc) => oc.doNothing()).executeTakeFirst();
  return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
}

function emptyMfaRow(userId: string, at: number, over: Partial<UserMfaTable>): UserMfaTable {
  return { user_id: userId, required: 0, totp_secret: null, totp_confirmed_at: null, totp_last_step: null, updated_at: at, ...over };
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
