// /clients, /clients/{client_id}, /clients/{client_id}/secret: the auth server's OAuth clients,
// managed as `drawbridge client …` manages them (and as Hydra's admin API does). A client is
// checked by the config schema itself (config/client.ts), so a body is what an
// `auth.clients[]` entry of the file may hold; a secret is always generated here, shown once,
// and stored only as its SHA-256 digest. Clients of the config file are listed but read-only
// (the next start would undo a change). Every change is published (`client.changed`, and
// `client.revoked` on delete), so auth servers drop their cached copy at once and gateways
// what they cached for the client's tokens.
import { randomUUID } from 'node:crypto';
import { ConfigError } from '../../config/schema.js';
import { clientRevocationEvents } from '../../cache/events.js';
import { validateClientConfig } from '../../config/client.js';
import type { ClientConfig } from '../../config/types.js';
import { randomToken } from '../../core/crypto-util.js';
import { clientRecordFromConfig, SECRET_METHODS, withNewSecret } from '../../storage/client-records.js';
import type { ClientRecord } from '../../storage/types.js';
import type { AdminContext, AdminRequest, ClientRules } from './context.js';
import { AdminError, methodNotAllowed, conflict, invalidField, notFound, readObject, sendData, sendList } from './respond.js';

/** Shown by GET, ignored when sent back (a GET body can be PATCHed as it is). */
const READ_ONLY = ['source', 'created_at', 'updated_at'];

/** Methods that authenticate with a client secret: such a client gets a generated one. */

export async function clientsEndpoint(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  const [, clientId, sub, ...rest] = ar.segments;
  if (rest.length > 0) throw notFound('path');
  if (clientId === undefined) return clientCollection(ctx, ar);
  if (sub === undefined) return oneClient(ctx, ar, clientId);
  if (sub !== 'secret') throw notFound('path');
  return rotateSecret(ctx, ar, clientId);
}

async function clientCollection(ctx: AdminContext, ar: AdminRequest): Promise<void> {
  if (ar.method === 'GET') return sendList(ar.res, await ctx.storage.clients.list(), ar.req, { key: (c) => [c.client_id] }, view);
  if (ar.method !== 'POST') throw methodNotAllowed(['GET', 'POST']);
  const rules = ctx.clientRules();
  const body = clientBody(await readObject(ar.req));
  if (body.client_id === undefined || body.client_id === null) body.client_id = randomUUID();
  // as the schema derives it: no method and no keys is client_secret_basic
  const method = body.token_endpoint_auth_method ?? (body.jwks === undefined && body.jwks_uri === undefined ? 'client_secret_basic' : undefined);
  const secret = typeof method === 'string' && SECRET_METHODS.has(method) ? randomToken(32) : undefined;
  const validated = checked({ ...body, ...(secret !== undefined ? { client_secret: secret } : {}) }, rules);
  if (rules.fileClientIds.has(validated.client_id)) throw fileClient(validated.client_id);
  const rec = clientRecordFromConfig(validated, 'admin', ctx.clock.now());
  // insert-only: of two POSTs racing for one client_id, exactly one gets 201 (and its secret works)
  if (!(await ctx.storage.clients.insert(rec))) {
    throw new AdminError('conflict', 409, `client "${rec.client_id}" already exists`, { fields: { client_id: 'already in use' } });
  }
  await changed(ctx, rec.client_id);
  // the secret is shown now and never again
  sendData(ar.res, 201, { ...view(rec), ...(secret !== undefined ? { client_secret: secret } : {}) });
}

