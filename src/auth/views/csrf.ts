// CSRF protection for the login, MFA and consent forms: double-submit, signed. A random
// value lives in an HttpOnly cookie (`__Host-` on https, so no subdomain can plant one);
// each form carries HMAC-SHA256(key derived from `secret`, that value). A cross-site page can
// neither read the cookie nor compute the HMAC, so it cannot forge a matching pair.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { randomToken } from '../../core/crypto-util.js';
import { derivedKey } from '../derived-keys.js';
import type { AuthContext } from '../context.js';
import { cookieName, readCookie, setCookie } from '../sessions/cookie.js';

const CSRF_COOKIE = 'drawbridge_csrf';
function key(ctx: AuthContext): Buffer {
  // without a master secret (development), a per-process key: forms die with the process
  return derivedKey(ctx, 'csrf', () => randomBytes(32));
}

function sign(ctx: AuthContext, value: string): string {
  return createHmac('sha256', key(ctx)).update(value).digest('base64url');
}

/** The token for forms on this response; sets the cookie when the browser has none. */
export function csrfToken(ctx: AuthContext, req: IncomingMessage, res: ServerResponse): string {
  const name = cookieName(ctx, CSRF_COOKIE);
  let value = readCookie(req, name);
  if (value === undefined || value.length !== 43) {
    value = randomToken(32);
    setCookie(ctx, res, name, value);
  }
  return sign(ctx, value);
}

/** true when the submitted token matches the browser's cookie. */
export function checkCsrf(ctx: AuthContext, req: IncomingMessage, submitted: string | undefined): boolean {
  const value = readCookie(req, cookieName(ctx, CSRF_COOKIE));
  if (value === undefined || submitted === undefined) return false;
  const expected = Buffer.from(sign(ctx, value));
  const got = Buffer.from(submitted);
  return got.length === expected.length && timingSafeEqual(got, expected);
}
