// drawbridge/sdk — what a microservice behind Drawbridge imports. Depends on jose only.
//
//   verify:   createVerifier → verifier.verify(token) → InternalClaims
//   guard:    requireScopes / requireGroups, or authenticate(verifier, { scopes, groups })
//             (+ authErrorHandler(verifier) after Express routes that call the guards)
//   call:     clientCredentials(…).fetch(url)  — as this service
//             exchangeToken(…)                  — on behalf of the caller (RFC 8693)
export { createVerifier, DEFAULT_ALGORITHMS, type Verifier, type VerifierOptions } from './verifier.js';
export type { Actor, AuthMethod, InternalClaims } from './claims.js';
export { DrawbridgeAuthError, DrawbridgeOAuthError, type AuthErrorCode } from './errors.js';
export { bearerToken, type HeadersLike } from './bearer.js';
export { hasScopes, inAnyGroup, requireGroups, requireScopes } from './guards.js';
export {
  authenticate,
  authErrorHandler,
  challengeFor,
  sendAuthError,
  type Authenticate,
  type AuthenticatedRequest,
  type AuthenticateOptions,
  type AuthErrorHandler,
  type AuthErrorHandlerOptions,
  type Next,
} from './middleware.js';
export { clientCredentials, type ClientCredentials, type ClientCredentialsOptions } from './client-credentials.js';
export {
  exchangeToken,
  TOKEN_EXCHANGE_GRANT,
  TokenType,
  type TokenExchangeOptions,
  type TokenExchangeResponse,
} from './token-exchange.js';
export { basicAuthorization, type TokenEndpointOptions, type TokenResponse } from './token-endpoint.js';
export { forgetDiscovery, type IssuerMetadata } from './discovery.js';
