// Two gateway instances (A and B, each its own store connection and its own event
// subscription) sharing Redis — with the Redis session store, and with the SQL store
// (PostgreSQL) whose cache events still travel over Redis. B keeps a session in its read
// cache; every way of ending it on A makes B refuse the cookie at once (the event), not
// after the cache TTL: logout, admin deletion (one and per user), back-channel logout,
// user.revoked from the auth server, `drawbridge session revoke` (its source). A session
// removed behind the gateways' backs (no event) stops being served within the TTL. With the
// event subscription down, B does not trust its cache: with the SQL store a deletion on A
// is seen by B at once; after Redis returns, caching resumes.
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { publishOnce, type RunningEventBus } from '../../src/cache/events.js';
import { openGatewaySessionSource } from '../../src/cli/commands/gateway-sessions.js';
import { signJwt } from '../../src/crypto/jwt.js';
import { newSessionCookieValue, sessionIdOf } from '../../src/sessions/cookie.js';
import { SESSION_CACHE_TTL_MS } from '../../src/sessions/cache.js';
import type { GatewaySession, SessionStore } from '../../src/sessions/types.js';
import { ADMIN_TOKEN, admin, adminUrlOf } from '../gateway/admin-support.js';
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from '../gateway/limits-harness.js';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { migratedPostgresSchema, postgresUrl, redisUrl, type TestSchema } from '../helpers/services.js';
import { liveSession } from './support.js';

const CLIENT_SECRET = 'gateway-client-secret-0123456789abcdef';
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** "at once": the event crosses Redis in about a millisecond; the TTL would take 1000 ms */
const AT_ONCE_MS = 250;

const privateRedis = redisServerAvailable();
const sharedRedis = privateRedis ? undefined : await redisUrl();
const pgBase = await postgresUrl();

const variants = [
  { name: 'redis store', sql: false },
  { name: 'sql store (PostgreSQL), events over redis', sql: true },
];

