// One POST to the token endpoint (RFC 6749 §3.2) with client_secret_basic authentication,
// shared by client_credentials and token exchange. Errors come back as DrawbridgeOAuthError
// carrying the endpoint's `error` / `error_description`; the secret never appears in them.
import { describe, discover, DiscoveryError } from './discovery.js';
import { DrawbridgeOAuthError } from './errors.js';

export interface TokenEndpointOptions {
  /** The auth server's issuer: the token endpoint is found by discovery. */
  issuer?: string;
  /** Or the token endpoint itself (no discovery). */
  tokenEndpoint?: string;
  clientId: string;
  clientSecret: string;
  /** ms per request (discovery and token); default 10000 */
  timeoutMs?: number;
}

/** A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1). */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  /** seconds; absent when the server did not say */
  expires_in?: number;
  scope?: string;
  refresh_token?: string;
  /** token exchange only */
  issued_token_type?: string;
  readonly [field: string]: unknown;
}

export function checkEndpointOptions(opts: TokenEndpointOptions, who: string): void {
  if (!opts.issuer && !opts.tokenEndpoint) throw new TypeError(`${who}: issuer or tokenEndpoint is required`);
  if (typeof opts.clientId !== 'string' || opts.clientId === '') throw new TypeError(`${who}: clientId is required`);
  if (typeof opts.clientSecret !== 'string' || opts.clientSecret === '') throw new TypeError(`${who}: clientSecret is required`);
}

/** RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded, then joined and Base64'd. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const form = (v: string) => new URLSearchParams([['', v]]).toString().slice(1);
  return `Basic ${Buffer.from(`${form(clientId)}:${form(clientSecret)}`).toString('base64')}`;
}

async function endpointOf(opts: TokenEndpointOptions, timeoutMs: number): Promise<string> {
  if (opts.tokenEndpoint) return opts.tokenEndpoint;
  try {
    const meta = await discover(opts.issuer!, timeoutMs);
    if (meta.token_endpoint === undefined) throw new DiscoveryError(`${opts.issuer} advertises no token_endpoint`);
    return meta.token_endpoint;
  } catch (err) {
    throw new DrawbridgeOAuthError('temporarily_unavailable', err instanceof Error ? err.message : String(err), 0, { cause: err });
  }
}

export async function postToken(opts: TokenEndpointOptions, params: URLSearchParams): Promise<TokenResponse> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const endpoint = await endpointOf(opts, timeoutMs);
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: basicAuthorization(opts.clientId, opts.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: params.toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new DrawbridgeOAuthError('temporarily_unavailable', `token endpoint unreachable: ${describe(err)}`, 0, { cause: err });
  }
  let body: unknown;
  try {
    body = JSON.parse(await res.text());
  } catch {
    body = undefined;
  }
  const json = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  if (res.status !== 200) {
    if (json && typeof json.error === 'string') {
      const description = typeof json.error_description === 'string' ? json.error_description : undefined;
      throw new DrawbridgeOAuthError(json.error, description, res.status);
    }
    throw new DrawbridgeOAuthError('server_error', `token endpoint answered ${res.status} without an OAuth error`, res.status);
  }
  if (!json || typeof json.access_token !== 'string' || json.access_token === '' || typeof json.token_type !== 'string') {
    throw new DrawbridgeOAuthError('server_error', 'token endpoint answered 200 without access_token and token_type', res.status);
  }
  if (json.expires_in !== undefined && (typeof json.expires_in !== 'number' || !(json.expires_in >= 0))) {
    throw new DrawbridgeOAuthError('server_error', 'token endpoint answered a malformed expires_in', res.status);
  }
  return json as TokenResponse;
}

/** Appends a value or several (RFC 8707 `resource`, RFC 8693 `audience` may repeat). */
export function appendAll(params: URLSearchParams, name: string, value: string | readonly string[] | undefined): void {
  if (value === undefined) return;
  for (const v of typeof value === 'string' ? [value] : value) params.append(name, v);
}

/** `scope` as a string or a list. */
export function scopeParam(scope: string | readonly string[] | undefined): string | undefined {
  if (scope === undefined) return undefined;
  const text = typeof scope === 'string' ? scope : scope.join(' ');
  return text === '' ? undefined : text;
}
