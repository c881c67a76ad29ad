// OAuth clients, from the config file, the CLI or the admin API (see `source`).

import type { AccessTokenFormat, ClientAuthMethod, GrantType, JwkSet, SigningAlg } from '../../config/types.js';
import { fromJson, fromJsonOrNull, toJson, toJsonOrNull } from '../json.js';
import type { ClientsTable, Db } from '../schema.js';
import type { ClientRecord, ClientRepo, RecordSource } from '../types.js';

export class SqlClientRepo implements ClientRepo {
  readonly #db: Db;
  #writes = 0;

  constructor(db: Db) {
    this.#db = db;
  }

  /**
   * Finished upsert/delete/prune calls through this repository, so an in-process cache of
   * clients (src/auth/clients.ts) sees this process's own changes at once. Counted after the
   * statement: a read that began before a write ended carries an older count. Not part of the
   * ClientRepo contract; see clientsChangeStamp in ../open.ts.
   */
  get writes(): number {
    return this.#writes;
  }

  async get(clientId: string): Promise<ClientRecord | undefined> {
    const row = await this.#db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
    return row && fromRow(row);
  }

  async list(): Promise<ClientRecord[]> {
    const rows = await this.#db.selectFrom('clients').selectAll().orderBy('client_id').execute();
    return rows.map(fromRow);
  }

  async upsert(rec: ClientRecord): Promise<void> {
    const row = toRow(rec);
    const { client_id: _id, created_at: _created, ...changes } = row;
    try {
      await this.#db
        .insertInto('clients')
        .values(row)
        .onConflict((oc) => oc.column('client_id').doUpdateSet(changes))
        .execute();
    } finally {
      this.#writes++;
    }
  }

  async insert(rec: ClientRecord): Promise<boolean> {
    try {
      const result = await this.#db
        .insertInto('clients')
        .values(toRow(rec))
        .onConflict((oc) => oc.column('client_id').doNothing())
        .executeTakeFirst();
      return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
    } finally {
      this.#writes++;
    }
  }

  async update(rec: ClientRecord): Promise<boolean> {
    const { client_id: _id, created_at: _created, ...changes } = toRow(rec);
    try {
      const result = await this.#db.updateTable('clients').set(changes).where('client_id', '=', rec.client_id).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    } finally {
      this.#writes++;
    }
  }

  async delete(clientId: string): Promise<boolean> {
    try {
      const result = await this.#db.deleteFrom('clients').where('client_id', '=', clientId).executeTakeFirst();
      return result.numDeletedRows > 0n;
    } finally {
      this.#writes++;
    }
  }

  async prune(source: RecordSource, keep: string[]): Promise<string[]> {
    let query = this.#db.deleteFrom('clients').where('source', '=', source);
    // `not in ()` is a syntax error on PostgreSQL: with nothing to keep, delete them all.
    if (keep.length > 0) query = query.where('client_id', 'not in', keep);
    try {
      const rows = await query.returning('client_id').execute();
      return rows.map((r) => r.client_id).sort();
    } finally {
      this.#writes++;
    }
  }
}

/** config/types.ts SigningAlg (storage does not import crypto, where the table lives) */
const ID_TOKEN_ALGS: ReadonlySet<string> = new Set<SigningAlg>(['ES256', 'RS256', 'EdDSA']);

function toRow(rec: ClientRecord): ClientsTable {
  return {
    client_id: rec.client_id,
    client_name: rec.client_name,
    secret_hash: rec.secret_hash,
    redirect_uris: toJson(rec.redirect_uris),
    grant_types: toJson(rec.grant_types),
    scopes: toJson(rec.scopes),
    default_scopes: toJson(rec.default_scopes),
    token_endpoint_auth_method: rec.token_endpoint_auth_method,
    jwks: toJsonOrNull(rec.jwks),
    jwks_uri: rec.jwks_uri,
    access_token_format: rec.access_token_format,
    access_token_ttl: rec.access_token_ttl,
    audiences: toJsonOrNull(rec.audiences),
    post_logout_redirect_uris: toJson(rec.post_logout_redirect_uris),
    backchannel_logout_uri: rec.backchannel_logout_uri,
    backchannel_logout_session_required: rec.backchannel_logout_session_required ? 1 : 0,
    // absent stays NULL (read back as absent: `ask`, `optional`)
    consent: rec.consent ?? null,
    mfa: rec.mfa ?? null,
    require_pkce: rec.require_pkce === undefined ? null : rec.require_pkce ? 1 : 0,
    require_par: rec.require_pushed_authorization_requests === undefined ? null : rec.require_pushed_authorization_requests ? 1 : 0,
    id_token_signed_response_alg: rec.id_token_signed_response_alg ?? null,
    request_object_signing_alg: rec.request_object_signing_alg ?? null,
    require_signed_request_object: rec.require_signed_request_object === undefined ? null : rec.require_signed_request_object ? 1 : 0,
    source: rec.source,
    created_at: rec.created_at,
    updated_at: rec.updated_at,
  };
}

function fromRow(row: ClientsTable): ClientRecord {
  return {
    client_id: row.client_id,
    client_name: row.client_name,
    secret_hash: row.secret_hash,
    redirect_uris: fromJson<string[]>(row.redirect_uris),
    grant_types: fromJson<GrantType[]>(row.grant_types),
    scopes: fromJson<string[]>(row.scopes),
    default_scopes: fromJson<string[]>(row.default_scopes),
    token_endpoint_auth_method: row.token_endpoint_auth_method as ClientAuthMethod,
    jwks: fromJsonOrNull<JwkSet>(row.jwks),
    jwks_uri: row.jwks_uri,
    access_token_format: row.access_token_format as AccessTokenFormat,
    access_token_ttl: row.access_token_ttl,
    audiences: fromJsonOrNull<string[]>(row.audiences),
    post_logout_redirect_uris: fromJsonOrNull<string[]>(row.post_logout_redirect_uris ?? null) ?? [],
    backchannel_logout_uri: row.backchannel_logout_uri ?? null,
    backchannel_logout_session_required: Number(row.backchannel_logout_session_required ?? 0) === 1,
    ...(row.consent != null ? { consent: row.consent === 'skip' ? ('skip' as const) : ('ask' as const) } : {}),
    ...(row.mfa != null ? { mfa: row.mfa === 'required' ? ('required' as const) : ('optional' as const) } : {}),
    // only an explicit 0 turns PKCE off: NULL (older rows) and anything else keep it required
    ...(row.require_pkce != null ? { require_pkce: Number(row.require_pkce) !== 0 } : {}),
    ...(row.require_par != null ? { require_pushed_authorization_requests: Number(row.require_par) !== 0 } : {}),
    // NULL (and an alg this version does not know) reads as absent: the server's default
    ...(row.id_token_signed_response_alg != null && ID_TOKEN_ALGS.has(row.id_token_signed_response_alg)
      ? { id_token_signed_response_alg: row.id_token_signed_response_alg as SigningAlg }
      : {}),
    // NULL (rows written before 0019, or without the setting) reads as absent: any accepted alg
    ...(row.request_object_signing_alg != null ? { request_object_signing_alg: row.request_object_signing_alg } : {}),
    // NULL (rows written before 0020) reads as absent: not required
    ...(row.require_signed_request_object != null ? { require_signed_request_object: Number(row.require_signed_request_object) !== 0 } : {}),
    source: row.source as RecordSource,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
