// Users removed from `auth.users`: the next start deletes them (src/auth/users/sync.ts) and
// signs them out everywhere (src/auth/users/removed.ts), like `drawbridge user delete`:
// their access tokens (opaque and JWT) introspect inactive, their refresh tokens are refused,
// their SSO sessions end, and `user.revoked` reaches the gateways. The other users keep
// theirs. Each restart is a new auth server on the same storage (a SQLite file, PostgreSQL);
// events are watched on the in-process bus, and over Redis for an auth server on its own.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { EVENTS_CHANNEL } from '../../src/cache/events.js';
import { systemClock } from '../../src/core/clock.js';
import { basic, freePort, postForm } from '../helpers/auth-server.js';
import { startRestartableAuth, waitFor, type Body, type RestartableAuth } from '../helpers/restartable-auth.js';
import { persistentTargets } from '../helpers/storage-targets.js';
import { redisUrl } from '../helpers/services.js';

const SECRET = 'config-user-prune-client-secret-0123456789';
const PASSWORD = 'correct horse battery staple 42';
const CLIENTS = [
  // `introspect`: it also looks at jwtapp's tokens
  { client_id: 'app', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scopes: ['orders:read', 'introspect'], default_scopes: ['orders:read'] },
  {
    client_id: 'jwtapp', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scopes: ['orders:read'],
    default_scopes: ['orders:read'], access_token_format: 'jwt',
  },
];

type Server = RestartableAuth;

/** An auth server on `storage` with these config users; one issuer across restarts. */
function start(t: TestContext, storageUrl: string, issuer: string, usernames: string[], redisAt?: string): Promise<Server> {
  const auth = { brute_force: { enabled: false }, users: usernames.map((username) => ({ username, password: PASSWORD })), clients: CLIENTS };
  return startRestartableAuth(t, { storage: storageUrl, issuer, auth, redis: redisAt });
}

async function body(res: Response, status: number): Promise<Body> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text) as Body;
}

interface Tokens {
  access_token: string;
  refresh_token: string;
}

async function passwordGrant(s: Server, clientId: string, username: string): Promise<Tokens> {
  const res = await postForm(`${s.base}/oauth2/token`, { grant_type: 'password', username, password: PASSWORD }, { authorization: basic(clientId, SECRET) });
  return (await body(res, 200)) as unknown as Tokens;
}

function introspect(s: Server, token: string): Promise<Body> {
  return postForm(`${s.base}/oauth2/introspect`, { token }, { authorization: basic('app', SECRET) }).then((r) => body(r, 200));
}

