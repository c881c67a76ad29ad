// Cookie plumbing for the auth server's own cookies (SSO session, CSRF): parsing the
// Cookie header and appending Set-Cookie values. On https the names carry the __Host-
// prefix, which browsers accept only with Secure, Path=/ and no Domain: no subdomain can
// plant or overwrite them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthContext } from '../context.js';

function isHttps(ctx: AuthContext): boolean {
  return ctx.endpoints.issuer.startsWith('https:');
}

/** `__Host-<name>` on https, `<name>` on plain http (where Secure cookies would be dropped). */
export function cookieName(ctx: AuthContext, name: string): string {
  return isHttps(ctx) ? `__Host-${name}` : name;
}

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return value === '' ? undefined : value;
  }
  return undefined;
}

interface CookieOptions {
  /** seconds; 0 deletes the cookie; absent: a browser-session cookie */
  maxAge?: number;
}

/** HttpOnly, SameSite=Lax, Path=/, Secure on https; never a Domain. */
export function setCookie(ctx: AuthContext, res: ServerResponse, name: string, value: string, opts: CookieOptions = {}): void {
  let cookie = `${name}=${value}; Path=/; HttpOnly; SameSite=Lax`;
  if (isHttps(ctx)) cookie += '; Secure';
  if (opts.maxAge !== undefined) cookie += `; Max-Age=${opts.maxAge}`;
  const existing = res.getHeader('set-cookie');
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  res.setHeader('set-cookie', [...list, cookie]);
}
