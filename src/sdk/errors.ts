// The two error classes a service sees from the SDK.
//
// DrawbridgeAuthError: the *caller* of this service failed authentication or authorization.
// It maps one-to-one onto an RFC 6750 §3 answer (status, `error` code, challenge scope), so
// the middleware — or a service's own error handler via `sendAuthError` — can answer it.
//
// DrawbridgeOAuthError: *this service's own* call to the token endpoint failed (bad client
// secret, scope not allowed, server down). It is deliberately not a DrawbridgeAuthError: a
// failed outgoing call is not the incoming caller's fault and must not become their 401.
//
// Neither message ever contains a token or a secret: descriptions are our own words (or,
// for DrawbridgeOAuthError, the token endpoint's `error_description`).

/** RFC 6750 §3.1 codes, plus `temporarily_unavailable` when the keys cannot be fetched. */
export type AuthErrorCode = 'invalid_token' | 'insufficient_scope' | 'invalid_request' | 'temporarily_unavailable';

export class DrawbridgeAuthError extends Error {
  override readonly name = 'DrawbridgeAuthError';
  /** 401 invalid_token, 403 insufficient_scope, 400 invalid_request, 503 temporarily_unavailable */
  readonly status: 400 | 401 | 403 | 503;
  readonly code: AuthErrorCode;
  /** For insufficient_scope: the scopes the request needs (sent as the challenge's `scope`). */
  readonly scope: readonly string[] | undefined;
  /** The request carried no credentials at all: the challenge then has no error code (RFC 6750 §3.1). */
  readonly noCredentials: boolean;

  constructor(
    code: AuthErrorCode,
    description: string,
    opts: { scope?: readonly string[]; noCredentials?: boolean; cause?: unknown } = {},
  ) {
    super(description, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.status = STATUS[code];
    this.scope = opts.scope;
    this.noCredentials = opts.noCredentials ?? false;
  }
}

const STATUS = {
  invalid_token: 401,
  insufficient_scope: 403,
  invalid_request: 400,
  temporarily_unavailable: 503,
} as const;

export class DrawbridgeOAuthError extends Error {
  override readonly name = 'DrawbridgeOAuthError';
  /** RFC 6749 §5.2 code from the token endpoint (`invalid_client`, `invalid_scope`, …), or
   *  `server_error` / `temporarily_unavailable` when no usable answer came back. */
  readonly error: string;
  readonly error_description: string | undefined;
  /** HTTP status of the token endpoint's answer; 0 when none arrived. */
  readonly status: number;

  constructor(error: string, description: string | undefined, status: number, opts: { cause?: unknown } = {}) {
    super(description ? `token endpoint: ${error}: ${description}` : `token endpoint: ${error}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.error = error;
    this.error_description = description;
    this.status = status;
  }
}
