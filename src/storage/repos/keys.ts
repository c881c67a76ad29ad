// Signing keys. The database holds the single source of truth for which key is current:
// one per algorithm (the main key, and e.g. an RS256 key for ID tokens). A unique partial
// index (migrations/0012-signing-keys-per-alg.ts) allows at most one row with status
// 'current' per alg, so racing processes cannot end up with two of the same alg; another
// (0014-signing-keys-next.ts) allows at most one 'next' key per alg: published ahead of use,
// made current by whichever instance first sees its activates_at pass.

import { sql } from 'kysely';
import type { SigningAlg } from '../../config/types.js';
import { fromJson, toJson } from '../json.js';
import type { Db, SigningKeysTable, SqlHandle } from '../schema.js';
import { writeTransaction } from '../transaction.js';
import { isUniqueViolation } from './unique.js';
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
          eb('status', '=', 'next'),
          eb.and([eb('status', '=', 'previous'), eb('publish_until', '>', now)]),
        ]),
      )
      // current first, then the next keys (about to sign), then the newest previous keys
      .orderBy(sql`case status when 'current' then 0 when 'next' then 1 else 2 end`)
      .orderBy('created_at', 'desc')
      .orderBy('kid')
      .execute();
    return rows.map(fromRow);
  }

  async rotate(rec: SigningKeyRecord, previousPublishUntil: number): Promise<void> {
    await writeTransaction(this.#handle, async function rotateKey(trx) {
      // a waiting successor never signed anything: the immediate switch replaces it too (an
      // emergency rotation after a leak must not let a key from the same table take over later)
      await retireNext(trx, rec.alg);
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

  async addNext(rec: SigningKeyRecord, activatesAt: number): Promise<SigningKeyRecord> {
    return writeTransaction(this.#handle, async function addNextKey(trx) {
      // like insertInitial: the one-next-per-alg index keeps the first of racing callers
      await trx
        .insertInto('signing_keys')
        .values(toRow({ ...rec, status: 'next', publish_until: null, activates_at: activatesAt }))
        .onConflict((oc) => oc.doNothing())
        .execute();
      const next = await trx.selectFrom('signing_keys').selectAll().where('status', '=', 'next').where('alg', '=', rec.alg).executeTakeFirst();
      if (!next) throw new Error(`storage: no next ${rec.alg} signing key after addNext`);
      return fromRow(next);
    });
  }

  async promoteDue(now: number, previousPublishUntil: number): Promise<SigningKeyRecord[]> {
    const due = await this.#db
      .selectFrom('signing_keys')
      .selectAll()
      .where('status', '=', 'next')
      .where('activates_at', '<=', now)
      .orderBy('activates_at')
      .execute();
    const promoted: SigningKeyRecord[] = [];
    for (const row of due) {
      try {
        await writeTransaction(this.#handle, (trx) => promoteOne(trx, row.kid, row.alg, previousPublishUntil));
        promoted.push({ ...fromRow(row), status: 'current' });
      } catch (err) {
        if (!(err instanceof LostRace)) throw err;
      }
    }
    return promoted;
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
    return writeTransaction(this.#handle, async function demoteCurrentKey(trx) {
      await retireNext(trx, alg);
      const result = await trx
        .updateTable('signing_keys')
        .set({ status: 'previous', publish_until: publishUntil })
        .where('status', '=', 'current')
        .where('alg', '=', alg)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    });
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

/** Thrown inside a promotion transaction to undo it: another caller got there first. */
class LostRace extends Error {}

/**
 * The next key `kid` becomes current, the current key of `alg` previous. Racing callers: the
 * demotion skips `kid` itself (already current when a racer committed first), and when `kid`
 * is no longer 'next' (promoted by a racer, or replaced by `rotate`) the transaction is rolled
 * back, so a loser never demotes the winner's key. On PostgreSQL the row locks order the
 * racers; on SQLite the IMMEDIATE transaction does.
 */
async function promoteOne(trx: Db, kid: string, alg: string, previousPublishUntil: number): Promise<void> {
  // The next row is locked first, as rotate and demoteCurrent do (retireNext before they touch
  // the current row): with the opposite order a promotion racing `rotate --now` on PostgreSQL
  // could deadlock, and the database aborted one of them. A racer that got there first leaves
  // the row no longer 'next' when this update runs (READ COMMITTED re-reads it): a lost race.
  const locked = await trx.updateTable('signing_keys').set({ status: 'next' }).where('kid', '=', kid).where('status', '=', 'next').executeTakeFirst();
  if (Number(locked.numUpdatedRows) === 0) throw new LostRace();
  await trx
    .updateTable('signing_keys')
    .set({ status: 'previous', publish_until: previousPublishUntil })
    .where('status', '=', 'current')
    .where('alg', '=', alg)
    .where('kid', '!=', kid)
    .execute();
  let result;
  try {
    result = await trx
      .updateTable('signing_keys')
      .set({ status: 'current' })
      .where('kid', '=', kid)
      .where('status', '=', 'next')
      .executeTakeFirst();
  } catch (err) {
    // the one-current-per-alg index refused it: a concurrent `rotate --now` made another key
    // current meanwhile (and retired this one, as its commit will show); that one wins
    if (isUniqueViolation(err)) throw new LostRace(undefined, { cause: err });
    throw err;
  }
  if (Number(result.numUpdatedRows) === 0) throw new LostRace();
}

async function retireNext(trx: Db, alg: string): Promise<void> {
  await trx.updateTable('signing_keys').set({ status: 'retired' }).where('status', '=', 'next').where('alg', '=', alg).execute();
}

async function findCurrent(db: Db, alg: SigningAlg | undefined): Promise<SigningKeyRecord | undefined> {
  let query = db.selectFrom('signing_keys').selectAll().where('status', '=', 'current');
  if (alg !== undefined) query = query.where('alg', '=', alg);
  const row = await query.orderBy('created_at', 'desc').orderBy('kid').executeTakeFirst();
  return row && fromRow(row);
}

function toRow(rec: SigningKeyRecord): Omit<SigningKeysTable, 'activates_at'> & { activates_at?: number } {
  return {
    kid: rec.kid,
    alg: rec.alg,
    public_jwk: toJson(rec.public_jwk),
    private_enc: rec.private_enc,
    status: rec.status,
    created_at: rec.created_at,
    publish_until: rec.publish_until,
    // only when set: keys made current at once are written as before migration 0014, so the
    // repository still works on a database that has not run it (and older migration tests)
    ...(rec.activates_at !== undefined ? { activates_at: rec.activates_at } : {}),
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
    // absent, not null, when made current at once (as before migration 0014)
    // (no such column at all on a database that has not run it)
    ...(row.activates_at != null ? { activates_at: Number(row.activates_at) } : {}),
  };
}
