// PKCE (RFC 7636), S256 only: `plain` is refused, and so is a missing challenge (RFC 9700
// §2.1.1), so a stolen code is useless without the verifier. The one exception: a confidential
// client configured with `require_pkce: false` (server-side RPs that do code flow without
// PKCE) may send no challenge at all; one it does send is checked like anyone's. Public
// clients can never be let off (the config refuses it; checked again here).
import type { FormParams } from '../../../core/http.js';
import type { Client } from '../../clients.js';
import { AuthorizationError } from './request.js';

const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** What auth_codes.code_challenge records for a code issued without PKCE (never a valid challenge). */
export const NO_CHALLENGE = '';

/** Whether the client may leave PKCE out (only ever a client that authenticates). */
export function pkceOptional(client: Client): boolean {
  return client.require_pkce === false && client.token_endpoint_auth_method !== 'none';
}

/** The S256 challenge, or NO_CHALLENGE when none was sent and the client may leave it out. */
export function checkPkce(client: Client, params: FormParams): string {
  const challenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  if (challenge === undefined) {
    if (method !== undefined) throw new AuthorizationError('invalid_request', 'code_challenge_method was sent without code_challenge');
    if (pkceOptional(client)) return NO_CHALLENGE;
    throw new AuthorizationError('invalid_request', 'code_challenge is required (PKCE with S256)');
  }
  if (method !== 'S256') throw new AuthorizationError('invalid_request', 'code_challenge_method must be S256');
  if (!CHALLENGE.test(challenge)) throw new AuthorizationError('invalid_request', 'code_challenge is not a base64url SHA-256 value');
  return challenge;
}
