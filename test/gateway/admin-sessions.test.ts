// Gateway sessions through the admin API (GET/DELETE /sessions?user=|sub=, GET/DELETE
// /sessions/{id}) and ended by revocation events (user.revoked, session.revoked), on a
// running gateway with the SQL store (memory:) and with the Redis store.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { publishOnce, type GatewayEvent } from '../../src/cache/events.js';
import { newSessionCookieValue, sessionIdOf } from '../../src/sessions/cookie.js';
import { sealTokens, sessionTokensKey } from '../../src/sessions/tokens.js';
import type { GatewaySession, SessionStore } from '../../src/sessions/types.js';
import { TEST_SECRET, startStack, type Stack } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';
import { redisUrl } from '../helpers/services.js';
import { ADMIN_TOKEN, admin, adminUrlOf } from './admin-support.js';

const KEY = sessionTokensKey(TEST_SECRET);

function session(issuer: string, sub: string, fields: Partial<GatewaySession> = {}): GatewaySession {
  const id = sessionIdOf(newSessionCookieValue());
  const now = Math.floor(Date.now() / 1000);
  return {
    id,
    sub,
    issuer,
    client_id: 'gateway',
    idp_sid: null,
    claims: { preferred_username: sub },
    scope: ['openid'],
    tokens: sealTokens(KEY, id, { access_token: 'access-token-never-shown', refresh_token: 'refresh-never-shown', expires_at: now + 300 }),
    access_expires_at: now + 300,
    created_at: now,
    last_seen_at: now,
    expires_at: now + 3600,
    ...fields,
  };
}

const variants: Record<string, () => Promise<Record<string, unknown> | undefined>> = {
  sql: async () => ({}),
  redis: async () => {
    const url = await redisUrl();
    return url ? { redis: url } : undefined;
  },
};

