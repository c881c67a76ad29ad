// Reading the token from `Authorization: Bearer …` (RFC 6750 §2.1). The scheme name is
// case-insensitive (RFC 9110 §11.1); the token must be a b64token. Tokens in the query
// string or form body (§2.2, §2.3) are not read: they end up in logs.

/** Node's IncomingHttpHeaders, a fetch Headers object, or a plain record. */
export type HeadersLike = { get(name: string): string | null } | Readonly<Record<string, string | readonly string[] | undefined>>;

// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
// The one copy of it: the auth server's userinfo and the gateway's Bearer authenticators use
// these too (the sdk imports nothing of theirs, so they import from here).
const B64TOKEN = '[A-Za-z0-9\\-._~+/]+=*';
const B64TOKEN_ONLY = new RegExp(`^${B64TOKEN}$`);
/** credentials = "Bearer" 1*SP b64token, any case of the scheme; group 1 is the token. */
export const BEARER_CREDENTIALS = new RegExp(`^Bearer +(${B64TOKEN}) *$`, 'i');

/** RFC 6750 §2.1 b64token: what a Bearer credential must look like. */
export function isB64Token(value: string): boolean {
  return B64TOKEN_ONLY.test(value);
}

const SCHEME = /^Bearer(?: |$)/i;

export type AuthorizationState =
  | { kind: 'none' }
  | { kind: 'bearer'; token: string }
  /** the Bearer scheme with something that is not a b64token, or several Authorization fields */
  | { kind: 'malformed' };

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
  if (single === undefined) return { kind: 'none' };
  const trimmed = single.trim();
  const m = BEARER_CREDENTIALS.exec(trimmed);
  if (m) return { kind: 'bearer', token: m[1]! };
  // another scheme (Basic, …) is no Bearer credential at all; a broken Bearer one is a bad request
  return SCHEME.test(trimmed) ? { kind: 'malformed' } : { kind: 'none' };
}

/** The Bearer token of a request, or undefined when there is none (or it is malformed). */
export function bearerToken(headers: HeadersLike): string | undefined {
  const state = readAuthorization(headers);
  return state.kind === 'bearer' ? state.token : undefined;
}
