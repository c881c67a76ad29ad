// The value formats of the config schema (URLs, listen addresses, scopes, hosts, CIDRs …):
// each a Field that parses one string and names what it expected on failure.
import { isIP } from 'node:net';
import { normalizePath } from '../core/path.js';
import { ConfigError, format, leaf, mismatch, show } from './fields.js';
import { hasControlCharacter } from '../core/text.js';

export function tryUrl(text: string): URL | undefined {
  try {
    return /\s/.test(text) ? undefined : new URL(text);
  } catch {
    return undefined;
  }
}

export function isHttpUrl(text: string): boolean {
  // The regex matters: WHATWG parsing would turn `http:host` into `http://host/`.
  return /^https?:\/\/[^/]/i.test(text) && tryUrl(text) !== undefined;
}

function parseIssuer(text: string): string | undefined {
  if (!isHttpUrl(text) || /[?#]/.test(text)) return undefined;
  const url = tryUrl(text)!;
  if (url.username !== '' || url.password !== '') return undefined;
  return text.replace(/\/+$/, ''); // issuer comparisons are exact strings (RFC 8414 §3.3)
}

/** Issuers are compared as strings (RFC 8414 §3.3), but a trailing slash in a config is not a different issuer. */
export function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

export function parseListen(text: string): string | undefined {
  const match = /^(\[[0-9A-Fa-f]*:[0-9A-Fa-f:.]*\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  return match && Number(match[2]) <= 65535 ? text : undefined;
}

/** The host of a `host:port` listen address (`[::1]:9000` → `::1`). */
export function listenHost(listen: string): string {
  const colon = listen.lastIndexOf(':');
  const host = colon === -1 ? listen : listen.slice(0, colon);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** 127.0.0.0/8, ::1 or localhost: only this machine can connect. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

function parseStorage(text: string): string | undefined {
  // YAML reads an unquoted `storage: memory:` as a nested mapping, so `memory` is accepted too.
  if (text === 'memory:' || text === 'memory') return 'memory:';
  if (/^sqlite:./.test(text)) return text;
  if (/^postgres(ql)?:\/\//.test(text) && tryUrl(text)) return text;
  return undefined;
}

const STORAGE_EXPECTED = 'memory:, sqlite:PATH or a postgres:// URL';

/**
 * The `storage` URL; a postgres URL's own timeouts (postgresTimeouts, which storage/postgres.ts
 * reads them with) are checked here too, so that `config validate` names them instead of
 * `start` failing. The URL is never shown: it
 * may hold a password.
 */
export const storageUrl = leaf<string>('URL', STORAGE_EXPECTED, function parseStorageUrl(raw, path, sensitive) {
  const value = typeof raw === 'string' ? parseStorage(raw) : undefined;
  if (value === undefined) throw mismatch(path, STORAGE_EXPECTED, raw, sensitive);
  if (value.startsWith('postgres')) {
    const timeouts = postgresTimeouts(tryUrl(value)!.searchParams);
    if (typeof timeouts === 'string') throw new ConfigError(path, timeouts);
  }
  return value;
});

/**
 * A postgres URL's own timeouts, as storage/postgres.ts hands them to pg: `connect_timeout` in
 * whole seconds above 0 (as libpq has it), `query_timeout` in whole milliseconds (as pg has
 * it; 0: none), each undefined where the URL has none; or what is wrong with them.
 */
export function postgresTimeouts(params: URLSearchParams): { connectSeconds?: number; queryMs?: number } | string {
  const connect = params.get('connect_timeout');
  if (connect !== null && !/^0*[1-9]\d*$/.test(connect)) return "the postgres URL's connect_timeout must be a whole number of seconds above 0";
  const query = params.get('query_timeout');
  if (query !== null && !/^\d+$/.test(query)) return "the postgres URL's query_timeout must be a whole number of milliseconds (0: none)";
  return { ...(connect !== null && { connectSeconds: Number(connect) }), ...(query !== null && { queryMs: Number(query) }) };
}

/**
 * RFC 3986 §4.3 absolute-URI, as far as its characters go: a scheme (a letter, then letters,
 * digits, "+", "-", "."), ":", then only unreserved and reserved characters and well-formed
 * percent-encodings (§2). A space, '"', '\\', '<', '>', '{', '}', '|', '^', '`', a control
 * or a raw non-ASCII character, or a "%" not followed by two hex digits is no URI at all (the
 * WHATWG URL parser would quietly encode or accept them).
 */
const URI_CHARS = /^[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;

/**
 * Why `r` is not a valid resource indicator (RFC 8707 §2), or undefined when it is one. The
 * token, authorization and PAR endpoints (auth/scope.ts) and a client's configured
 * `audiences` (below) use this one check.
 */
export function resourceError(r: string): string | undefined {
  if (r.includes('#')) return `resource "${r}" must not contain a fragment`;
  if (!URI_CHARS.test(r) || !bracketsInHostOnly(r)) return `resource "${r}" is not an absolute URI`;
  let url: URL;
  try {
    url = new URL(r);
  } catch {
    return `resource "${r}" is not an absolute URI`;
  }
  if (url.hash !== '') return `resource "${r}" must not contain a fragment`;
  return undefined;
}

/** "[" and "]" only around an IP literal host (RFC 3986 §3.2.2), nowhere in path or query. */
const IP_LITERAL_URI = /^[^:]+:\/\/(?:[^/?@[\]]*@)?\[[^/?@[\]]+\](?::\d*)?(?:[/?][^[\]]*)?$/;

function bracketsInHostOnly(r: string): boolean {
  return !/[[\]]/.test(r) || IP_LITERAL_URI.test(r);
}

/** A URI scheme and ":" (RFC 3986 §3.1): a value that starts so is written as a URI. */
const SCHEME_PREFIX = /^[A-Za-z][A-Za-z0-9+.-]*:/;

const AUDIENCE_EXPECTED = 'a service name or a resource indicator (an absolute URI as RFC 3986 writes it, without a fragment)';

/**
 * One of a client's `audiences`: a service name (asked for with `audience`), or a resource
 * indicator (asked for with `resource`, RFC 8707). A value that starts with a URI scheme and
 * ":" is taken as a URI, and must then be one the token endpoint would take as a `resource`
 * (resourceError): one that is not could never be asked for as a resource, and was left out
 * of the client's resources without a word.
 */
export const audience = leaf<string>('string', AUDIENCE_EXPECTED, function parseAudience(raw, path, sensitive) {
  if (typeof raw !== 'string' || raw === '') throw mismatch(path, AUDIENCE_EXPECTED, raw, sensitive);
  if (!SCHEME_PREFIX.test(raw) || resourceError(raw) === undefined) return raw;
  const why = raw.includes('#')
    ? 'a resource indicator has no fragment (#)'
    : URI_CHARS.test(raw) && bracketsInHostOnly(raw)
      ? 'written as a URI (a scheme and ":"), it must parse as one (a host where "//" calls for one, a port up to 65535)'
      : 'written as a URI (a scheme and ":"), it may hold only the characters RFC 3986 allows: percent-encode a space, " < > \\ ^ ` { | }, control and non-ASCII characters, write "%" only before two hex digits, and "[" "]" only around an IP-literal host';
  throw new ConfigError(path, `expected ${AUDIENCE_EXPECTED}, got ${show(raw)}: ${why}`, { expected: AUDIENCE_EXPECTED });
});

export const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+$/; // RFC 6749 §3.3 scope-token

export const issuerUrl = format('URL', 'an absolute http(s) URL without query or fragment', parseIssuer);
export const httpUrl = format('URL', 'an absolute http(s) URL', (text) => (isHttpUrl(text) ? text : undefined));
/**
 * A service's upstream URL. Credentials (`user:pass@`) and a query or fragment are refused:
 * the proxy sends neither (the request's own path and query go upstream), so they were
 * dropped without a word, and a password sat in the config the admin API shows. The value is
 * not quoted in the error: it may hold a secret.
 */
export const upstreamUrl = leaf<string>('URL', 'an absolute http(s) URL without user:password@, query or fragment', function parseUpstreamUrl(raw, path, sensitive) {
  if (typeof raw !== 'string' || !isHttpUrl(raw)) throw mismatch(path, 'an absolute http(s) URL', raw, sensitive);
  const url = tryUrl(raw)!;
  if (url.username !== '' || url.password !== '' || /^[a-z]+:\/\/[^/?#]*@/i.test(raw)) {
    throw mismatch(path, 'an http(s) URL without user:password@ (upstream credentials are not sent from the URL; use a plugin or the upstream\'s own auth)', raw, true);
  }
  if (/[?#]/.test(raw)) throw mismatch(path, "an http(s) URL without a query (?) or fragment (#) (the request's own query goes upstream)", raw, true);
  return raw;
});
export const listen = format('host:port', 'host:port with a port from 0 to 65535 (IPv6 as [::1]:9000)', parseListen);
export const scope = format('scope', 'a scope (non-empty, no spaces)', (text) => (SCOPE.test(text) ? text : undefined));
export const redirectUri = format('URL', 'an absolute URL without fragment', (text) =>
  tryUrl(text) && !text.includes('#') ? text : undefined,
);
export const backchannelUri = format('URL', 'an absolute https URL (http only on a loopback host), without fragment', (text) => {
  const url = isHttpUrl(text) && !text.includes('#') ? tryUrl(text) : undefined;
  if (!url) return undefined;
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  return url.protocol === 'https:' || loopback ? text : undefined;
});
export const sha256Hex = format('hex', '64 hex characters (a SHA-256 digest)', (text) =>
  /^[0-9a-fA-F]{64}$/.test(text) ? text.toLowerCase() : undefined,
);
export const argon2idHash = format('PHC string', 'an argon2id PHC string starting with $argon2id$', (text) =>
  text.startsWith('$argon2id$') ? text : undefined,
);
/** RFC 3986 path characters: pchar and `/`. */
const PATH_CHARS = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;

/**
 * A route path: `~` and a regex, or a prefix, taken in the form requests are matched in
 * (written otherwise it could never match): characters outside a URI percent-encoded
 * (`/café` → `/caf%C3%A9`), then normalized as request paths are (`%61` → `a`, hex upper
 * case, dot segments resolved). A query, a fragment or a `;` (path parameters) is refused.
 */
export const httpPath = leaf<string>('path', 'a path starting with /, or a regex starting with ~', function parseHttpPath(raw, path, sensitive) {
  if (typeof raw === 'string' && raw.startsWith('~')) {
    const problem = regexProblem(raw.slice(1));
    if (problem === undefined) return raw;
    throw mismatch(path, `a valid regular expression after ~ (${problem})`, raw, sensitive);
  }
  if (typeof raw === 'string' && raw.startsWith('/')) {
    if (/[?#]/.test(raw)) throw mismatch(path, 'a path without a query (?) or a fragment (#)', raw, sensitive);
    // the router cuts path parameters off a request path (`/a;x/b` is under `/a`) and refuses a
    // request whose parameters would change its route, so a prefix holding `;` never matched
    if (raw.includes(';')) throw mismatch(path, 'a path without ; (path parameters are not part of the route; a prefix with one never matches)', raw, sensitive);
    const encoded = PATH_CHARS.test(raw) ? raw : raw.replace(/%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/gu, (c) => encodeURIComponent(c));
    const normal = normalizePath(encoded);
    if (normal === undefined) throw mismatch(path, 'a path without `..;` or `.;` segments', raw, sensitive);
    return normal;
  }
  throw mismatch(path, 'a path starting with /, or a regex starting with ~', raw, sensitive);
});
export const hexColor = format('color', 'a hex color like #2f5bea', (text) => (/^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(text) ? text : undefined));
// the pages' CSP allows images from 'self' and data: only: no external assets
export const logoUrl = format('logo URL', 'a data:image/… URL or a same-origin path starting with /', (text) =>
  /^data:image\/(png|gif|jpeg|webp|svg\+xml)[;,]/.test(text) || /^\/(?!\/)[^\s"'<>\\]*$/.test(text) ? text : undefined,
);
export const routeId = format('id', 'letters, digits, ".", "_" or "-"', (text) => (/^[A-Za-z0-9._-]+$/.test(text) ? text : undefined));
export const ipOrCidr = format('IP or CIDR', 'an IP address or CIDR like 10.0.0.0/8', (text) => (parseCidr(text) ? text : undefined));
export const headerName = format('header', 'a header name (or a prefix ending in *)', (text) =>
  /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(text) ? text.toLowerCase() : undefined,
);
export const workers = leaf<number | 'auto'>('integer | `auto`', 'an integer of at least 1, or auto', function parseWorkers(raw, path, sensitive) {
  if (raw === 'auto') return 'auto';
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw mismatch(path, 'an integer of at least 1, or auto', raw, sensitive);
  }
  return value;
});

/** Why `source` is no regular expression (the engine's own words), or undefined. */
function regexProblem(source: string): string | undefined {
  if (source === '') return 'it is empty';
  try {
    new RegExp(source);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** `10.0.0.0/8`, `::1`, `192.168.1.7` → address, family and prefix length; undefined when malformed. */
export function parseCidr(text: string): { address: string; family: 'ipv4' | 'ipv6'; prefix: number } | undefined {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return undefined;
  return { address, family: version === 4 ? 'ipv4' : 'ipv6', prefix: Number(prefixText) };
}
export const httpMethod = format('method', 'an HTTP method like GET', (text) =>
  /^[A-Za-z]+$/.test(text) ? text.toUpperCase() : undefined,
);
// one wildcard at most, the whole leftmost or rightmost label (as Kong)
export const hostName = format('host', 'a host name like api.example.com, *.example.com or example.*', (text) =>
  /^(?:\*\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?:\.\*)?)(?::\d{1,5})?$/.test(text) ? text.toLowerCase() : undefined,
);

/** Longest client_id: the client cache (auth/clients.ts) looks up none longer, and PostgreSQL's key index refuses a few kB. */
export const MAX_CLIENT_ID = 256;

/** An OAuth client_id: at most MAX_CLIENT_ID characters, no control characters (it names the client in admin paths). */
export const clientId = format('client id', `a string of at most ${MAX_CLIENT_ID} characters without control characters`, (text) =>
  text !== '' && text.length <= MAX_CLIENT_ID && !hasControlCharacter(text) ? text : undefined,
);