async function oneClient(ctx: AdminContext, ar: AdminRequest, clientId: string): Promise<void> {
  const rec = await findClient(ctx, clientId);
  switch (ar.method) {
    case 'GET':
      return sendData(ar.res, 200, view(rec));
    case 'PATCH':
      return patchClient(ctx, ar, rec);
    case 'DELETE': {
      refuseFile(ctx, rec);
      if (!(await ctx.storage.clients.delete(rec.client_id))) throw notFound(`client "${rec.client_id}"`);
      // as `drawbridge client delete`: its tokens stop working with it, and so do the tokens
      // other clients exchanged from them (RFC 8693 delegation ends with its subject token)
      const now = ctx.clock.now();
      await ctx.storage.tokens.revokeByClient(rec.client_id, now);
      const exchanged = await ctx.storage.tokens.revokeExchangedFromClient(rec.client_id, now);
      for (const e of clientRevocationEvents(rec.client_id, exchanged)) await ctx.events.publish(e);
      return sendData(ar.res, 204, null);
    }
    default:
      throw methodNotAllowed(['GET', 'PATCH', 'DELETE']);
  }
}

/**
 * Merge: the fields given replace the stored ones, `null` returns a field to its default,
 * the rest stays; the result is checked as a whole. Switching to a secret method generates a
 * secret (shown once); switching away from one drops the stored digest.
 */
