// The gateway's session cookie. Its value is 32 random bytes (base64url, 43 characters) and
// means nothing by itself; the store keys the session by the value's SHA-256, so a leaked
// store yields no usable cookie. Set-Cookie: HttpOnly, SameSite=Lax, Path=/, Secure on
// https, and the `__Host-` name prefix when Secure without a Domain (no subdomain can plant
// or overwrite it).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { sha256Base64url } from '../core/crypto-util.js';

const VALUE = /^[A-Za-z0-9_-]{43}$/;
/** Longest Cookie header we look through (browsers send at most ~8 KiB). */
const MAX_COOKIE_HEADER = 16 * 1024;

/** A fresh cookie value (256 bits). */
export function newSessionCookieValue(): string {
  return randomBytes(32).toString('base64url');
}

/** The store id of a cookie value: base64url SHA-256. */
export function sessionIdOf(cookieValue: string): string {
  return sha256Base64url(cookieValue);
}

export interface SessionCookieOptions {
  /** configured name (gateway.sessions.cookie_name) */
  name: string;
  /** Secure (https as seen by the client) */
  secure: boolean;
  /** a Domain attribute; absent (the default) makes it a host-only cookie */
  domain?: string;
}

/** The name on the wire: `__Host-<name>` when Secure and without Domain, else `<name>`. */
export function sessionCookieName(opts: SessionCookieOptions): string {
  return opts.secure && opts.domain === undefined ? `__Host-${opts.name}` : opts.name;
}

/**
 * A Set-Cookie value. maxAge in seconds; 0 deletes the cookie; absent: a browser-session
 * cookie (the server-side session ends it anyway).
 */
export function sessionSetCookie(opts: SessionCookieOptions, value: string, maxAge?: number): string {
  let cookie = `${sessionCookieName(opts)}=${value}; Path=/; HttpOnly; SameSite=Lax`;
  if (opts.secure) cookie += '; Secure';
  if (opts.domain !== undefined) cookie += `; Domain=${opts.domain}`;
  if (maxAge !== undefined) cookie += `; Max-Age=${Math.max(0, Math.floor(maxAge))}`;
  return cookie;
}

/** A Set-Cookie value that removes the cookie. */
export function clearSessionCookie(opts: SessionCookieOptions): string {
  return sessionSetCookie(opts, '', 0);
}

/**
 * The session cookie's value from a request, or undefined. Only a well-formed value is
 * returned (43 base64url characters), so nothing arbitrary reaches the store; an oversized
 * Cookie header is not searched.
 */
export function readSessionCookie(req: IncomingMessage | string | undefined, opts: SessionCookieOptions): string | undefined {
  const header = typeof req === 'string' || req === undefined ? req : req.headers.cookie;
  if (header === undefined || header.length > MAX_COOKIE_HEADER) return undefined;
  const name = sessionCookieName(opts);
  // pair by pair in place (no array of parts: this runs on every request of a session route)
  for (let start = 0; start < header.length; ) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && header.slice(start, eq).trim() === name) {
      const value = header.slice(eq + 1, end).trim();
      if (VALUE.test(value)) return value;
    }
    start = end + 1;
  }
  return undefined;
}
