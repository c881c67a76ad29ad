// response_type: `code` (authorization code flow, clients with `authorization_code`) or the
// implicit flow's `id_token`, `id_token token` and `token` (RFC 6749 §4.2, OIDC Core §3.2),
// only for clients that list `implicit` in grant_types (RFC 9700 §2.1.2 says not to use it,
// so it is off unless a client asks). The values are space-separated sets: order is free.
import type { FormParams } from '../../../core/http.js';
import type { Client } from '../../clients.js';
import { AuthorizationError, type ResponseType } from './request.js';

export const RESPONSE_TYPES: readonly ResponseType[] = ['code', 'id_token', 'id_token token', 'token'];

/** The response type in canonical order (`token id_token` → `id_token token`), or undefined if unknown. */
export function parseResponseType(raw: string | undefined): ResponseType | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(' ').filter((p) => p !== '');
  if (new Set(parts).size !== parts.length) return undefined;
  const canonical = parts.sort().join(' ');
  return (RESPONSE_TYPES as readonly string[]).includes(canonical) ? (canonical as ResponseType) : undefined;
}

/** true for the implicit flow's types: tokens come back in the front channel. */
export function isImplicit(type: ResponseType | undefined): boolean {
  return type !== undefined && type !== 'code';
}

export function checkResponseType(client: Client, params: FormParams): ResponseType {
  const raw = params.get('response_type');
  if (raw === undefined) throw new AuthorizationError('invalid_request', 'missing required parameter "response_type"');
  const type = parseResponseType(raw);
  if (type === undefined) throw new AuthorizationError('unsupported_response_type', `response_type "${raw}" is not supported`);
  const grant = type === 'code' ? 'authorization_code' : 'implicit';
  if (!client.grantSet.has(grant)) {
    throw new AuthorizationError('unauthorized_client', `the client may not use response_type "${type}" (grant type ${grant} is not enabled for it)`);
  }
  return type;
}
