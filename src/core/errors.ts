// One closed set of error codes. Every error the auth server or CLI reports is an
// AppError carrying `code`, `status`, whether its description may be shown (`expose`),
// extra response headers, and the underlying `cause` (logged, never sent).

type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'unsupported_token_type'
  | 'access_denied'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'not_found'
  | 'method_not_allowed';

export class AppError extends Error {
  readonly code: OAuthErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly headers: Record<string, string>;

  constructor(
    code: OAuthErrorCode,
    status: number,
    description: string,
    opts: { expose?: boolean; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(description, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.expose = opts.expose ?? status < 500;
    this.headers = opts.headers ?? {};
  }

  /** RFC 6749 §5.2 body */
  toJSON(): { error: OAuthErrorCode; error_description?: string } {
    return this.expose ? { error: this.code, error_description: oauthDescription(this.message) } : { error: this.code };
  }
}

/**
 * RFC 6749 §4.1.2.1 / §5.2: an error_description may only hold %x20-21 / %x23-5B / %x5D-7E.
 * Our messages quote names ("…") and may echo what the client sent, so quotes become ',
 * backslashes / and anything else outside printable ASCII ?.
 */
export function oauthDescription(text: string): string {
  return text.replace(/"/g, "'").replace(/\\/g, '/').replace(/[^\x20-\x7e]/g, '?');
}

// Factory, in the spirit of oidc-provider's E('invalid_grant', …): one line per code.
function factory(code: OAuthErrorCode, status: number) {
  return function makeError(description: string, opts?: { headers?: Record<string, string>; cause?: unknown }) {
    return new AppError(code, status, description, opts);
  };
}

export const invalidRequest = factory('invalid_request', 400);
export const invalidGrant = factory('invalid_grant', 400);
export const unauthorizedClient = factory('unauthorized_client', 400);
export const unsupportedGrantType = factory('unsupported_grant_type', 400);
export const invalidScope = factory('invalid_scope', 400);
export const invalidTarget = factory('invalid_target', 400);
export const notFound = factory('not_found', 404);

/** RFC 6749 §5.2: invalid_client is 401 with a WWW-Authenticate challenge. */
export function invalidClient(description: string, cause?: unknown): AppError {
  return new AppError('invalid_client', 401, description, {
    headers: { 'www-authenticate': 'Basic realm="drawbridge", charset="UTF-8"' },
    cause,
  });
}

export function methodNotAllowed(allowed: readonly string[]): AppError {
  return new AppError('invalid_request', 405, `method not allowed; use ${allowed.join(' or ')}`, {
    headers: { allow: allowed.join(', ') },
  });
}

export function payloadTooLarge(limit: number): AppError {
  return new AppError('invalid_request', 413, `request body exceeds ${limit} bytes`);
}

export function tooManyRequests(retryAfterSeconds: number, description: string): AppError {
  return new AppError('temporarily_unavailable', 429, description, {
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  });
}

function serverError(cause: unknown): AppError {
  return new AppError('server_error', 500, 'internal server error', { expose: false, cause });
}

/** 503 temporarily_unavailable with Retry-After (RFC 6749 §4.1.2.1's code; RFC 7009 §2.2.1's status). */
export function serviceUnavailable(description: string, retryAfterSeconds = 5, cause?: unknown): AppError {
  return new AppError('temporarily_unavailable', 503, description, {
    expose: true,
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    cause,
  });
}

/**
 * Something the request needs (Redis, a database) did not answer. The layer that talks to it
 * throws this with the failure as `cause` (cache/counter.ts); every renderer that goes through
 * toAppError answers 503 with Retry-After: the request may well succeed when retried, so a 500
 * would be wrong, and the caller must not be let through without what it needed either.
 */
export class UnavailableError extends Error {
  override readonly name: string = 'UnavailableError';
  readonly retryAfterSeconds: number;
  constructor(message: string, opts: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.retryAfterSeconds = opts.retryAfterSeconds ?? 5;
  }
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  // what failed (e.g. which store) is logged from the cause, not told to the client
  if (err instanceof UnavailableError) return serviceUnavailable('temporarily unable to handle the request; retry later', err.retryAfterSeconds, err);
  return serverError(err);
}
