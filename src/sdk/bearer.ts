// Reading the token from `Authorization: Bearer …` (RFC 6750 §2.1). The scheme name is
// case-insensitive (RFC 9110 §11.1); the token must be a b64token. Tokens in the query
// string or form body (§2.2, §2.3) are not read: they end up in logs.

/** Node's IncomingHttpHeaders, a fetch Headers object, or a plain record. */
export type HeadersLike = { get(name: string): string | null } | Readonly<Record<string, string | readonly string[] | undefined>>;

// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
// The one copy of it: the auth server's userinfo (bearerCredential) and the gateway's Bearer
// authenticators (isB64Token) use it too (the sdk imports nothing of theirs, so they import from here).
const B64TOKEN = '[A-Za-z0-9\\-._~+/]+=*';
const B64TOKEN_ONLY = new RegExp(`^${B64TOKEN}$`);
/** credentials = "Bearer" 1*SP b64token, any case of the scheme; group 1 is the token. */
const BEARER_CREDENTIALS = new RegExp(`^Bearer +(${B64TOKEN}) *$`, 'i');

/** RFC 6750 §2.1 b64token: what a Bearer credential must look like. */
export function isB64Token(value: string): boolean {
  return B64TOKEN_ONLY.test(value);
}

// the Bearer scheme, alone or followed by whitespace of any kind: an attempt at a Bearer
// credential (RFC 6750 §3.1: a broken one is invalid_request, not a request without any)
const SCHEME = /^Bearer(?:\s|$)/i;

export type AuthorizationState =
  | { kind: 'none' }
  | { kind: 'bearer'; token: string }
  /** the Bearer scheme with something that is not a b64token, or several Authorization fields */
  | { kind: 'malformed' };

/**
 * What one Authorization field value carries, as it is (node has stripped the whitespace
 * around it): a Bearer token; a broken Bearer credential; or none (no field, or another scheme,
 * Basic …, which is no Bearer credential at all).
 */
export function bearerCredential(value: string | undefined): AuthorizationState {
  if (value === undefined) return { kind: 'none' };
  const m = BEARER_CREDENTIALS.exec(value);
  if (m) return { kind: 'bearer', token: m[1]! };
  return SCHEME.test(value) ? { kind: 'malformed' } : { kind: 'none' };
}

function authorizationHeader(headers: HeadersLike): string | readonly string[] | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get('authorization') ?? undefined;
  const record = headers as Record<string, string | readonly string[] | undefined>;
  if (record.authorization !== undefined) return record.authorization;
  // a plain record may not be lower-cased (node's IncomingHttpHeaders always is)
  for (const name in record) if (name.toLowerCase() === 'authorization') return record[name];
  return undefined;
}

export function readAuthorization(headers: HeadersLike): AuthorizationState {
  const value = authorizationHeader(headers);
  if (value === undefined) return { kind: 'none' };
  // Authorization is not a list field (RFC 9110 §5.3): two of them leave which one counts up
  // to each hop, so neither is used
  if (typeof value !== 'string' && value.length > 1) return { kind: 'malformed' };
  const single = typeof value === 'string' ? value : value[0];
  // a plain record's value may not be trimmed as node's and fetch's are
  return bearerCredential(single?.trim());
}

/** The Bearer token of a request, or undefined when there is none (or it is malformed). */
export function bearerToken(headers: HeadersLike): string | undefined {
  const state = readAuthorization(headers);
  return state.kind === 'bearer' ? state.token : undefined;
}