for (const variant of variants) {
  const skip = !privateRedis && sharedRedis === undefined ? 'Redis not available' : variant.sql && pgBase === undefined ? 'PostgreSQL not available' : undefined;

  describe(`session cache on two gateway instances (${variant.name})`, { skip }, () => {
    let redis: PrivateRedis | undefined;
    let schema: TestSchema | undefined;
    let upstream: Upstream;
    let a: Stack;
    let b: Stack;
    let store: SessionStore;
    let issuer: string;

    before(async () => {
      redis = privateRedis ? await startPrivateRedis() : undefined;
      const redisUrlUsed = redis?.url ?? sharedRedis!;
      schema = variant.sql ? await migratedPostgresSchema(pgBase!) : undefined;
      upstream = await startUpstream();
      const authPort = await freePort();
      const aPort = await freePort();
      issuer = `http://127.0.0.1:${authPort}`;
      const top: Record<string, unknown> = { issuer, redis: redisUrlUsed };
      if (schema) top.storage = schema.url;
      const sessions = variant.sql ? { store: 'sql' } : {};
      const web = { name: 'web', url: upstream.url, routes: [{ paths: ['/web'] }], plugins: [{ name: 'session' }] };
      a = await startStack({
        top,
        auth: {
          listen: `127.0.0.1:${authPort}`,
          clients: [
            {
              client_id: 'gateway',
              client_secret: CLIENT_SECRET,
              redirect_uris: [`http://127.0.0.1:${aPort}/_drawbridge/callback`],
              grant_types: ['authorization_code', 'refresh_token'],
              scopes: ['openid', 'profile'],
              consent: 'skip',
            },
          ],
        },
        gateway: {
          listen: `127.0.0.1:${aPort}`,
          admin_listen: '127.0.0.1:0',
          admin_token: ADMIN_TOKEN,
          sessions,
          services: [
            web,
            { name: 'app', url: upstream.url, routes: [{ paths: ['/app'] }], plugins: [{ name: 'oidc-login', config: { issuer, client_id: 'gateway', client_secret: CLIENT_SECRET, scopes: ['openid', 'profile'] } }] },
          ],
        },
      });
      b = await startStack({ top, auth: false, gateway: { sessions, services: [web] } });
      store = a.gateway.deps.sessions!;
      for (const s of [a, b]) {
        const events = s.gateway.deps.events as RunningEventBus;
        await events.ready();
        assert.equal(events.connected?.(), true, 'the event subscription is up');
      }
    });

    after(async () => {
      await b?.close();
      await a?.close();
      await upstream?.close();
      await redis?.kill();
      await schema?.drop();
    });

    /** A live session in the shared store; returns its cookie value. */
    async function newSession(fields: Partial<GatewaySession> = {}): Promise<{ cookie: string; id: string }> {
      const cookie = newSessionCookieValue();
      const id = sessionIdOf(cookie);
      await store.insert(
        liveSession(id, { sub: `user-${randomUUID()}`, issuer, client_id: 'gateway', claims: { preferred_username: 'someone' }, ...fields }),
      );
      return { cookie, id };
    }

    async function status(stack: Stack, cookie: string, path = '/web/x'): Promise<number> {
      const res = await fetch(`${stack.gatewayUrl}${path}`, { headers: { cookie: `drawbridge_session=${cookie}` }, redirect: 'manual' });
      await res.arrayBuffer();
      return res.status;
    }

    /** Signed in on both, so B holds the session in its read cache. */
    async function servedByBoth(cookie: string): Promise<void> {
      assert.equal(await status(a, cookie), 200, 'A serves the session');
      assert.equal(await status(b, cookie), 200, 'B serves the session');
    }

    /** ms from now until B answers 401 for the cookie (polling); throws after 3 s. */
    async function refusedByB(cookie: string): Promise<number> {
      const start = performance.now();
      for (;;) {
        const code = await status(b, cookie);
        const took = performance.now() - start;
        if (code === 401) return took;
        assert.equal(code, 200, 'only 200 until refused');
        if (took > 3000) throw new Error('B still serves the session after 3 s');
        await sleep(2);
      }
    }

    it('B serves from its cache: a session deleted behind its back (no event) ends there within the TTL', async (t) => {
      const { cookie, id } = await newSession();
      await servedByBoth(cookie);
      assert.equal(await store.delete(id), true); // straight in the store: nobody announces it
      const start = performance.now();
      assert.equal(await status(b, cookie), 200, 'still cached on B (proof that B does not read the store)');
      const took = await refusedByB(cookie);
      const total = performance.now() - start;
      t.diagnostic(`refused by B ${Math.round(total)} ms after the silent deletion (TTL ${SESSION_CACHE_TTL_MS} ms)`);
      assert.ok(total <= SESSION_CACHE_TTL_MS + 300, `within the TTL (${Math.round(total)} ms, last poll ${Math.round(took)} ms)`);
    });

    it('logout at /_drawbridge/logout on A: B refuses at once', async (t) => {
      const { cookie } = await newSession();
      await servedByBoth(cookie);
      assert.equal(await status(a, cookie, '/_drawbridge/logout'), 303);
      const took = await refusedByB(cookie);
      t.diagnostic(`B refused ${took.toFixed(1)} ms after the logout answered`);
      assert.ok(took < AT_ONCE_MS, `${took} ms`);
      assert.equal(await status(a, cookie), 401);
    });

    it('admin DELETE /sessions/{id} and /sessions?user= on A: B refuses at once', async (t) => {
      const one = await newSession();
      await servedByBoth(one.cookie);
      assert.equal((await admin(adminUrlOf(a), 'DELETE', `/sessions/${one.id}`)).status, 204);
      const tookOne = await refusedByB(one.cookie);
      const sub = `user-${randomUUID()}`;
      const x = await newSession({ sub });
      const y = await newSession({ sub });
      await servedByBoth(x.cookie);
      await servedByBoth(y.cookie);
      const res = await admin(adminUrlOf(a), 'DELETE', `/sessions?user=${encodeURIComponent(sub)}`);
      assert.equal(res.status, 200);
      assert.deepEqual([...(res.json.ended as string[])].sort(), [x.id, y.id].sort());
      const tookX = await refusedByB(x.cookie);
      const tookY = await refusedByB(y.cookie);
      t.diagnostic(`B refused ${tookOne.toFixed(1)} ms (one), ${tookX.toFixed(1)}/${tookY.toFixed(1)} ms (per user) after the admin answer`);
      for (const took of [tookOne, tookX, tookY]) assert.ok(took < AT_ONCE_MS, `${took} ms`);
    });

    it('back-channel logout posted to A (by sid): B refuses at once', async (t) => {
      const idpSid = `sso-${randomUUID()}`;
      const { cookie, id } = await newSession({ idp_sid: idpSid });
      await servedByBoth(cookie);
      const now = Math.floor(Date.now() / 1000);
      const token = signJwt(
        a.running.keyring.current,
        { iss: issuer, aud: 'gateway', iat: now, exp: now + 120, jti: randomUUID(), events: { [BACKCHANNEL_EVENT]: {} }, sid: idpSid },
        'logout+jwt',
      );
      const res = await fetch(`${a.gatewayUrl}/_drawbridge/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: token }),
      });
      assert.equal(res.status, 200, await res.text());
      assert.equal(await store.get(id), undefined);
      const took = await refusedByB(cookie);
      t.diagnostic(`B refused ${took.toFixed(1)} ms after the back-channel logout answered`);
      assert.ok(took < AT_ONCE_MS, `${took} ms`);
    });

    it('user.revoked from the auth server: B refuses at once', async (t) => {
      const sub = `user-${randomUUID()}`;
      const { cookie } = await newSession({ sub });
      await servedByBoth(cookie);
      assert.ok(await publishOnce((a.config as { redis: string }).redis, { type: 'user.revoked', sub }));
      const took = await refusedByB(cookie);
      t.diagnostic(`B refused ${took.toFixed(1)} ms after user.revoked was published`);
      assert.ok(took < AT_ONCE_MS, `${took} ms`);
    });

    it('`drawbridge session revoke` (the gateway-session source) announces the ids: B refuses at once', async (t) => {
      const { cookie, id } = await newSession();
      await servedByBoth(cookie);
      const source = await openGatewaySessionSource({ cfg: a.config, storage: a.running.storage });
      assert.ok(source);
      try {
        assert.equal((await source.revokeId(id))?.sessions.length, 1);
      } finally {
        await source.close();
      }
      const took = await refusedByB(cookie);
      t.diagnostic(`B refused ${took.toFixed(1)} ms after the CLI revoked the session`);
      assert.ok(took < AT_ONCE_MS, `${took} ms`);
    });

    it('event subscription down: B does not trust its cache; caching resumes when Redis is back', { skip: privateRedis ? undefined : 'needs a private redis-server to kill' }, async () => {
      const { cookie, id } = await newSession();
      await servedByBoth(cookie);
      await redis!.kill();
      const bEvents = b.gateway.deps.events as RunningEventBus;
      for (let i = 0; i < 100 && bEvents.connected?.(); i++) await sleep(10);
      assert.equal(bEvents.connected?.(), false, 'B noticed the subscription is down');
      if (!variant.sql) {
        // the Redis store is down as well: 503 + Retry-After, never the cached copy
        assert.equal(await status(b, cookie), 503);
      } else {
        // the SQL store still answers: B reads it on every request, so a deletion on A
        // (whose announcement cannot travel) is seen by B at once
        assert.equal(await status(b, cookie), 200);
        assert.equal((await admin(adminUrlOf(a), 'DELETE', `/sessions/${id}`)).status, 204);
        assert.equal(await status(b, cookie), 401, 'B went to the store');
      }
      await redis!.restart();
      for (let i = 0; i < 300 && !bEvents.connected?.(); i++) await sleep(20);
      assert.equal(bEvents.connected?.(), true, 'B resubscribed');
      // recovery without restart; the cache works again (a silent deletion is served briefly)
      const again = await (async () => {
        for (let i = 0; ; i++) {
          try {
            return await newSession();
          } catch (err) {
            if (i > 100) throw err;
            await sleep(50);
          }
        }
      })();
      for (let i = 0; i < 100 && (await status(b, again.cookie)) !== 200; i++) await sleep(50);
      assert.equal(await status(b, again.cookie), 200, 'B serves sessions again');
      await store.delete(again.id);
      assert.equal(await status(b, again.cookie), 200, 'cached again on B');
      await refusedByB(again.cookie);
    });
  });
}
