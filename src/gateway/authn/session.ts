// `session`: the gateway's browser sessions (issue #5). The cookie holds only a random
// value; the session — claims and sealed tokens — lives in the shared store
// (gateway.sessions), so any instance serves any request. Per request:
//   cookie → store.get → absolute and idle (rolling) timeouts → refresh the provider's
//   access token when it expires within `refresh_before`, under the store's per-session
//   lock (one request refreshes, parallel ones wait and read the result, so a rotating
//   refresh token is never raced; invalid_grant ends the session) → touch at most once a
//   minute, or every half idle_timeout when that is shorter (a session in use never idles
//   out between two touches) → Identity { auth_method: session, sid }.
// A session that needs nothing done right now (no refresh due, no touch due, within both
// timeouts) is served from the gateway's short-lived read cache when it is there
// (src/sessions/cache.ts: at most 1 s old, evicted on every instance as soon as the session
// ends anywhere, unused while the event subscription is down); anything else takes the full
// path above against the store, and its result replaces the cached copy.
// No cookie, or a session that is gone: skip (not my credential; the stale cookie is
// cleared), so other authenticators or the 401 answer. `session` never redirects: that is
// `oidc-login`, which uses this same check. A store that does not answer: 503 + Retry-After.
//
// Challenge: no standard scheme exists for cookie logins; 401s carry
// `Cookie realm="…", cookie-name="…"` (the shape of draft-broyer-http-cookie-auth) and the
// JSON body says authentication is required.
import { bool, object, str } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import { OldestKeys } from '../../core/oldest-keys.js';
import { deriveKey } from '../../crypto/seal.js';
import { sipHash128 } from '../../crypto/siphash.js';
import type { Logger } from '../../observability/logger.js';
import { clearSessionCookie, readSessionCookie, sessionCookieName, sessionIdOf, type SessionCookieOptions } from '../../sessions/cookie.js';
import { sealTokens, sessionTokensKey, unsealTokens } from '../../sessions/tokens.js';
import { UnavailableError } from '../../core/errors.js';
import type { GatewaySession, SessionTokens } from '../../sessions/types.js';
import { serviceUnavailable } from '../errors.js';
import { sessionContext, type SessionContext } from '../oidc/settings.js';
import { SKIP, type Authenticator, type AuthnResult, type GatewayRequest, type Identity, type PluginFactory, type PluginInstance } from '../types.js';
import { SECURE_LOGIN_COOKIE_PREFIX } from '../oidc/cookies.js';
import { DEFAULT_REALM, realmField, stripCookie, stripCookiesWithPrefix } from './common.js';

interface SessionPluginConfig {
  realm: string;
  hide_credentials: boolean;
  anonymous?: string;
}

export const sessionConfigSchema = object<SessionPluginConfig>({
  realm: realmField.default(DEFAULT_REALM).doc('Realm of the `Cookie` challenge on 401.'),
  hide_credentials: bool().default(true).doc('Remove the session cookie from the request before proxying (upstream gets the internal token instead).'),
  anonymous: str().optional().doc('Consumer to proceed as when there is no session.'),
});

/**
 * Touch (idle timeout bookkeeping) at most this often per session, in seconds; with an
 * idle_timeout under two minutes, every half idle_timeout instead, so a session used more
 * often than that is never found idle (last_seen_at is only as fresh as the last touch).
 */
const TOUCH_INTERVAL = 60;

export function touchInterval(idleTimeout: number): number {
  return Math.min(TOUCH_INTERVAL, idleTimeout / 2);
}

type SessionSettings = SessionContext['settings'];

/** Past its absolute or its idle timeout: the session is over. */
function isOver(session: GatewaySession, settings: SessionSettings, now: number): boolean {
  return session.expires_at <= now || session.last_seen_at + settings.idle_timeout <= now;
}

/** Its access token is due for a refresh. */
function refreshDue(session: GatewaySession, settings: SessionSettings, now: number): boolean {
  return session.access_expires_at - settings.refresh_before <= now;
}

