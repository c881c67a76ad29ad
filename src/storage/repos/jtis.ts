// One-time markers (private_key_jwt assertion replay, JWT access-token deny-list).
// A marker is live while expires_at > now; an expired one may be taken over.

import type { Db } from '../schema.js';
import type { JtiRepo } from '../types.js';

export class SqlJtiRepo implements JtiRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async remember(namespace: string, jti: string, expiresAt: number, now = epochSeconds()): Promise<boolean> {
    // One atomic statement on both dialects: insert, or take over a row that has expired.
    // When a live row exists the WHERE leaves it untouched and no row counts as changed;
    // concurrent callers (any process) serialise on the primary key, so exactly one wins.
    const result = await this.#db
      .insertInto('jtis')
      .values({ namespace, jti, expires_at: expiresAt })
      .onConflict((oc) =>
        oc
          .columns(['namespace', 'jti'])
          .doUpdateSet((eb) => ({ expires_at: eb.ref('excluded.expires_at') }))
          .where('jtis.expires_at', '<=', now),
      )
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async has(namespace: string, jti: string, now: number): Promise<boolean> {
    const row = await this.#db
      .selectFrom('jtis')
      .select('jti')
      .where('namespace', '=', namespace)
      .where('jti', '=', jti)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row !== undefined;
  }

  async deleteExpired(now: number): Promise<number> {
    const result = await this.#db.deleteFrom('jtis').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
