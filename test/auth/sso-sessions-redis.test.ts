// SSO sessions in Redis (`redis:` configured): the store contract, and the login flow
// keeping its session there rather than in SQL.
import * as assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisSsoSessionStore } from '../../src/auth/sessions/redis-store.js';
import type { SsoSessionRecord } from '../../src/storage/types.js';
import { startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { redisUrl } from '../helpers/services.js';

const url = await redisUrl();
const NOW = Math.floor(Date.now() / 1000);

describe('SSO sessions in Redis', { skip: url === undefined ? 'Redis not reachable' : undefined }, () => {
  let redis: Redis;
  let store: RedisSsoSessionStore;

  before(() => {
    redis = new Redis(url!, { lazyConnect: false, maxRetriesPerRequest: 1 });
    store = new RedisSsoSessionStore(redis);
  });

  after(async () => {
    await redis.quit();
  });

  function session(over: Partial<SsoSessionRecord> = {}): SsoSessionRecord {
    return { id: randomUUID(), user_id: `u-${randomUUID()}`, auth_time: NOW, amr: ['pwd'], acr: null, created_at: NOW, last_seen_at: NOW, expires_at: NOW + 3600, ...over };
  }

  it('insert, get, touch, delete; expires at the absolute timeout', async () => {
    const s = session();
    assert.equal(await store.get(s.id), undefined);
    await store.insert(s);
    assert.deepEqual(await store.get(s.id), s);
    const ttl = await redis.ttl(`drawbridge:sso:${s.id}`);
    assert.ok(ttl > 3590 && ttl <= 3600, String(ttl));
    assert.equal(await store.touch(s.id, NOW + 7), true);
    assert.equal((await store.get(s.id))!.last_seen_at, NOW + 7);
    assert.ok((await redis.ttl(`drawbridge:sso:${s.id}`)) <= 3600, 'touch never extends the life');
    assert.equal(await store.delete(s.id), true);
    assert.equal(await store.delete(s.id), false);
    assert.equal(await store.touch(s.id, NOW + 8), false, 'no resurrection');
    assert.equal(await store.get(s.id), undefined);
  });

  it('deleteByUser ends every session of the user, and only those', async () => {
    const a = session();
    const b = session({ user_id: a.user_id });
    const other = session();
    for (const s of [a, b, other]) await store.insert(s);
    assert.equal(await store.deleteByUser(a.user_id), 2);
    assert.equal(await store.get(a.id), undefined);
    assert.equal(await store.get(b.id), undefined);
    assert.deepEqual(await store.get(other.id), other);
    await store.delete(other.id);
  });

  it('listByUser, addGrant and grants (logout); grants expire and go with their session', async () => {
    const a = session({ created_at: NOW + 1 });
    const b = session({ user_id: a.user_id });
    for (const s of [a, b]) await store.insert(s);
    assert.deepEqual(await store.listByUser(a.user_id), [b, a]);
    await store.addGrant(a.id, 'web', 'g1', NOW);
    await store.addGrant(a.id, 'app', 'g2', NOW + 1);
    await store.addGrant(a.id, 'web', 'g1', NOW + 2);
    await store.addGrant('no-such-session', 'web', 'g3', NOW);
    assert.deepEqual(await store.grants(a.id), [{ client_id: 'web', grant_id: 'g1' }, { client_id: 'app', grant_id: 'g2' }]);
    assert.deepEqual(await store.grants('no-such-session'), []);
    const ttl = await redis.ttl(`drawbridge:sso-grants:${a.id}`);
    assert.ok(ttl > 0 && ttl <= 3600, String(ttl));
    assert.equal(await store.delete(a.id), true);
    assert.deepEqual(await store.grants(a.id), []);
    // a session Redis expired by itself drops out of the list
    await redis.del(`drawbridge:sso:${b.id}`);
    assert.deepEqual(await store.listByUser(a.user_id), []);
  });

  it('end deletes the session, then reads and deletes its grants, returning them', async () => {
    const a = session();
    await store.insert(a);
    await store.addGrant(a.id, 'web', 'g1', NOW);
    await store.addGrant(a.id, 'app', 'g2', NOW + 1);
    // the grants are read once the session is gone (logout: grants/session-still-alive.ts)
    const grants = store.grants;
    let sessionAtRead: unknown = 'not read';
    store.grants = async (id) => {
      sessionAtRead = await store.get(id);
      return grants.call(store, id);
    };
    try {
      assert.deepEqual(await store.end(a.id), [{ client_id: 'web', grant_id: 'g1' }, { client_id: 'app', grant_id: 'g2' }]);
    } finally {
      store.grants = grants;
    }
    assert.equal(sessionAtRead, undefined, 'the session was gone when its grants were read');
    assert.equal(await store.get(a.id), undefined);
    assert.equal(await redis.exists(`drawbridge:sso-grants:${a.id}`), 0);
    assert.deepEqual(await store.listByUser(a.user_id), []);
    assert.deepEqual(await store.end(a.id), [], 'no session: nothing');
  });

  describe('with redis: configured, the login keeps its session in Redis', () => {
    let server: TestServer;
    before(async () => {
      server = await startAuth(
        {
          brute_force: { enabled: false },
          users: [{ username: 'alice', password: 'correct horse battery staple 42', claims: {} }],
          clients: [{ client_id: 'first', redirect_uris: ['https://app.example/cb'], scopes: ['openid'], consent: 'skip' }],
        },
        { redis: url },
      );
    });
    after(() => server.close());

    it('the cookie digest is a Redis key, not a SQL row; prompt=none then succeeds', async () => {
      const browser = new Browser();
      const challenge = createHash('sha256').update('v'.repeat(43)).digest('base64url');
      const u = new URL(`${server.issuer}/oauth2/authorize`);
      for (const [k, v] of Object.entries({ client_id: 'first', redirect_uri: 'https://app.example/cb', response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' })) {
        u.searchParams.set(k, v);
      }
      const form = parseForm(await (await browser.fetch(u.href)).text());
      const res = await browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', 'correct horse battery staple 42']] });
      assert.equal(res.status, 303);
      const cookie = browser.cookies.get('drawbridge_sso')!.value;
      const id = createHash('sha256').update(cookie).digest('base64url');
      assert.equal(await redis.exists(`drawbridge:sso:${id}`), 1);
      assert.equal(await server.running.storage.ssoSessions.get(id), undefined);
      u.searchParams.set('prompt', 'none');
      const again = await browser.fetch(u.href);
      assert.equal(again.status, 302);
      assert.ok(new URL(again.headers.get('location')!).searchParams.get('code'));
    });
  });
});