/** Its last_seen_at is due for an update in the store. */
function touchDue(session: GatewaySession, settings: SessionSettings, now: number): boolean {
  return now - session.last_seen_at >= touchInterval(settings.idle_timeout);
}

/** Authenticators backed by gateway sessions expose their context (the /_drawbridge/* endpoints find it). */
export interface SessionAware {
  readonly sessionContext: SessionContext;
}

export function isSessionAware(value: object): value is SessionAware {
  return 'sessionContext' in value;
}

/** Cookie values whose store id is remembered at most (first in, first out beyond). */
const REMEMBERED_SESSION_IDS = 10_000;

/**
 * The store id of a cookie value (its SHA-256, sessions/cookie.ts), remembered under the
 * value's SipHash (crypto/siphash.ts, keyed from the master secret): a busy browser's
 * requests cost a JavaScript PRF instead of a native SHA-256 each. Only ids are kept, never
 * a cookie value; without the key nobody can tell which value an entry belongs to, nor make
 * another value land on it.
 */
export class SessionIds {
  readonly #sip: (input: string) => string | undefined;
  readonly #ids = new Map<string, string>();
  readonly #oldest = new OldestKeys(this.#ids);

  constructor(secret: string) {
    this.#sip = sipHash128(deriveKey(secret, 'gateway-session-id-memo').subarray(0, 16));
  }

  idOf(cookieValue: string): string {
    const key = this.#sip(cookieValue);
    if (key === undefined) return sessionIdOf(cookieValue);
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = sessionIdOf(cookieValue);
      if (this.#ids.size >= REMEMBERED_SESSION_IDS) this.#oldest.evict();
      this.#ids.set(key, id);
    }
    return id;
  }
}

/** Claims of a session that go into the internal token. */
const TOKEN_CLAIMS = ['preferred_username', 'name', 'email'];

export type SessionLookup = { kind: 'none' } | { kind: 'ok'; identity: Identity; session: GatewaySession };

const NONE: SessionLookup = Object.freeze({ kind: 'none' });

/** The per-request session check shared by `session` and `oidc-login`. */
export class SessionCheck {
  readonly context: SessionContext;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #tokensKey: Buffer;
  readonly #hideCredentials: boolean;
  readonly #ids: SessionIds;
  /** cookie options and wire names (`__Host-` on https), per scheme */
  readonly #plainCookie: SessionCookieOptions;
  readonly #secureCookie: SessionCookieOptions;
  readonly #plainName: string;
  readonly #secureName: string;

  constructor(context: SessionContext, deps: { clock: Clock; logger: Logger; secret: string }, hideCredentials: boolean) {
    this.context = context;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#tokensKey = sessionTokensKey(deps.secret);
    this.#hideCredentials = hideCredentials;
    this.#ids = new SessionIds(deps.secret);
    const name = context.settings.cookie_name;
    this.#plainCookie = Object.freeze({ name, secure: false });
    this.#secureCookie = Object.freeze({ name, secure: true });
    this.#plainName = sessionCookieName(this.#plainCookie);
    this.#secureName = sessionCookieName(this.#secureCookie);
  }

  /** The cookie's options for this request's scheme (made once, not per request). */
  cookieOptions(gr: GatewayRequest): SessionCookieOptions {
    return gr.scheme === 'https' ? this.#secureCookie : this.#plainCookie;
  }

  /**
   * The session behind the request's cookie, or none. Synchronous when the session is
   * cached and needs nothing done now (the usual request: no promise, no store call).
   * Throws (or rejects with) 503 when the store is down.
   */
  lookup(gr: GatewayRequest): SessionLookup | Promise<SessionLookup> {
    const opts = this.cookieOptions(gr);
    // https login-state cookies are sent on every path (Path=/, as `__Host-` requires): never upstream
    if (opts.secure) stripCookiesWithPrefix(gr, SECURE_LOGIN_COOKIE_PREFIX);
    const value = readSessionCookie(gr.req.headers.cookie, opts);
    if (value === undefined) return NONE;
    const id = this.#ids.idOf(value);
    const cached = this.#cached(id);
    if (cached !== undefined) return this.#found(gr, opts, cached);
    return this.#lookupLive(gr, opts, id);
  }

