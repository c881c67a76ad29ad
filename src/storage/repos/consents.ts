// Remembered consent: per user and client, the union of the scopes granted.

import type { Db } from '../schema.js';
import type { ConsentRepo } from '../types.js';

export class SqlConsentRepo implements ConsentRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async get(userId: string, clientId: string): Promise<string[]> {
    const row = await this.#db
      .selectFrom('consents')
      .select('scope')
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return row ? splitScope(row.scope) : [];
  }

  async grant(userId: string, clientId: string, scopes: string[], at: number): Promise<void> {
    // read-merge-write in one transaction; a lost race only loses a scope the user is asked again
    await this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('consents')
        .select('scope')
        .where('user_id', '=', userId)
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      const merged = [...new Set([...(row ? splitScope(row.scope) : []), ...scopes])].sort().join(' ');
      await trx
        .insertInto('consents')
        .values({ user_id: userId, client_id: clientId, scope: merged, updated_at: at })
        .onConflict((oc) => oc.columns(['user_id', 'client_id']).doUpdateSet({ scope: merged, updated_at: at }))
        .execute();
    });
  }

  async revoke(userId: string, clientId: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('consents').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}

function splitScope(scope: string): string[] {
  return scope.split(' ').filter((s) => s !== '');
}
