// Clients as the auth server uses them: the stored record plus lookups prepared once.
import type { ClientConfig, GrantType } from '../config/types.js';
import { sha256Hex } from '../core/crypto-util.js';
import type { ClientRecord, RecordSource } from '../storage/types.js';

export interface Client extends ClientRecord {
  scopeSet: ReadonlySet<string>;
  grantSet: ReadonlySet<GrantType>;
}

export function toClient(rec: ClientRecord): Client {
  return { ...rec, scopeSet: new Set(rec.scopes), grantSet: new Set(rec.grant_types) };
}

export function clientRecordFromConfig(c: ClientConfig, source: RecordSource, now: number): ClientRecord {
  return {
    client_id: c.client_id,
    client_name: c.client_name ?? null,
    secret_hash: c.client_secret !== undefined ? sha256Hex(c.client_secret) : (c.client_secret_sha256?.toLowerCase() ?? null),
    redirect_uris: c.redirect_uris,
    grant_types: c.grant_types,
    scopes: c.scopes,
    default_scopes: c.default_scopes ?? c.scopes,
    token_endpoint_auth_method: c.token_endpoint_auth_method,
    jwks: c.jwks ?? null,
    jwks_uri: c.jwks_uri ?? null,
    access_token_format: c.access_token_format,
    access_token_ttl: c.access_token_ttl ?? null,
    audiences: c.audiences ?? null,
    source,
    created_at: now,
    updated_at: now,
  };
}
