// Small pieces every authenticator uses: identities for consumer credentials, the
// per-instance cache namespace, header, cookie and query access.
import { randomBytes } from 'node:crypto';
import { format } from '../../config/schema.js';
import type { AuthMethod, ConsumerCredentialMatch, GatewayRequest, Identity } from '../types.js';

/** The realm in every challenge unless configured (Kong says "kong"; we are not Kong). */
export const DEFAULT_REALM = 'drawbridge';

/** A realm goes into a quoted-string: no quotes, backslashes or control characters. */
export const realmField = format('realm', 'a realm without quotes, backslashes or control characters', (text) =>
  /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/.test(text) ? text : undefined,
);

/**
 * A random namespace per plugin instance: a credential verified under one instance's
 * settings (audience, issuers, realm …) is never a cache hit for another instance.
 */
export function instanceNamespace(plugin: string): string {
  return `${plugin}:${randomBytes(9).toString('base64url')}`;
}

/**
 * The identity of a consumer credential. Frozen because it is cached and shared by every
 * request that presents the same credential.
 */
export function consumerIdentity(method: AuthMethod, match: ConsumerCredentialMatch, expiresAt?: number): Identity {
  const identity: Identity = {
    auth_method: method,
    sub: `consumer:${match.consumer.username}`,
    consumer: match.consumer,
    scope: [],
    groups: match.consumer.groups,
    credential_id: match.credential_id,
  };
  if (expiresAt !== undefined) identity.expires_at = expiresAt;
  return Object.freeze(identity);
}

/** One header value as a string (repeats joined the way Node joins them), or undefined. */
/** `hide` of the authenticators whose credential rides in Authorization (or Proxy-Authorization). */
export function hideAuthorization(gr: GatewayRequest): void {
  gr.stripHeaders.add('authorization');
  gr.stripHeaders.add('proxy-authorization');
}

/** Removes cookie `name` from the request's Cookie header before proxying; the other cookies stay. */
export function stripCookie(gr: GatewayRequest, name: string): void {
  const header = gr.req.headers.cookie;
  if (header === undefined) return;
  const kept = header.split(';').filter((part) => part.slice(0, part.indexOf('=')).trim() !== name);
  if (kept.length === 0) gr.stripHeaders.add('cookie');
  else gr.req.headers.cookie = kept.join(';').trim();
}

/** Removes every cookie whose name starts with `prefix` from the request's Cookie header before proxying. */
export function stripCookiesWithPrefix(gr: GatewayRequest, prefix: string): void {
  const header = gr.req.headers.cookie;
  if (header === undefined || !header.includes(prefix)) return;
  const kept = header.split(';').filter((part) => !part.trimStart().startsWith(prefix));
  if (kept.length === 0) gr.stripHeaders.add('cookie');
  else gr.req.headers.cookie = kept.join(';').trim();
}

export function headerValue(headers: NodeJS.Dict<string | string[]>, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The values of query parameter `name` in a raw query string. Returns null when a value is
 * not valid percent-encoding (the caller answers 401, never 500).
 */
export function queryValues(query: string, name: string): string[] | null {
  if (query === '') return [];
  const found: string[] = [];
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const decodedName = decodeQueryComponent(rawName);
    if (decodedName !== name) continue;
    const value = decodeQueryComponent(eq === -1 ? '' : pair.slice(eq + 1));
    if (value === null) return null;
    found.push(value);
  }
  return found;
}

function decodeQueryComponent(text: string): string | null {
  if (!text.includes('%') && !text.includes('+')) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

export { isB64Token } from '../../sdk/bearer.js';

/**
 * `Scheme rest` → rest when `scheme` (lower case) matches case-insensitively, else undefined;
 * `Scheme` alone → ''. The scheme followed by a TAB (RFC 9110 §11.4 allows only SP there) is
 * still an attempt at this scheme's credential: the rest comes back with the TAB in front,
 * which no plugin's parser accepts, so it is refused as malformed (a Bearer one 400, as the
 * SDK and userinfo answer) instead of passing for a request without credentials.
 */
export function authParam(header: string | undefined, scheme: string): string | undefined {
  if (header === undefined || header.length < scheme.length) return undefined;
  if (header.length === scheme.length) return header.toLowerCase() === scheme ? '' : undefined;
  const next = header.charCodeAt(scheme.length);
  if (next !== 0x20 && next !== 0x09) return undefined;
  if (header.slice(0, scheme.length).toLowerCase() !== scheme) return undefined;
  return next === 0x20 ? header.slice(scheme.length + 1).trim() : header.slice(scheme.length);
}