function refresh(s: Server, token: string): Promise<Response> {
  return postForm(`${s.base}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: token }, { authorization: basic('app', SECRET) });
}

const removedLine = (line: Body) => typeof line.msg === 'string' && line.msg.includes('removed from the config file');

const targets = persistentTargets('drawbridge-user-prune-');

for (const target of targets) {
  describe(`users removed from auth.users (${target.name})`, () => {
    it("lose their tokens at the next start; the others keep theirs; user.revoked is published", async (t) => {
      const storageUrl = await target.storage(t);
      if (storageUrl === undefined) return t.skip('PostgreSQL not reachable');
      const issuer = `http://127.0.0.1:${await freePort()}`;

      const first = await start(t, storageUrl, issuer, ['alice', 'bob']);
      const alice = await passwordGrant(first, 'app', 'alice');
      const aliceJwt = await passwordGrant(first, 'jwtapp', 'alice');
      const bob = await passwordGrant(first, 'app', 'bob');
      const aliceSub = (await introspect(first, alice.access_token)).sub as string;
      const bobSub = (await introspect(first, bob.access_token)).sub as string;
      assert.equal((await introspect(first, aliceJwt.access_token)).active, true);
      await first.close();

      const second = await start(t, storageUrl, issuer, ['bob']);
      assert.deepEqual(await introspect(second, alice.access_token), { active: false });
      assert.deepEqual(await introspect(second, aliceJwt.access_token), { active: false }, 'the JWT access token too');
      assert.deepEqual(await introspect(second, alice.refresh_token), { active: false });
      const refused = await body(await refresh(second, alice.refresh_token), 400);
      assert.equal(refused.error, 'invalid_grant');

      const bobNow = await introspect(second, bob.access_token);
      assert.equal(bobNow.active, true);
      assert.equal(bobNow.sub, bobSub);
      const bobRefreshed = await body(await refresh(second, bob.refresh_token), 200);
      assert.equal((await introspect(second, bobRefreshed.access_token as string)).active, true);

      await waitFor(second.events, (e) => e.type === 'user.revoked' && e.sub === aliceSub);
      assert.ok(!second.events.some((e) => e.type === 'user.revoked' && e.sub === bobSub), JSON.stringify(second.events));

      const logged = second.lines.filter(removedLine);
      assert.equal(logged.length, 1, JSON.stringify(second.lines));
      assert.equal(logged[0]!.level, 30, 'info');
      assert.equal(logged[0]!.username, 'alice');
      assert.equal(logged[0]!.sub, aliceSub);
      assert.equal(logged[0]!.tokens_revoked, 4, 'two access tokens, two refresh tokens');
      const everything = JSON.stringify(second.lines);
      for (const secret of [PASSWORD, alice.access_token, alice.refresh_token, aliceJwt.access_token, SECRET]) assert.ok(!everything.includes(secret));
      await second.close();

      // nothing left to remove: the next start revokes nothing and says nothing
      const third = await start(t, storageUrl, issuer, ['bob']);
      assert.equal((await introspect(third, bob.access_token)).active, true);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(third.events, []);
      assert.equal(third.lines.filter(removedLine).length, 0);
    });
  });
}

describe('users removed from auth.users, sessions in Redis', () => {
  it('end their SSO sessions and publish user.revoked over Redis', async (t) => {
    const url = await redisUrl();
    if (url === undefined) return t.skip('Redis not reachable');
    const storageUrl = await targets[0]!.storage(t);
    const issuer = `http://127.0.0.1:${await freePort()}`;
    const seen: Body[] = [];
    const sub = new Redis(url, { maxRetriesPerRequest: 1 });
    t.after(() => sub.quit());
    await sub.subscribe(EVENTS_CHANNEL);
    sub.on('message', (_channel, message) => seen.push(JSON.parse(message) as Body));

    const first = await start(t, storageUrl!, issuer, ['alice', 'bob'], url);
    const alice = await passwordGrant(first, 'app', 'alice');
    const aliceSub = (await introspect(first, alice.access_token)).sub as string;
    const bob = await passwordGrant(first, 'app', 'bob');
    const bobSub = (await introspect(first, bob.access_token)).sub as string;
    // an SSO session each, in the Redis store the server uses (as a browser login makes)
    const sessions = await import('../../src/auth/sessions/redis-store.js');
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    t.after(() => redis.quit());
    const store = new sessions.RedisSsoSessionStore(redis);
    const now = systemClock.now();
    const session = (user_id: string) => ({ id: randomBytes(32).toString('base64url'), user_id, auth_time: now, amr: ['pwd'], acr: null, created_at: now, last_seen_at: now, expires_at: now + 3600 });
    const aliceSession = session(aliceSub);
    const bobSession = session(bobSub);
    await store.insert(aliceSession);
    await store.insert(bobSession);
    await first.close();

    const second = await start(t, storageUrl!, issuer, ['bob'], url);
    assert.equal(await store.get(aliceSession.id), undefined, "alice's session ended");
    assert.deepEqual(await store.listByUser(aliceSub), []);
    assert.equal((await store.get(bobSession.id))?.user_id, bobSub, "bob's session kept");
    assert.deepEqual(await introspect(second, alice.access_token), { active: false });
    assert.equal((await introspect(second, bob.access_token)).active, true);
    await waitFor(seen, (e) => e.type === 'user.revoked' && e.sub === aliceSub);
    await waitFor(seen, (e) => e.type === 'session.revoked' && e.sid === aliceSession.id);
    assert.ok(!seen.some((e) => e.sub === bobSub || e.sid === bobSession.id), JSON.stringify(seen));
  });
});