  /** The session cookie (either name), and https login-state cookies, stay out of the upstream request: another authenticator decided. */
  hide(gr: GatewayRequest): void {
    stripCookiesWithPrefix(gr, SECURE_LOGIN_COOKIE_PREFIX);
    if (!this.#hideCredentials) return;
    stripCookie(gr, this.#secureName);
    stripCookie(gr, this.#plainName);
  }

  #found(gr: GatewayRequest, opts: SessionCookieOptions, session: GatewaySession): SessionLookup {
    if (this.#hideCredentials) stripCookie(gr, opts.secure ? this.#secureName : this.#plainName);
    return { kind: 'ok', identity: sessionIdentity(session), session };
  }

  async #lookupLive(gr: GatewayRequest, opts: SessionCookieOptions, id: string): Promise<SessionLookup> {
    try {
      const session = await this.#live(id);
      if (session === undefined) {
        gr.res.appendHeader('set-cookie', clearSessionCookie(opts));
        return NONE;
      }
      return this.#found(gr, opts, session);
    } catch (err) {
      if (err instanceof UnavailableError) {
        this.#logger.warn({ err: err.message }, 'session store unavailable');
        throw serviceUnavailable('the session store is unavailable', err.retryAfterSeconds);
      }
      throw err;
    }
  }

  /** A cached session that needs nothing done now (else undefined: take the store path). */
  #cached(id: string): GatewaySession | undefined {
    const session = this.context.cache.peek(id);
    if (session === undefined) return undefined;
    const now = this.#clock.now();
    const { settings } = this.context;
    // the same tests as the store path (#checked): any work due sends the request there
    if (isOver(session, settings, now) || refreshDue(session, settings, now) || touchDue(session, settings, now)) return undefined;
    return session;
  }

  /** The session if alive (timeouts, refresh, touch), else undefined (and it is deleted). */
  async #live(id: string): Promise<GatewaySession | undefined> {
    const { cache } = this.context;
    // read before the store: an eviction meanwhile means this answer must not be cached
    const generation = cache.generation;
    const session = await this.#checked(id);
    if (session === undefined) cache.forget(id);
    else cache.remember(session, generation, this.#clock.now());
    return session;
  }

  async #checked(id: string): Promise<GatewaySession | undefined> {
    const { store, settings } = this.context;
    let session = await store.get(id);
    if (session === undefined) return undefined;
    let now = this.#clock.now();
    if (isOver(session, settings, now)) {
      await this.#end(id);
      return undefined;
    }
    if (refreshDue(session, settings, now)) {
      session = await this.#refresh(session);
      if (session === undefined) return undefined;
      now = this.#clock.now();
    }
    if (touchDue(session, settings, now)) {
      if (!(await store.touch(id, now))) return undefined;
      session = { ...session, last_seen_at: now };
    }
    return session;
  }

