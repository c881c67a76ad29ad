// PKCE (RFC 7636) for every client, S256 only: `plain` and a missing challenge are refused
// (RFC 9700 §2.1.1), so a stolen code is useless without the verifier.
import type { FormParams } from '../../../core/http.js';
import { AuthorizationError } from './request.js';

const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export function checkPkce(params: FormParams): string {
  const challenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  if (challenge === undefined) throw new AuthorizationError('invalid_request', 'code_challenge is required (PKCE with S256)');
  if (method !== 'S256') throw new AuthorizationError('invalid_request', 'code_challenge_method must be S256');
  if (!CHALLENGE.test(challenge)) throw new AuthorizationError('invalid_request', 'code_challenge is not a base64url SHA-256 value');
  return challenge;
}
