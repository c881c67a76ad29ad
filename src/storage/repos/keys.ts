// Signing keys. The database holds the single source of truth for which key is current:
// one per algorithm (the main key, and e.g. an RS256 key for ID tokens). A unique partial
// index (migrations/0012-signing-keys-per-alg.ts) allows at most one row with status
// 'current' per alg, so racing processes cannot end up with two of the same alg.

import { sql } from 'kysely';
import type { SigningAlg } from '../../config/types.js';
import { fromJson, toJson } from '../json.js';
import type { Db, SigningKeysTable, SqlHandle } from '../schema.js';
import { writeTransaction } from '../transaction.js';
import type { KeyRepo, KeyStatus, SigningKeyRecord } from '../types.js';

export class SqlKeyRepo implements KeyRepo {
  readonly #handle: SqlHandle;
  readonly #db: Db;

  constructor(handle: SqlHandle) {
    this.#handle = handle;
    this.#db = handle.db;
  }

  async list(): Promise<SigningKeyRecord[]> {
    const rows = await this.#db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid').execute();
    return rows.map(fromRow);
  }

  async current(alg?: SigningAlg): Promise<SigningKeyRecord | undefined> {
    return findCurrent(this.#db, alg);
  }

  async published(now: number): Promise<SigningKeyRecord[]> {
    const rows = await this.#db
      .selectFrom('signing_keys')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('status', '=', 'current'),
          eb.and([eb('status', '=', 'previous'), eb('publish_until', '>', now)]),
        ]),
      )
      // current first, then the newest previous keys
      .orderBy(sql`case when status = 'current' then 0 else 1 end`)
      .orderBy('created_at', 'desc')
      .orderBy('kid')
      .execute();
    return rows.map(fromRow);
  }

  async rotate(rec: SigningKeyRecord, previousPublishUntil: number): Promise<void> {
    await writeTransaction(this.#handle, async function rotateKey(trx) {
      await trx
        .updateTable('signing_keys')
        .set({ status: 'previous', publish_until: previousPublishUntil })
        .where('status', '=', 'current')
        .where('alg', '=', rec.alg)
        .execute();
      // A concurrent rotation that committed first makes this insert violate the
      // one-current-per-alg index: the transaction fails rather than leaving two current keys.
      await trx.insertInto('signing_keys').values(toRow({ ...rec, status: 'current' })).execute();
    });
  }

  async insertInitial(rec: SigningKeyRecord): Promise<SigningKeyRecord> {
    return writeTransaction(this.#handle, async function insertInitialKey(trx) {
      // On PostgreSQL a racing insert waits for the winner's commit, then does nothing;
      // on SQLite the IMMEDIATE transaction already serialises the racers.
      await trx
        .insertInto('signing_keys')
        .values(toRow({ ...rec, status: 'current', publish_until: null }))
        .onConflict((oc) => oc.doNothing())
        .execute();
      const current = await findCurrent(trx, rec.alg);
      if (!current) throw new Error(`storage: no current ${rec.alg} signing key after insertInitial`);
      return current;
    });
  }

  async demoteCurrent(alg: SigningAlg, publishUntil: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('signing_keys')
      .set({ status: 'previous', publish_until: publishUntil })
      .where('status', '=', 'current')
      .where('alg', '=', alg)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async retireExpired(now: number): Promise<number> {
    const result = await this.#db
      .updateTable('signing_keys')
      .set({ status: 'retired' })
      .where('status', '=', 'previous')
      .where('publish_until', '<=', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }
}

async function findCurrent(db: Db, alg: SigningAlg | undefined): Promise<SigningKeyRecord | undefined> {
  let query = db.selectFrom('signing_keys').selectAll().where('status', '=', 'current');
  if (alg !== undefined) query = query.where('alg', '=', alg);
  const row = await query.orderBy('created_at', 'desc').orderBy('kid').executeTakeFirst();
  return row && fromRow(row);
}

function toRow(rec: SigningKeyRecord): SigningKeysTable {
  return {
    kid: rec.kid,
    alg: rec.alg,
    public_jwk: toJson(rec.public_jwk),
    private_enc: rec.private_enc,
    status: rec.status,
    created_at: rec.created_at,
    publish_until: rec.publish_until,
  };
}

function fromRow(row: SigningKeysTable): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg as SigningAlg,
    public_jwk: fromJson<Record<string, unknown>>(row.public_jwk),
    private_enc: row.private_enc,
    status: row.status as KeyStatus,
    created_at: row.created_at,
    publish_until: row.publish_until,
  };
}
