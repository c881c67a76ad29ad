// The authorization request as the steps build it, and the errors they raise.
import type { FormParams } from '../../../core/http.js';
import type { Client } from '../../clients.js';

export type ResponseMode = 'query' | 'fragment' | 'form_post';

/**
 * The response types accepted: the code flow, and the implicit flow (RFC 6749 §4.2, OIDC Core
 * §3.2) for clients that list `implicit`. Hybrid types (`code id_token`, …) are not offered.
 */
export type ResponseType = 'code' | 'id_token' | 'id_token token' | 'token';

/** Parameters of an authorization request; only these are carried through the login forms. */
export const REQUEST_PARAMS = [
  'client_id',
  'redirect_uri',
  'response_type',
  'response_mode',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'prompt',
  'max_age',
  'login_hint',
  'id_token_hint',
] as const;

/** Parameters of an authorization request that may repeat (RFC 8707 §2: `resource`), carried like those. */
export const REPEATABLE_REQUEST_PARAMS = ['resource'] as const;

export interface AuthorizationRequest {
  params: FormParams;
  client: Client;
  redirectUri: string;
  /**
   * Whether the request named redirect_uri (else the client's single registered URI is used):
   * recorded with the code, since the token request must then repeat it (RFC 6749 §4.1.3)
   */
  redirectUriGiven: boolean;
  responseMode: ResponseMode;
  responseType: ResponseType;
  state: string | undefined;
  nonce: string | undefined;
  scope: string[];
  /** RFC 8707 resource indicators, checked; bound to the code ([] when none were asked for) */
  resources: string[];
  /**
   * PKCE S256 challenge; the code flow only (undefined for implicit response types); '' when
   * none was sent by a client allowed to leave it out (require_pkce: false, see check-pkce.ts)
   */
  codeChallenge: string | undefined;
  prompt: ReadonlySet<string>;
  maxAge: number | undefined;
  loginHint: string | undefined;
  /**
   * the parameters came from a pushed request's request_uri (RFC 9126) or a request object
   * (RFC 9101): the pages carry a request_uri too, so that they stay those to the end
   */
  pushed: boolean;
  /**
   * the parameters came from a verified request object (RFC 9101), sent now or earlier (pushed,
   * or on a previous page): what a client with require_signed_request_object must send
   */
  signed: boolean;
}

export type AuthorizationErrorCode =
  | 'invalid_request'
  | 'unauthorized_client'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required'
  | 'invalid_request_object'
  | 'request_uri_not_supported';

/** An error reported to the client at its redirect URI (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6). */
export class AuthorizationError extends Error {
  readonly code: AuthorizationErrorCode;

  constructor(code: AuthorizationErrorCode, description: string) {
    super(description);
    this.name = 'AuthorizationError';
    this.code = code;
  }
}

/** Shown on the error page, never redirected: the client or redirect URI is not trusted. */
export class UntrustedRequestError extends Error {
  override readonly name = 'UntrustedRequestError';
}