for (const [name, top] of Object.entries(variants)) {
  describe(`admin /sessions and revocation events (${name} store)`, () => {
    let stack: Stack | undefined;
    let store: SessionStore;
    let base: string;
    let issuer: string;
    let redis: string | undefined;

    before(async () => {
      const extra = await top();
      if (extra === undefined) return;
      redis = extra.redis as string | undefined;
      stack = await startStack({ auth: false, top: extra, gateway: { admin_listen: '127.0.0.1:0', admin_token: ADMIN_TOKEN } });
      store = stack.gateway.deps.sessions!;
      base = adminUrlOf(stack);
      issuer = stack.issuer;
    });
    after(async () => {
      await stack?.close();
    });

    it('the configured store is in use', (t) => {
      if (!stack) return t.skip(`${name} not available`);
      assert.ok(store, 'GatewayDeps.sessions is set');
      assert.equal((store as unknown as { kind: string }).kind, name);
    });

    it('GET /sessions?user= lists a user\'s sessions newest first, without tokens; GET /sessions/{id} shows one', async (t) => {
      if (!stack) return t.skip(`${name} not available`);
      const sub = `alice-${randomBytes(4).toString('hex')}`;
      const older = session(issuer, sub, { created_at: Math.floor(Date.now() / 1000) - 60, idp_sid: 'sso-1' });
      const newer = session(issuer, sub);
      await store.insert(older);
      await store.insert(newer);
      await store.insert(session(issuer, `${sub}-other`));
      const list = await admin(base, 'GET', `/sessions?user=${encodeURIComponent(sub)}`);
      assert.equal(list.status, 200);
      assert.deepEqual(list.json.data.map((s: { id: string }) => s.id), [newer.id, older.id]);
      assert.equal(list.json.next, null);
      assert.deepEqual(Object.keys(list.json.data[1]).sort(), ['client_id', 'created_at', 'expires_at', 'id', 'idp_sid', 'issuer', 'last_seen_at', 'scope', 'sub']);
      assert.equal(list.json.data[1].idp_sid, 'sso-1');
      assert.ok(!list.text.includes('never-shown') && !list.text.includes(older.tokens), 'no tokens, sealed or not');
      const one = await admin(base, 'GET', `/sessions/${newer.id}`);
      assert.equal(one.status, 200);
      assert.equal(one.json.sub, sub);
      assert.equal(one.json.tokens, undefined);
      assert.equal((await admin(base, 'GET', '/sessions/unknown-id')).status, 404);
    });

    it('DELETE /sessions/{id} ends one session; DELETE /sessions?user= ends all of them', async (t) => {
      if (!stack) return t.skip(`${name} not available`);
      const sub = `bob-${randomBytes(4).toString('hex')}`;
      const [s1, s2, s3] = [session(issuer, sub), session(issuer, sub), session(issuer, sub)];
      const other = session(issuer, `${sub}-other`);
      for (const s of [s1!, s2!, s3!, other]) await store.insert(s);
      const del = await admin(base, 'DELETE', `/sessions/${s1!.id}`);
      assert.equal(del.status, 204);
      assert.equal(await store.get(s1!.id), undefined);
      assert.equal((await admin(base, 'DELETE', `/sessions/${s1!.id}`)).status, 404);
      const all = await admin(base, 'DELETE', `/sessions?user=${sub}`);
      assert.equal(all.status, 200);
      assert.deepEqual([...all.json.ended].sort(), [s2!.id, s3!.id].sort());
      assert.deepEqual((await admin(base, 'GET', `/sessions?user=${sub}`)).json.data, []);
      assert.ok(await store.get(other.id), 'another user keeps theirs');
    });

    it('user= takes a username (resolved to the user\'s id, as the CLI does), sub= the subject; user= naming no user is still a subject', async (t) => {
      if (!stack) return t.skip(`${name} not available`);
      const now = Math.floor(Date.now() / 1000);
      const username = `carol-${randomBytes(4).toString('hex')}`;
      const carol = await stack.running.storage.users.upsert({
        id: `id-${randomBytes(8).toString('hex')}`, username, password_hash: null, claims: {}, locked: false, source: 'cli', created_at: now, updated_at: now,
      });
      assert.notEqual(carol.id, username);
      const mine = [session(issuer, carol.id), session(issuer, carol.id)];
      // sessions of an external subject that happens to equal the username
      const namesake = session(issuer, username);
      for (const s of [...mine, namesake]) await store.insert(s);
      const ids = (r: { json: Record<string, any> }) => r.json.data.map((s: { id: string }) => s.id).sort();

      const byName = await admin(base, 'GET', `/sessions?user=${encodeURIComponent(username)}`);
      assert.equal(byName.status, 200);
      assert.deepEqual(ids(byName), mine.map((s) => s.id).sort(), 'the username resolves to the user, not to the namesake subject');
      assert.deepEqual(ids(await admin(base, 'GET', `/sessions?sub=${encodeURIComponent(carol.id)}`)), mine.map((s) => s.id).sort());
      assert.deepEqual(ids(await admin(base, 'GET', `/sessions?sub=${encodeURIComponent(username)}`)), [namesake.id], 'sub= is never a username');
      // backward compatible: user= with a value that names no user is read as the subject
      assert.deepEqual(ids(await admin(base, 'GET', `/sessions?user=${encodeURIComponent(carol.id)}`)), mine.map((s) => s.id).sort());
      assert.deepEqual((await admin(base, 'GET', '/sessions?user=nobody-at-all')).json.data, []);

      const both = await admin(base, 'GET', `/sessions?user=${username}&sub=${carol.id}`);
      assert.equal(both.status, 400);
      assert.equal(both.json.error, 'invalid_request');
      assert.ok(both.json.fields.sub);
      const long = await admin(base, 'GET', `/sessions?sub=${'x'.repeat(513)}`);
      assert.equal(long.status, 400);
      assert.ok(long.json.fields.sub);
      for (const bad of ['/sessions?user=a%00b', '/sessions?sub=%0A']) {
        const r = await admin(base, 'GET', bad);
        assert.equal(r.status, 400, bad);
        assert.equal(r.json.error, 'invalid_request', bad);
      }

      const ended = await admin(base, 'DELETE', `/sessions?user=${encodeURIComponent(username)}`);
      assert.equal(ended.status, 200);
      assert.deepEqual([...ended.json.ended].sort(), mine.map((s) => s.id).sort());
      assert.ok(await store.get(namesake.id), 'the namesake subject keeps its session');
      const endedBySub = await admin(base, 'DELETE', `/sessions?sub=${encodeURIComponent(username)}`);
      assert.deepEqual(endedBySub.json.ended, [namesake.id]);
    });

    it('refuses a missing user, other methods and no token', async (t) => {
      if (!stack) return t.skip(`${name} not available`);
      const missing = await admin(base, 'GET', '/sessions');
      assert.equal(missing.status, 400);
      assert.equal(missing.json.error, 'invalid_request');
      assert.ok(missing.json.fields.user);
      for (const empty of ['/sessions?user=', '/sessions?sub=', '/sessions?user=&sub=']) {
        const r = await admin(base, 'GET', empty);
        assert.equal(r.status, 400, empty);
        assert.ok(r.json.fields.user, empty);
      }
      const post = await admin(base, 'POST', '/sessions?user=x', {});
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, DELETE');
      assert.equal((await admin(base, 'PATCH', '/sessions/abc')).status, 405);
      assert.equal((await admin(base, 'GET', '/sessions?user=x', undefined, { token: null })).status, 401);
      assert.equal((await admin(base, 'GET', '/sessions/a/b')).status, 404);
    });

    it('user.revoked ends every session of the user; session.revoked ends those of that SSO session', async (t) => {
      if (!stack) return t.skip(`${name} not available`);
      const sub = `carol-${randomBytes(4).toString('hex')}`;
      const sso = `sso-${randomBytes(4).toString('hex')}`;
      const inSso = session(issuer, sub, { idp_sid: sso });
      const otherProvider = session('https://elsewhere.example.test', `${sub}-x`, { idp_sid: sso });
      const plain = session(issuer, `${sub}-2`);
      const plain2 = session(issuer, `${sub}-2`);
      for (const s of [inSso, otherProvider, plain, plain2]) await store.insert(s);
      // from another process when there is Redis (as `drawbridge session revoke` does), else in-process
      const publish = async (event: GatewayEvent) => {
        if (redis) assert.equal(await publishOnce(redis, event), true);
        else await stack!.gateway.deps.events.publish(event);
      };
      await publish({ type: 'session.revoked', sid: sso });
      await within(2000, async () => (await store.get(inSso.id)) === undefined, 'the session ended');
      assert.ok(await store.get(otherProvider.id), 'the same sid at another provider is another session');
      assert.ok(await store.get(plain.id));
      await publish({ type: 'user.revoked', sub: `${sub}-2` });
      await within(2000, async () => (await store.listByUser(`${sub}-2`)).length === 0, 'the sessions ended');
      assert.ok(await store.get(otherProvider.id));
    });
  });
}
