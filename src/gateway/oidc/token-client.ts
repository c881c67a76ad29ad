// The relying party's back-channel calls: the pushed authorization request (RFC 9126), the
// authorization code exchange (RFC 6749 §4.1.3 with the PKCE verifier, RFC 7636), the
// refresh-token grant (§6) and token revocation (RFC 7009), authenticated with
// client_secret_basic (default), client_secret_post or none.
import { basicCredentials } from '../../core/http.js';
import { callProvider } from './http.js';
import type { OpenIdProvider } from './provider.js';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export interface ClientCredentials {
  clientId: string;
  clientSecret?: string;
  authMethod: ClientAuthMethod;
  timeoutMs: number;
}

interface TokenSet {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  /** seconds, when the provider says */
  expires_in?: number;
  scope?: string;
}

/**
 * A token endpoint answer: tokens, a refusal by the provider (`error`: invalid_grant means
 * the refresh token or code is dead), or that the provider could not be asked (`problem`).
 */
export type TokenOutcome =
  | { kind: 'tokens'; tokens: TokenSet }
  | { kind: 'refused'; error: string; description?: string }
  | { kind: 'unavailable'; problem: string };

function authenticate(creds: ClientCredentials, form: URLSearchParams): Record<string, string> {
  if (creds.authMethod === 'client_secret_basic') return { authorization: basicCredentials(creds.clientId, creds.clientSecret ?? '') };
  form.set('client_id', creds.clientId);
  if (creds.authMethod === 'client_secret_post') form.set('client_secret', creds.clientSecret ?? '');
  return {};
}

async function tokenRequest(provider: OpenIdProvider, creds: ClientCredentials, form: URLSearchParams): Promise<TokenOutcome> {
  let endpoint: string;
  try {
    endpoint = (await provider.metadata()).token_endpoint;
  } catch (err) {
    return { kind: 'unavailable', problem: (err as Error).message };
  }
  const headers = authenticate(creds, form);
  const answer = await callProvider(endpoint, { method: 'POST', headers, form, timeoutMs: creds.timeoutMs });
  if (!answer.ok) return { kind: 'unavailable', problem: answer.problem };
  const body = answer.json;
  if (answer.status >= 400 && answer.status < 500 && body !== undefined && typeof body.error === 'string') {
    const refused: TokenOutcome = { kind: 'refused', error: body.error };
    if (typeof body.error_description === 'string') refused.description = body.error_description;
    return refused;
  }
  if (answer.status !== 200 || body === undefined) return { kind: 'unavailable', problem: `token endpoint answered ${answer.status}` };
  if (typeof body.access_token !== 'string' || body.access_token === '') return { kind: 'unavailable', problem: 'token response has no access_token' };
  if (typeof body.token_type !== 'string' || body.token_type.toLowerCase() !== 'bearer') {
    // DPoP-bound or unknown token types are of no use to a gateway holding the tokens
    return { kind: 'unavailable', problem: `token response has token_type ${String(body.token_type)}` };
  }
  const tokens: TokenSet = { access_token: body.access_token };
  if (typeof body.refresh_token === 'string' && body.refresh_token !== '') tokens.refresh_token = body.refresh_token;
  if (typeof body.id_token === 'string' && body.id_token !== '') tokens.id_token = body.id_token;
  if (typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) && body.expires_in >= 0) tokens.expires_in = body.expires_in;
  if (typeof body.scope === 'string') tokens.scope = body.scope;
  return { kind: 'tokens', tokens };
}

export function exchangeCode(
  provider: OpenIdProvider,
  creds: ClientCredentials,
  code: string,
  redirectUri: string,
  codeVerifier: string,
): Promise<TokenOutcome> {
  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier });
  return tokenRequest(provider, creds, form);
}

export function refreshTokens(provider: OpenIdProvider, creds: ClientCredentials, refreshToken: string): Promise<TokenOutcome> {
  return tokenRequest(provider, creds, new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }));
}

/**
 * RFC 9126: pushes the authorization request; the request_uri to send the browser with, or
 * why not (the provider refused the request, or could not be asked).
 */
export async function pushAuthorizationRequest(
  endpoint: string,
  creds: ClientCredentials,
  params: URLSearchParams,
): Promise<{ ok: true; requestUri: string } | { ok: false; problem: string }> {
  const form = new URLSearchParams(params);
  form.delete('client_id'); // authenticate() adds it where the method sends it in the body
  const headers = authenticate(creds, form);
  const answer = await callProvider(endpoint, { method: 'POST', headers, form, timeoutMs: creds.timeoutMs });
  if (!answer.ok) return { ok: false, problem: answer.problem };
  const body = answer.json;
  if (answer.status !== 201 || body === undefined || typeof body.request_uri !== 'string' || body.request_uri === '') {
    const error = body !== undefined && typeof body.error === 'string' ? `: ${body.error}${typeof body.error_description === 'string' ? ` (${body.error_description})` : ''}` : '';
    return { ok: false, problem: `the pushed authorization request endpoint answered ${answer.status}${error}` };
  }
  return { ok: true, requestUri: body.request_uri };
}

/** RFC 7009; true when the provider accepted (200). A provider without the endpoint: false. */
export async function revokeToken(
  provider: OpenIdProvider,
  creds: ClientCredentials,
  token: string,
  hint: 'access_token' | 'refresh_token',
): Promise<boolean> {
  let endpoint: string | undefined;
  try {
    endpoint = (await provider.metadata()).revocation_endpoint;
  } catch {
    return false;
  }
  if (endpoint === undefined) return false;
  const form = new URLSearchParams({ token, token_type_hint: hint });
  const headers = authenticate(creds, form);
  const answer = await callProvider(endpoint, { method: 'POST', headers, form, timeoutMs: creds.timeoutMs });
  return answer.ok && answer.status === 200;
}
