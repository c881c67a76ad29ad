// Gateway errors (ARCHITECTURE §6): JSON { error, error_description, request_id } with
// the scheme's challenge on 401. Never a stack trace; never a 500 for bad input.
type GatewayErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'unauthorized'
  | 'insufficient_scope'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'rate_limited'
  | 'bad_gateway'
  | 'service_unavailable'
  | 'gateway_timeout'
  | 'internal_error';

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;
  /** which plugin refused, and why (metrics label; never secret) */
  readonly reason: string | undefined;

  constructor(code: GatewayErrorCode, status: number, description: string, opts: { headers?: Record<string, string>; reason?: string; cause?: unknown } = {}) {
    // No stack trace: a gateway error is an answer, never shown with its stack, and a 401
    // flood must not pay V8's stack capture per request (it was a fifth of the CPU of an
    // unauthenticated request). A failure's own stack travels in `cause`.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(description, opts.cause === undefined ? undefined : { cause: opts.cause });
    Error.stackTraceLimit = limit;
    this.name = 'GatewayError';
    this.code = code;
    this.status = status;
    this.headers = opts.headers ?? {};
    this.reason = opts.reason;
  }
}

/** The same answer with more fields (a new error: a plugin's may be shared). */
export function withHeaders(err: GatewayError, headers: Record<string, string>): GatewayError {
  return new GatewayError(err.code, err.status, err.message, { headers: { ...err.headers, ...headers }, reason: err.reason, cause: err.cause });
}

/** 401 for a credential that was recognised but is wrong (the authenticator adds its challenge). */
export function unauthorized(description: string, challenge: string, reason?: string): GatewayError {
  return new GatewayError('unauthorized', 401, description, { headers: { 'www-authenticate': challenge }, reason });
}

/** RFC 6750 §3: Bearer challenge with error= for a bad token. */
export function invalidBearer(description: string, realm = 'drawbridge'): GatewayError {
  const challenge = `Bearer realm="${realm}", error="invalid_token", error_description="${description.replace(/"/g, "'")}"`;
  return new GatewayError('invalid_token', 401, description, { headers: { 'www-authenticate': challenge }, reason: 'invalid_token' });
}

/** RFC 6750 §3.1: 400 for a malformed Authorization: Bearer value (not a b64token). */
export function malformedBearer(realm = 'drawbridge'): GatewayError {
  const description = 'the Bearer credential is malformed';
  const challenge = `Bearer realm="${realm}", error="invalid_request", error_description="${description}"`;
  return new GatewayError('invalid_request', 400, description, { headers: { 'www-authenticate': challenge }, reason: 'malformed' });
}

export function forbidden(description: string, reason = 'forbidden'): GatewayError {
  return new GatewayError('forbidden', 403, description, { reason });
}

/**
 * 403 for a caller without every scope `required`; with RFC 6750 §3.1's Bearer challenge only
 * for a caller who presented a Bearer token (`bearer`): one who signed, gave a key or a password
 * (or nothing: anonymous) was not using that scheme, and gets the same body without a challenge.
 */
export function insufficientScope(required: readonly string[], realm = 'drawbridge', bearer = true): GatewayError {
  const scope = required.join(' ');
  return new GatewayError('insufficient_scope', 403, `requires scope: ${scope}`, {
    headers: bearer ? { 'www-authenticate': `Bearer realm="${realm}", error="insufficient_scope", scope="${scope}"` } : undefined,
    reason: 'insufficient_scope',
  });
}

/** A rate limit refusal: 429 unless the plugin is configured otherwise; always `rate_limited` and Retry-After. */
export function rateLimited(
  retryAfter: number,
  headers: Record<string, string>,
  status = 429,
  description = 'rate limit exceeded',
): GatewayError {
  return new GatewayError('rate_limited', status, description, {
    headers: { ...headers, 'retry-after': String(Math.max(1, Math.ceil(retryAfter))) },
    reason: 'rate_limited',
  });
}

export function payloadTooLarge(limit: number): GatewayError {
  return new GatewayError('payload_too_large', 413, `request body exceeds ${limit} bytes`, { reason: 'request_size' });
}

export function serviceUnavailable(description: string, retryAfter = 5): GatewayError {
  return new GatewayError('service_unavailable', 503, description, { headers: { 'retry-after': String(retryAfter) } });
}
