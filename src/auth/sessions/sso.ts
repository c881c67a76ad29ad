// SSO sessions at the auth server: the login behind the `drawbridge_sso` cookie. The cookie
// holds 256 random bits; only their SHA-256 is stored (a database leak yields no usable
// cookie). Every login makes a new session id (no fixation: a cookie planted before login is
// never the one after). A session ends at `absolute_timeout` after login, or earlier after
// `idle_timeout` without use.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomToken, sha256Base64url } from '../../core/crypto-util.js';
import type { SsoSessionRecord, SsoSessionRepo, UserRecord } from '../../storage/types.js';
import type { AuthContext } from '../context.js';
import { cookieName, readCookie, setCookie } from './cookie.js';

export const SSO_COOKIE = 'drawbridge_sso';
const DEFAULT_IDLE_TIMEOUT = 30 * 60;
const DEFAULT_ABSOLUTE_TIMEOUT = 12 * 60 * 60;
/** last_seen_at is written at most this often (not on every request) */
const TOUCH_EVERY = 60;

/** Where sessions live: SQL (storage.ssoSessions) or Redis (redis-store.ts), by `redis:` presence. */
type SsoSessionStore = SsoSessionRepo;

interface SessionTimeouts {
  idle: number;
  absolute: number;
}

export function sessionTimeouts(ctx: AuthContext): SessionTimeouts {
  const configured = ctx.auth.sessions;
  return {
    idle: configured?.idle_timeout ?? DEFAULT_IDLE_TIMEOUT,
    absolute: configured?.absolute_timeout ?? DEFAULT_ABSOLUTE_TIMEOUT,
  };
}

function store(ctx: AuthContext): SsoSessionStore {
  return ctx.ssoSessions ?? ctx.storage.ssoSessions;
}

/** The live session behind the request's cookie, or undefined (expired ones are deleted). */
export async function currentSession(ctx: AuthContext, req: IncomingMessage): Promise<SsoSessionRecord | undefined> {
  const value = readCookie(req, cookieName(ctx, SSO_COOKIE));
  if (value === undefined || value.length > 128) return undefined;
  const id = sha256Base64url(value);
  const rec = await store(ctx).get(id);
  if (!rec) return undefined;
  const now = ctx.clock.now();
  const { idle } = sessionTimeouts(ctx);
  if (rec.expires_at <= now || rec.last_seen_at + idle <= now) {
    await store(ctx).delete(id);
    return undefined;
  }
  if (now - rec.last_seen_at >= TOUCH_EVERY) {
    await store(ctx).touch(id, now);
    return { ...rec, last_seen_at: now };
  }
  return rec;
}

/**
 * Starts a session after a successful login: a fresh id every time, the previous session
 * of this browser (if any) deleted, the cookie set.
 */
export async function startSession(
  ctx: AuthContext,
  req: IncomingMessage,
  res: ServerResponse,
  user: UserRecord,
  amr: string[],
): Promise<SsoSessionRecord> {
  const name = cookieName(ctx, SSO_COOKIE);
  const previous = readCookie(req, name);
  if (previous !== undefined && previous.length <= 128) await store(ctx).delete(sha256Base64url(previous));
  const value = randomToken(32);
  const now = ctx.clock.now();
  const { absolute } = sessionTimeouts(ctx);
  const rec: SsoSessionRecord = {
    id: sha256Base64url(value),
    user_id: user.id,
    auth_time: now,
    amr,
    acr: null,
    created_at: now,
    last_seen_at: now,
    expires_at: now + absolute,
  };
  await store(ctx).insert(rec);
  // a browser-session cookie: the server-side record enforces both timeouts
  setCookie(ctx, res, name, value);
  return rec;
}

export async function endSession(ctx: AuthContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const name = cookieName(ctx, SSO_COOKIE);
  const value = readCookie(req, name);
  if (value !== undefined && value.length <= 128) await store(ctx).delete(sha256Base64url(value));
  setCookie(ctx, res, name, '', { maxAge: 0 });
}