  /** Deletes a session and tells every instance to drop its cached copy. */
  async #end(id: string): Promise<void> {
    await this.context.store.delete(id);
    void this.context.cache.ended([id]);
  }

  #tokensOf(session: GatewaySession): SessionTokens | undefined {
    try {
      return unsealTokens(this.#tokensKey, session.id, session.tokens);
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, 'session tokens cannot be opened (another master secret?): ending the session');
      return undefined;
    }
  }

  /** Refreshes the provider's tokens under the session's lock; undefined: the session ended. */
  async #refresh(session: GatewaySession): Promise<GatewaySession | undefined> {
    const { store, settings, registry } = this.context;
    const rp = registry.find(session.issuer, session.client_id);
    const tokens = this.#tokensOf(session);
    if (tokens === undefined) {
      await this.#end(session.id);
      return undefined;
    }
    // nothing to refresh with (no offline_access, or its provider is no longer configured):
    // the session lives on until its own timeouts
    if (rp === undefined || tokens.refresh_token === undefined) return session;
    const lockMs = rp.config.timeout * 1000 + 2000;
    const result = await store.withLock(session.id, { ttlMs: lockMs, waitMs: lockMs }, async (): Promise<GatewaySession | 'gone'> => {
      // another request (any instance) may have refreshed while we waited for the lock
      const fresh = await store.get(session.id);
      if (fresh === undefined) return 'gone';
      if (fresh.access_expires_at - settings.refresh_before > this.#clock.now()) return fresh;
      const current = this.#tokensOf(fresh);
      if (current === undefined) {
        await this.#end(fresh.id);
        return 'gone';
      }
      const refreshed = await rp.refresh(current);
      if (refreshed.kind === 'dead') {
        this.#logger.info({ sid: fresh.id, problem: refreshed.problem }, 'session ended: the provider refused its refresh token');
        await this.#end(fresh.id);
        return 'gone';
      }
      if (refreshed.kind === 'unavailable') {
        // the provider is down: the session stays valid under the gateway's own timeouts
        this.#logger.warn({ issuer: fresh.issuer, problem: refreshed.problem }, 'session refresh failed; retrying on a later request');
        return fresh;
      }
      const now = this.#clock.now();
      const sealed = sealTokens(this.#tokensKey, fresh.id, refreshed.tokens);
      if (!(await store.updateTokens(fresh.id, sealed, refreshed.tokens.expires_at, now))) return 'gone';
      return { ...fresh, tokens: sealed, access_expires_at: refreshed.tokens.expires_at };
    });
    // the lock stayed taken for waitMs: read what the holder left
    if (result === undefined) return store.get(session.id);
    return result === 'gone' ? undefined : result;
  }
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * One frozen identity per session object: a cached session hands out the same one on every
 * request, so the internal token is found by identity (no key string, no fingerprint).
 */
const identities = new WeakMap<GatewaySession, Identity>();

function sessionIdentity(session: GatewaySession): Identity {
  let identity = identities.get(session);
  if (identity === undefined) {
    identity = Object.freeze(identityOf(session));
    identities.set(session, identity);
  }
  return identity;
}

export function identityOf(session: GatewaySession): Identity {
  const claims: Record<string, unknown> = {};
  for (const name of TOKEN_CLAIMS) if (session.claims[name] !== undefined) claims[name] = session.claims[name];
  return {
    auth_method: 'session',
    sub: session.sub,
    sid: session.id,
    client_id: session.client_id,
    scope: session.scope,
    groups: stringList(session.claims.groups),
    credential_id: `session:${session.id}`,
    claims,
  };
}

function sessionResult(found: SessionLookup): AuthnResult {
  return found.kind === 'ok' ? { kind: 'ok', identity: found.identity } : SKIP;
}

export function sessionChallenge(realm: string, cookieName: string): string {
  return `Cookie realm="${realm}", cookie-name="${cookieName}"`;
}

export const session: PluginFactory = {
  name: 'session',
  create: function createSession(config, deps, path): PluginInstance {
    const settings = sessionConfigSchema.parse(config, path);
    const context = sessionContext(deps, path);
    const check = new SessionCheck(context, deps, settings.hide_credentials);
    const impl: Authenticator & SessionAware = {
      name: 'session',
      challenge: sessionChallenge(settings.realm, context.settings.cookie_name),
      sessionContext: context,
      hide: (gr) => check.hide(gr),
      authenticate: function authenticateSession(gr: GatewayRequest): AuthnResult | Promise<AuthnResult> {
        const found = check.lookup(gr);
        return found instanceof Promise ? found.then(sessionResult) : sessionResult(found);
      },
    };
    return { stage: 'authenticate', impl };
  },
};
