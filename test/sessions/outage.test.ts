// A Redis outage (issue #5 "Done when"): with a private redis-server that we kill and
// restart, the Redis session store fails fast with SessionStoreUnavailableError (no
// endless offline queue) and works again once Redis is back; on a running gateway the
// session route answers 503 with Retry-After meanwhile while a key-auth route on the same
// gateway keeps answering 200, and the session route recovers when Redis returns.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newSessionCookieValue, sessionIdOf } from '../../src/sessions/cookie.js';
import { RedisSessionStore } from '../../src/sessions/redis-store.js';
import { SessionStoreUnavailableError, type GatewaySession, type SessionStore } from '../../src/sessions/types.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { retried } from '../helpers/poll.js';
import { send } from '../gateway/authn-support.js';
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from '../gateway/limits-harness.js';
import { liveSession } from './support.js';

const available = redisServerAvailable();
const API_KEY = 'outage-key-0123456789abcdefghijklmnop';

function session(id: string, issuer: string): GatewaySession {
  return liveSession(id, { sub: 'user-outage', issuer, client_id: 'edge', claims: { preferred_username: 'outage' } });
}

/** Every store call, each timed: all must reject with SessionStoreUnavailableError. */
async function allFailFast(store: SessionStore, id: string): Promise<number> {
  const calls: Array<() => Promise<unknown>> = [
    () => store.get(id),
    () => store.insert(session(id, 'https://x.test')),
    () => store.updateTokens(id, 'x', 1, 1),
    () => store.touch(id, 1),
    () => store.delete(id),
    () => store.listByUser('user-outage'),
    () => store.deleteByUser('user-outage'),
    () => store.deleteByIdpSid('https://x.test', 'sid'),
    () => store.withLock(id, { ttlMs: 1000, waitMs: 1000 }, async () => 'ran'),
    () => store.ping(),
  ];
  let slowest = 0;
  for (const call of calls) {
    const start = performance.now();
    await assert.rejects(call(), (err: unknown) => err instanceof SessionStoreUnavailableError);
    slowest = Math.max(slowest, performance.now() - start);
  }
  return slowest;
}

describe('Redis session store during a Redis outage', { skip: !available }, () => {
  let redis: PrivateRedis;
  let store: RedisSessionStore;

  before(async () => {
    redis = await startPrivateRedis();
    store = new RedisSessionStore({ redis: redis.url, commandTimeoutMs: 500 });
    assert.equal(await store.ready(), true);
  });
  after(async () => {
    await store?.close();
    await redis?.kill();
  });

  it('every call fails fast with SessionStoreUnavailableError while Redis is down, and works once it is back', async (t) => {
    const id = sessionIdOf(newSessionCookieValue());
    await store.insert(session(id, 'https://x.test'));
    assert.ok(await store.get(id));
    await redis.kill();
    const slowest = await allFailFast(store, id);
    assert.ok(slowest < 1500, `slowest failing call took ${Math.round(slowest)} ms`);
    await redis.restart();
    const back = performance.now();
    const fresh = sessionIdOf(newSessionCookieValue());
    await retried(() => store.insert(session(fresh, 'https://x.test')), { ms: 10_000 });
    t.diagnostic(`slowest failing call ${Math.round(slowest)} ms; working again ${Math.round(performance.now() - back)} ms after redis answered`);
    assert.equal((await store.get(fresh))?.id, fresh);
    assert.equal(await store.withLock(fresh, { ttlMs: 1000, waitMs: 0 }, async () => 'ran'), 'ran');
  });
});

describe('gateway during a Redis outage: session route 503 + Retry-After, key-auth route unaffected', { skip: !available }, () => {
  let redis: PrivateRedis;
  let upstream: Upstream;
  let stack: Stack;

  before(async () => {
    redis = await startPrivateRedis();
    upstream = await startUpstream();
    stack = await startStack({
      auth: false,
      top: { redis: redis.url },
      gateway: {
        consumers: [{ username: 'partner', credentials: { 'key-auth': [{ key: API_KEY }] } }],
        services: [
          { name: 'web', url: upstream.url, routes: [{ paths: ['/web'] }], plugins: [{ name: 'session' }] },
          { name: 'api', url: upstream.url, routes: [{ paths: ['/api'] }], plugins: [{ name: 'key-auth' }] },
        ],
      },
    });
  });
  after(async () => {
    await stack?.close();
    await upstream?.close();
    await redis?.kill();
  });

  it('answers 503 with Retry-After on the session route, 200 on the key-auth route, and recovers', async (t) => {
    const store = stack.gateway.deps.sessions!;
    const cookie = newSessionCookieValue();
    await store.insert(session(sessionIdOf(cookie), stack.issuer));
    const web = () => send(stack.gatewayUrl, '/web/x', { headers: { cookie: `drawbridge_session=${cookie}` } });
    const api = () => send(stack.gatewayUrl, '/api/x', { headers: { apikey: API_KEY } });
    assert.equal((await web()).status, 200);
    assert.equal((await api()).status, 200);

    await redis.kill();
    const start = performance.now();
    const down = await web();
    const took = performance.now() - start;
    assert.equal(down.status, 503, down.text);
    assert.ok(Number(down.headers['retry-after']) > 0, 'Retry-After');
    assert.equal(down.json.error, 'service_unavailable');
    assert.ok(typeof down.json.request_id === 'string');
    assert.ok(took < 2000, `the 503 came fast (${Math.round(took)} ms)`);
    const keyed = await api();
    assert.equal(keyed.status, 200, `key-auth keeps working without Redis: ${keyed.text}`);

    await redis.restart();
    const back = performance.now();
    // the private Redis keeps nothing across the restart: sign the user in again
    await retried(() => store.insert(session(sessionIdOf(cookie), stack.issuer)), { ms: 10_000 });
    await retried(async () => assert.equal((await web()).status, 200), { ms: 10_000 });
    t.diagnostic(`503 in ${Math.round(took)} ms while down; session route 200 again ${Math.round(performance.now() - back)} ms after redis answered`);
    assert.equal((await api()).status, 200);
  });
});
