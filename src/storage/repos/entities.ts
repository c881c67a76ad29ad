// Services, routes and plugins created through the admin API. The body is the entity as
// the admin API accepted it (JSON); the gateway merges these with the config file.

import { isUniqueViolation } from './unique.js';
import { fromJson, toJson } from '../json.js';
import type { Db, GatewayEntitiesTable } from '../schema.js';
import type { EntityKind, EntityRecord, EntityRepo } from '../types.js';

export class SqlEntityRepo implements EntityRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async get(kind: EntityKind, idOrName: string): Promise<EntityRecord | undefined> {
    const row = await this.#db
      .selectFrom('gateway_entities')
      .selectAll()
      .where('kind', '=', kind)
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      // an id match wins over a name match (a name may look like another entity's id)
      .orderBy((eb) => eb.case().when('id', '=', idOrName).then(0).else(1).end())
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(kind?: EntityKind): Promise<EntityRecord[]> {
    let query = this.#db.selectFrom('gateway_entities').selectAll();
    if (kind !== undefined) query = query.where('kind', '=', kind);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map(fromRow);
  }

  async insert(rec: EntityRecord): Promise<boolean> {
    const result = await this.#db
      .insertInto('gateway_entities')
      .values(toRow(rec))
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async update(rec: EntityRecord): Promise<boolean> {
    try {
      const result = await this.#db
        .updateTable('gateway_entities')
        .set({ name: rec.name, body: toJson(rec.body), updated_at: rec.updated_at })
        .where('kind', '=', rec.kind)
        .where('id', '=', rec.id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async delete(kind: EntityKind, id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('gateway_entities').where('kind', '=', kind).where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}


function toRow(rec: EntityRecord): GatewayEntitiesTable {
  return {
    kind: rec.kind,
    id: rec.id,
    name: rec.name,
    body: toJson(rec.body),
    created_at: rec.created_at,
    updated_at: rec.updated_at,
  };
}

function fromRow(row: GatewayEntitiesTable): EntityRecord {
  return {
    kind: row.kind as EntityKind,
    id: row.id,
    name: row.name,
    body: fromJson<Record<string, unknown>>(row.body),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
