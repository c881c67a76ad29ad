// Gateway consumers and their credentials. Secrets are stored only as digests, argon2id
// hashes or sealed values (see CredentialRecord); this layer stores what it is given.

import { fromJson, fromJsonOrNull, toJson } from '../json.js';
import { isUniqueViolation } from './unique.js';
import type { ConsumersTable, CredentialsTable, Db } from '../schema.js';
import {
  CustomIdTakenError,
  type ConsumerRecord,
  type ConsumerRepo,
  type CredentialPlugin,
  type CredentialRecord,
  type CredentialRepo,
  type RecordSource,
} from '../types.js';

export class SqlConsumerRepo implements ConsumerRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async get(id: string): Promise<ConsumerRecord | undefined> {
    const row = await this.#db.selectFrom('consumers').selectAll().where('id', '=', id).executeTakeFirst();
    return row && consumerFromRow(row);
  }

  async getByUsername(username: string): Promise<ConsumerRecord | undefined> {
    const row = await this.#db.selectFrom('consumers').selectAll().where('username', '=', username).executeTakeFirst();
    return row && consumerFromRow(row);
  }

  async getByCustomId(customId: string): Promise<ConsumerRecord | undefined> {
    const row = await this.#db.selectFrom('consumers').selectAll().where('custom_id', '=', customId).executeTakeFirst();
    return row && consumerFromRow(row);
  }

  async list(): Promise<ConsumerRecord[]> {
    const rows = await this.#db.selectFrom('consumers').selectAll().orderBy('username').execute();
    return rows.map(consumerFromRow);
  }

  async insert(rec: ConsumerRecord): Promise<boolean> {
    const result = await this.#db
      .insertInto('consumers')
      .values(consumerToRow(rec))
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async upsert(rec: ConsumerRecord): Promise<ConsumerRecord> {
    const row = consumerToRow(rec);
    const { id: _id, username: _username, created_at: _created, ...changes } = row;
    try {
      const stored = await this.#db
        .insertInto('consumers')
        .values(row)
        .onConflict((oc) => oc.column('username').doUpdateSet(changes))
        .returningAll()
        .executeTakeFirstOrThrow();
      return consumerFromRow(stored);
    } catch (err) {
      // the conflict target is the username: a taken custom_id (or id) still fails the statement
      if (rec.custom_id !== undefined && isUniqueViolation(err)) {
        const owner = await this.getByCustomId(rec.custom_id);
        if (owner !== undefined && owner.username !== rec.username) throw new CustomIdTakenError(rec.custom_id);
      }
      throw err;
    }
  }

  async delete(username: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('consumers').where('username', '=', username).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async prune(source: RecordSource, keepUsernames: string[]): Promise<string[]> {
    let query = this.#db.deleteFrom('consumers').where('source', '=', source);
    // `not in ()` is a syntax error on PostgreSQL: with nothing to keep, delete them all.
    if (keepUsernames.length > 0) query = query.where('username', 'not in', keepUsernames);
    const rows = await query.returning('username').execute();
    return rows.map((r) => r.username).sort();
  }
}

export class SqlCredentialRepo implements CredentialRepo {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async insert(rec: CredentialRecord): Promise<boolean> {
    const result = await this.#db
      .insertInto('credentials')
      .values(credentialToRow(rec))
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async get(id: string): Promise<CredentialRecord | undefined> {
    const row = await this.#db.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst();
    return row && credentialFromRow(row);
  }

  async find(
    plugin: CredentialPlugin,
    lookup: string,
  ): Promise<{ credential: CredentialRecord; consumer: ConsumerRecord } | undefined> {
    const row = await this.#db
      .selectFrom('credentials as cr')
      .innerJoin('consumers as co', 'co.id', 'cr.consumer_id')
      .select([
        'cr.id as id',
        'cr.consumer_id as consumer_id',
        'cr.plugin as plugin',
        'cr.lookup as lookup',
        'cr.secret_hash as secret_hash',
        'cr.secret_sealed as secret_sealed',
        'cr.source as source',
        'cr.created_at as created_at',
        'co.username as co_username',
        'co.groups as co_groups',
        'co.custom_id as co_custom_id',
        'co.tags as co_tags',
        'co.source as co_source',
        'co.created_at as co_created_at',
        'co.updated_at as co_updated_at',
      ])
      .where('cr.plugin', '=', plugin)
      .where('cr.lookup', '=', lookup)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      credential: credentialFromRow(row),
      consumer: consumerFromRow({
        id: row.consumer_id,
        username: row.co_username,
        groups: row.co_groups,
        custom_id: row.co_custom_id,
        tags: row.co_tags,
        source: row.co_source,
        created_at: row.co_created_at,
        updated_at: row.co_updated_at,
      }),
    };
  }

  async listByConsumer(consumerId: string, plugin?: CredentialPlugin): Promise<CredentialRecord[]> {
    let query = this.#db.selectFrom('credentials').selectAll().where('consumer_id', '=', consumerId);
    if (plugin !== undefined) query = query.where('plugin', '=', plugin);
    const rows = await query.orderBy('created_at').orderBy('id').execute();
    return rows.map(credentialFromRow);
  }

  async listByPlugin(plugin: CredentialPlugin): Promise<CredentialRecord[]> {
    const rows = await this.#db.selectFrom('credentials').selectAll().where('plugin', '=', plugin).orderBy('created_at').orderBy('id').execute();
    return rows.map(credentialFromRow);
  }

  async replace(rec: CredentialRecord): Promise<boolean> {
    try {
      const result = await this.#db
        .updateTable('credentials')
        .set({ lookup: rec.lookup, secret_hash: rec.secret_hash, secret_sealed: rec.secret_sealed })
        .where('id', '=', rec.id)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async updateSecret(id: string, secretHash: string | null, secretSealed: string | null): Promise<boolean> {
    const result = await this.#db
      .updateTable('credentials')
      .set({ secret_hash: secretHash, secret_sealed: secretSealed })
      .where('id', '=', id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('credentials').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}

function consumerToRow(rec: ConsumerRecord): ConsumersTable {
  return {
    id: rec.id,
    username: rec.username,
    groups: toJson(rec.groups),
    source: rec.source,
    created_at: rec.created_at,
    updated_at: rec.updated_at,
    custom_id: rec.custom_id ?? null,
    tags: rec.tags !== undefined && rec.tags.length > 0 ? toJson(rec.tags) : null,
  };
}

/** custom_id and tags are absent, not null or [], when there are none (as before migration 0013). */
function consumerFromRow(row: ConsumersTable): ConsumerRecord {
  const rec: ConsumerRecord = {
    id: row.id,
    username: row.username,
    groups: fromJson<string[]>(row.groups),
    source: row.source as RecordSource,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
  if (row.custom_id !== null) rec.custom_id = row.custom_id;
  const tags = fromJsonOrNull<string[]>(row.tags);
  if (tags !== null && tags.length > 0) rec.tags = tags;
  return rec;
}

function credentialToRow(rec: CredentialRecord): CredentialsTable {
  return {
    id: rec.id,
    consumer_id: rec.consumer_id,
    plugin: rec.plugin,
    lookup: rec.lookup,
    secret_hash: rec.secret_hash,
    secret_sealed: rec.secret_sealed,
    source: rec.source,
    created_at: rec.created_at,
  };
}

function credentialFromRow(row: CredentialsTable): CredentialRecord {
  return {
    id: row.id,
    consumer_id: row.consumer_id,
    plugin: row.plugin as CredentialPlugin,
    lookup: row.lookup,
    secret_hash: row.secret_hash,
    secret_sealed: row.secret_sealed,
    source: row.source as RecordSource,
    created_at: row.created_at,
  };
}
