// A client of the config schema (`auth.clients[]`) as the row storage keeps. One function for
// every writer (the config file sync, `drawbridge client create`, the admin API's /clients),
// so a client reads back the same whichever of them made it. The secret is kept only as its
// SHA-256 digest.
import type { ClientConfig } from '../config/types.js';
import { randomToken, sha256Hex } from '../core/crypto-util.js';
import type { ClientRecord, RecordSource } from './types.js';

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
    post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
    backchannel_logout_uri: c.backchannel_logout_uri ?? null,
    backchannel_logout_session_required: c.backchannel_logout_session_required ?? false,
    consent: c.consent ?? 'ask',
    mfa: c.mfa ?? 'optional',
    // absent stays absent: the server's default ID token alg, which may change with the config
    ...(c.id_token_signed_response_alg !== undefined ? { id_token_signed_response_alg: c.id_token_signed_response_alg } : {}),
    require_pkce: c.require_pkce ?? true,
    require_pushed_authorization_requests: c.require_pushed_authorization_requests ?? false,
    ...(c.request_object_signing_alg !== undefined ? { request_object_signing_alg: c.request_object_signing_alg } : {}),
    require_signed_request_object: c.require_signed_request_object ?? false,
    source,
    created_at: now,
    updated_at: now,
  };
}

/** The client authentication methods that hold a secret. */
export const SECRET_METHODS: ReadonlySet<string> = new Set(['client_secret_basic', 'client_secret_post']);

/**
 * The record with a new generated secret (only its digest kept) and that secret, to show
 * once; undefined when the client's method holds no secret. One rule for the admin API and
 * `drawbridge client rotate-secret`.
 */
export function withNewSecret(rec: ClientRecord, now: number): { rec: ClientRecord; secret: string } | undefined {
  if (!SECRET_METHODS.has(rec.token_endpoint_auth_method)) return undefined;
  const secret = randomToken(32);
  return { rec: { ...rec, secret_hash: sha256Hex(secret), updated_at: now }, secret };
}
