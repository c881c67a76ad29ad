// RFC 8693 token exchange: trade the token this service received (the gateway's internal
// JWT, or an access token) for one to call another service on the same user's behalf. The
// issued token keeps the user as `sub` and names this service in `act`.
import { DrawbridgeOAuthError } from './errors.js';
import { appendAll, checkEndpointOptions, postToken, scopeParam, type TokenEndpointOptions, type TokenResponse } from './token-endpoint.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** RFC 8693 §3 token type identifiers. */
export const TokenType = Object.freeze({
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const);

export interface TokenExchangeOptions extends TokenEndpointOptions {
  /** the token to exchange — typically `bearerToken(req.headers)` */
  subjectToken: string;
  /** default `…:token-type:jwt` (the gateway's internal JWT) */
  subjectTokenType?: string;
  /** target service name(s) */
  audience?: string | readonly string[];
  /** RFC 8707 resource indicator(s) */
  resource?: string | readonly string[];
  /** at most the subject token's scope */
  scope?: string | readonly string[];
  /** e.g. `TokenType.jwt` for a JWT instead of the server's default */
  requestedTokenType?: string;
  actorToken?: string;
  /** default `…:token-type:jwt` when actorToken is given */
  actorTokenType?: string;
}

export interface TokenExchangeResponse extends TokenResponse {
  issued_token_type: string;
}

export async function exchangeToken(opts: TokenExchangeOptions): Promise<TokenExchangeResponse> {
  checkEndpointOptions(opts, 'exchangeToken');
  if (typeof opts.subjectToken !== 'string' || opts.subjectToken === '') throw new TypeError('exchangeToken: subjectToken is required');
  const params = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE_GRANT,
    subject_token: opts.subjectToken,
    subject_token_type: opts.subjectTokenType ?? TokenType.jwt,
  });
  appendAll(params, 'resource', opts.resource);
  appendAll(params, 'audience', opts.audience);
  const scope = scopeParam(opts.scope);
  if (scope !== undefined) params.set('scope', scope);
  if (opts.requestedTokenType !== undefined) params.set('requested_token_type', opts.requestedTokenType);
  if (opts.actorToken !== undefined) {
    params.set('actor_token', opts.actorToken);
    params.set('actor_token_type', opts.actorTokenType ?? TokenType.jwt);
  }
  const response = await postToken(opts, params);
  // §2.2.1: issued_token_type is REQUIRED
  if (typeof response.issued_token_type !== 'string' || response.issued_token_type === '') {
    throw new DrawbridgeOAuthError('server_error', 'token exchange response lacks issued_token_type', 200);
  }
  return response as TokenExchangeResponse;
}