async function patchClient(ctx: AdminContext, ar: AdminRequest, rec: ClientRecord): Promise<void> {
  refuseFile(ctx, rec);
  const rules = ctx.clientRules();
  const body = clientBody(await readObject(ar.req));
  if (body.client_id !== undefined && body.client_id !== rec.client_id) throw invalidField('client_id', 'cannot be changed; create a new client');
  const merged = configOf(rec);
  // default_scopes that only followed scopes (the schema's default) keep following them
  if (body.scopes !== undefined && body.default_scopes === undefined && sameSet(rec.default_scopes, rec.scopes)) delete merged.default_scopes;
  for (const [key, value] of Object.entries(body)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  let secret: string | undefined;
  const method = merged.token_endpoint_auth_method;
  if (typeof method === 'string' && SECRET_METHODS.has(method)) {
    if (merged.client_secret_sha256 === undefined) {
      secret = randomToken(32);
      merged.client_secret = secret;
    }
  } else if (method !== undefined) {
    delete merged.client_secret_sha256;
  }
  const validated = checked(merged, rules);
  const next: ClientRecord = { ...clientRecordFromConfig(validated, rec.source, ctx.clock.now()), created_at: rec.created_at };
  // an update, never an upsert: a PATCH racing a DELETE must not bring the client back
  if (!(await ctx.storage.clients.update(next))) throw notFound(`client "${rec.client_id}"`);
  await changed(ctx, next.client_id);
  sendData(ar.res, 200, { ...view(next), ...(secret !== undefined ? { client_secret: secret } : {}) });
}

/** POST /clients/{id}/secret: a new secret, shown once; the old one stops working at once. */
async function rotateSecret(ctx: AdminContext, ar: AdminRequest, clientId: string): Promise<void> {
  if (ar.method !== 'POST') {
    ar.req.resume();
    throw methodNotAllowed(['POST']);
  }
  const rec = await findClient(ctx, clientId);
  refuseFile(ctx, rec);
  const body = await readObject(ar.req);
  const extra = Object.keys(body)[0];
  if (extra !== undefined) throw invalidField(extra, 'unknown field (the new secret is generated)');
  const rotated = withNewSecret(rec, ctx.clock.now());
  if (rotated === undefined) throw conflict(`client "${rec.client_id}" authenticates with ${rec.token_endpoint_auth_method}; it has no secret to rotate`);
  if (!(await ctx.storage.clients.update(rotated.rec))) throw notFound(`client "${rec.client_id}"`);
  await changed(ctx, rec.client_id);
  sendData(ar.res, 200, { ...view(rotated.rec), client_secret: rotated.secret });
}

/**
 * A request body as config fields: read-only fields dropped, secrets refused (they are
 * generated, so none is ever chosen by hand, logged by a proxy or kept in shell history).
 * Everything else is the schema's to judge, unknown fields included.
 */
function clientBody(body: Record<string, unknown>): Record<string, unknown> {
  for (const key of ['client_secret', 'client_secret_sha256']) {
    if (body[key] !== undefined) throw invalidField(key, 'not accepted: a secret is generated and returned once (rotate it with POST /clients/{client_id}/secret)');
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) if (!READ_ONLY.includes(key)) out[key] = value;
  return out;
}

/** The config schema's verdict, as a 400 naming the field. */
function checked(raw: Record<string, unknown>, rules: ClientRules): ClientConfig {
  try {
    return validateClientConfig(raw, { issuer: rules.issuer, keys: rules.keys });
  } catch (err) {
    if (err instanceof ConfigError) throw invalidField(err.path, err.problem);
    throw err;
  }
}

/** A stored client as the config fields it came from (the secret as its digest), for a merge. */
function configOf(rec: ClientRecord): Record<string, unknown> {
  const raw: Record<string, unknown> = {
    client_id: rec.client_id,
    redirect_uris: rec.redirect_uris,
    grant_types: rec.grant_types,
    scopes: rec.scopes,
    default_scopes: rec.default_scopes,
    token_endpoint_auth_method: rec.token_endpoint_auth_method,
    access_token_format: rec.access_token_format,
    post_logout_redirect_uris: rec.post_logout_redirect_uris,
    backchannel_logout_session_required: rec.backchannel_logout_session_required,
  };
  if (rec.client_name !== null) raw.client_name = rec.client_name;
  if (rec.secret_hash !== null) raw.client_secret_sha256 = rec.secret_hash;
  if (rec.jwks !== null) raw.jwks = rec.jwks;
  if (rec.jwks_uri !== null) raw.jwks_uri = rec.jwks_uri;
  if (rec.access_token_ttl !== null) raw.access_token_ttl = rec.access_token_ttl;
  if (rec.audiences !== null) raw.audiences = rec.audiences;
  if (rec.backchannel_logout_uri !== null) raw.backchannel_logout_uri = rec.backchannel_logout_uri;
  if (rec.consent !== undefined) raw.consent = rec.consent;
  if (rec.mfa !== undefined) raw.mfa = rec.mfa;
  if (rec.require_pkce !== undefined) raw.require_pkce = rec.require_pkce;
  if (rec.require_pushed_authorization_requests !== undefined) raw.require_pushed_authorization_requests = rec.require_pushed_authorization_requests;
  if (rec.id_token_signed_response_alg !== undefined) raw.id_token_signed_response_alg = rec.id_token_signed_response_alg;
  if (rec.request_object_signing_alg !== undefined) raw.request_object_signing_alg = rec.request_object_signing_alg;
  if (rec.require_signed_request_object !== undefined) raw.require_signed_request_object = rec.require_signed_request_object;
  return raw;
}

/** A client as the API shows it: every field but the secret digest; absent settings as their effect. */
function view(rec: ClientRecord): Record<string, unknown> {
  const { secret_hash: _digest, ...shown } = rec;
  return {
    ...shown,
    consent: rec.consent ?? 'ask',
    mfa: rec.mfa ?? 'optional',
    require_pkce: rec.require_pkce ?? true,
    require_pushed_authorization_requests: rec.require_pushed_authorization_requests ?? false,
    id_token_signed_response_alg: rec.id_token_signed_response_alg ?? null,
    request_object_signing_alg: rec.request_object_signing_alg ?? null,
    require_signed_request_object: rec.require_signed_request_object ?? false,
  };
}

async function findClient(ctx: AdminContext, clientId: string): Promise<ClientRecord> {
  const rec = await ctx.storage.clients.get(clientId);
  if (!rec) throw notFound(`client "${clientId}"`);
  return rec;
}

function refuseFile(ctx: AdminContext, rec: ClientRecord): void {
  if (rec.source === 'config' || ctx.clientRules().fileClientIds.has(rec.client_id)) throw fileClient(rec.client_id);
}

function fileClient(clientId: string): AdminError {
  return conflict(`client "${clientId}" is defined in the config file; change it there`);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

async function changed(ctx: AdminContext, clientId: string): Promise<void> {
  await ctx.events.publish({ type: 'client.changed', client_id: clientId });
}
