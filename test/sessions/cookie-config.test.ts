// The session cookie codec (src/sessions/cookie.ts) and `gateway.sessions` validation.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, validateConfig } from '../../src/config/schema.js';
import {
  clearSessionCookie,
  newSessionCookieValue,
  readSessionCookie,
  sessionCookieName,
  sessionIdOf,
  sessionSetCookie,
} from '../../src/sessions/cookie.js';
import { sessionStoreKind } from '../../src/sessions/open.js';

describe('session cookie', () => {
  it('values are 256 random bits in base64url; the store id is their SHA-256', () => {
    const a = newSessionCookieValue();
    const b = newSessionCookieValue();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a, 'base64url').length, 32);
    assert.notEqual(a, b);
    assert.equal(sessionIdOf(a), createHash('sha256').update(a).digest('base64url'));
    assert.notEqual(sessionIdOf(a), a);
  });

  it('Set-Cookie: HttpOnly, SameSite=Lax, Path=/; Secure and __Host- on https without Domain', () => {
    const plain = sessionSetCookie({ name: 'drawbridge_session', secure: false }, 'v');
    assert.equal(plain, 'drawbridge_session=v; Path=/; HttpOnly; SameSite=Lax');
    const secure = sessionSetCookie({ name: 'drawbridge_session', secure: true }, 'v', 3600);
    assert.equal(secure, '__Host-drawbridge_session=v; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=3600');
    const domain = sessionSetCookie({ name: 's', secure: true, domain: 'example.com' }, 'v');
    assert.equal(domain, 's=v; Path=/; HttpOnly; SameSite=Lax; Secure; Domain=example.com');
    assert.equal(sessionCookieName({ name: 's', secure: true, domain: 'example.com' }), 's');
    assert.match(clearSessionCookie({ name: 's', secure: false }), /^s=; .*Max-Age=0$/);
  });

  it('reads only a well-formed value under the right name, and ignores oversized headers', () => {
    const v = newSessionCookieValue();
    const opts = { name: 'drawbridge_session', secure: false };
    assert.equal(readSessionCookie(`a=b; drawbridge_session=${v}; c=d`, opts), v);
    // the first well-formed one; pairs without "=", empty pairs and look-alike names are skipped
    assert.equal(readSessionCookie(`drawbridge_session=bad; x; ;drawbridge_session2=${v};  drawbridge_session = ${v} `, opts), v);
    assert.equal(readSessionCookie(`drawbridge_session=${v}x`, opts), undefined);
    assert.equal(readSessionCookie(`x=drawbridge_session=${v}`, opts), undefined);
    assert.equal(readSessionCookie('', opts), undefined);
    assert.equal(readSessionCookie(';;;', opts), undefined);
    assert.equal(readSessionCookie(`__Host-drawbridge_session=${v}`, opts), undefined, 'the https name is another cookie');
    assert.equal(readSessionCookie(`__Host-drawbridge_session=${v}`, { ...opts, secure: true }), v);
    assert.equal(readSessionCookie('drawbridge_session=short', opts), undefined);
    assert.equal(readSessionCookie(`drawbridge_session=${v}x`, opts), undefined);
    assert.equal(readSessionCookie(`drawbridge_session=${v.slice(0, 42)}+`, opts), undefined);
    assert.equal(readSessionCookie(`x=${'a'.repeat(20_000)}; drawbridge_session=${v}`, opts), undefined);
    assert.equal(readSessionCookie(undefined, opts), undefined);
  });
});

describe('gateway.sessions config', () => {
  const base = { issuer: 'http://127.0.0.1:9000', storage: 'memory:', secret: 'x'.repeat(32) };

  it('defaults: cookie drawbridge_session, idle 30m, absolute 12h, refresh 60s; store redis with redis:, else sql', () => {
    const cfg = validateConfig({ ...base, gateway: {} });
    assert.deepEqual(cfg.gateway!.sessions, { cookie_name: 'drawbridge_session', idle_timeout: 1800, absolute_timeout: 43200, refresh_before: 60 });
    assert.equal(sessionStoreKind(cfg), 'sql');
    assert.equal(sessionStoreKind(validateConfig({ ...base, redis: 'redis://127.0.0.1:6379', gateway: {} })), 'redis');
    assert.equal(sessionStoreKind(validateConfig({ ...base, redis: 'redis://127.0.0.1:6379', gateway: { sessions: { store: 'sql' } } })), 'sql');
    const set = validateConfig({ ...base, gateway: { sessions: { idle_timeout: '5m', absolute_timeout: '1d', refresh_before: '10s', cookie_name: 'sid' } } });
    assert.deepEqual(set.gateway!.sessions, { cookie_name: 'sid', idle_timeout: 300, absolute_timeout: 86400, refresh_before: 10 });
  });

  it('store: redis without redis: is an error naming gateway.sessions.store; bad values name their key', () => {
    const bad = (gateway: unknown, key: string) =>
      assert.throws(() => validateConfig({ ...base, gateway }), (err: unknown) => err instanceof ConfigError && err.message.includes(key));
    bad({ sessions: { store: 'redis' } }, 'gateway.sessions.store');
    bad({ sessions: { store: 'memcached' } }, 'gateway.sessions.store');
    bad({ sessions: { idle_timeout: 'soon' } }, 'gateway.sessions.idle_timeout');
    bad({ sessions: { cookie_name: 'a b' } }, 'gateway.sessions.cookie_name');
    bad({ sessions: { unknown: 1 } }, 'gateway.sessions.unknown');
  });
});
