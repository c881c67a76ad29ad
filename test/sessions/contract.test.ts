// The SessionStore contract (src/sessions/types.ts), run on every store: Redis, SQLite file,
// PostgreSQL and memory:. Two instances of the same store (two Redis connections, two
// connections to one SQLite file, two PostgreSQL pools) prove the lock is shared, not
// per-process. Tokens are sealed at rest: the raw stored value never contains them.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { Clock } from '../../src/core/clock.js';
import { sessionIdOf, newSessionCookieValue } from '../../src/sessions/cookie.js';
import { RedisSessionStore } from '../../src/sessions/redis-store.js';
import { SqlSessionStore } from '../../src/sessions/sql-store.js';
import { sealTokens, sessionTokensKey, unsealTokens } from '../../src/sessions/tokens.js';
import type { GatewaySession, SessionStore } from '../../src/sessions/types.js';
import { openStorage, sqlHandleOf } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { freshPostgresSchema, postgresUrl, redisUrl } from '../helpers/services.js';

const ISSUER = 'https://idp.example.test';
const KEY = sessionTokensKey('contract-test-secret-that-is-long-enough-0123');

/** The wall clock plus an offset the test can move forward (Redis keeps real TTLs). */
function movableClock(): Clock & { advance(s: number): void; reset(): void } {
  let offset = 0;
  return {
    now: () => Math.floor(Date.now() / 1000) + offset,
    advance: (s) => {
      offset += s;
    },
    reset: () => {
      offset = 0;
    },
  };
}

interface Backend {
  /** two instances of the store over separate connections */
  a: SessionStore;
  b: SessionStore;
  clock: ReturnType<typeof movableClock>;
  /** everything stored for one session, as the store holds it */
  raw(id: string): Promise<string>;
  close(): Promise<void>;
}

type Opener = () => Promise<Backend | undefined>;

const openers: Record<string, Opener> = {
  async redis() {
    const url = await redisUrl();
    if (!url) return undefined;
    const clock = movableClock();
    const prefix = `test:gws:${randomBytes(6).toString('hex')}:`;
    const a = new RedisSessionStore({ redis: url, clock, prefix });
    const b = new RedisSessionStore({ redis: url, clock, prefix });
    await a.ready();
    await b.ready();
    const raw = new Redis(url);
    return {
      a,
      b,
      clock,
      raw: async (id) => JSON.stringify(await raw.hgetall(a.sessionKey(id))),
      async close() {
        const keys = await raw.keys(`${prefix}*`);
        if (keys.length > 0) await raw.del(...keys);
        raw.disconnect();
        await a.close();
        await b.close();
      },
    };
  },
  async sqlite() {
    const dir = mkdtempSync(join(tmpdir(), 'gws-'));
    const file = join(dir, 'db.sqlite');
    const s1 = await openStorage(`sqlite:${file}`);
    const s2 = await openStorage(`sqlite:${file}`);
    return sqlBackend(s1, s2, async () => rmSync(dir, { recursive: true, force: true }));
  },
  async postgres() {
    const base = await postgresUrl();
    if (!base) return undefined;
    const schema = await freshPostgresSchema(base);
    const s1 = await openStorage(schema.url, { autoMigrate: true });
    const s2 = await openStorage(schema.url);
    return sqlBackend(s1, s2, () => schema.drop());
  },
  async memory() {
    const s = await openStorage('memory:');
    return sqlBackend(s, s, async () => undefined);
  },
};

function sqlBackend(s1: Storage, s2: Storage, cleanup: () => Promise<void>): Backend {
  const clock = movableClock();
  return {
    a: new SqlSessionStore(s1, { clock }),
    b: new SqlSessionStore(s2, { clock }),
    clock,
    async raw(id) {
      const db = sqlHandleOf(s1)!.db.withTables<{ gateway_sessions: Record<string, unknown> }>();
      const row = await db.selectFrom('gateway_sessions').selectAll().where('id', '=', id).executeTakeFirst();
      return JSON.stringify(row ?? null);
    },
    async close() {
      await s1.close();
      if (s2 !== s1) await s2.close();
      await cleanup();
    },
  };
}

let counter = 0;

function session(clock: Clock, fields: Partial<GatewaySession> = {}): GatewaySession {
  const id = fields.id ?? sessionIdOf(newSessionCookieValue());
  const now = clock.now();
  counter++;
  return {
    id,
    sub: 'user-1',
    issuer: ISSUER,
    client_id: 'gateway',
    idp_sid: null,
    claims: { preferred_username: 'alice', groups: [], empty: {} },
    scope: ['openid', 'profile'],
    tokens: sealTokens(KEY, id, { access_token: `at-${counter}-secret`, refresh_token: `rt-${counter}-secret`, expires_at: now + 300 }),
    access_expires_at: now + 300,
    created_at: now,
    last_seen_at: now,
    expires_at: now + 3600,
    ...fields,
  };
}

for (const [name, open] of Object.entries(openers)) {
  describe(`SessionStore contract: ${name}`, () => {
    let be: Backend | undefined;
    let skip = false;

    before(async () => {
      be = await open();
      skip = be === undefined;
    });
    after(async () => {
      await be?.close();
    });

    /** the backend, or a skip when its service is absent (a loud line was printed) */
    function backend(t: { skip(msg: string): void }): Backend | undefined {
      if (skip) t.skip(`${name} not available`);
      be?.clock.reset();
      return be;
    }

    it('insert then get returns the session as stored, from either instance', async (t) => {
      const be = backend(t);
      if (!be) return;
      const s = session(be.clock, { sub: `u-${randomBytes(4).toString('hex')}`, idp_sid: 'sid-1' });
      await be.a.insert(s);
      assert.deepEqual(await be.a.get(s.id), s);
      assert.deepEqual(await be.b.get(s.id), s);
      assert.equal(await be.a.get('no-such-id'), undefined);
    });

    it('updateTokens replaces the tokens and access expiry; touch moves last_seen_at forward only', async (t) => {
      const be = backend(t);
      if (!be) return;
      const s = session(be.clock);
      await be.a.insert(s);
      const sealed = sealTokens(KEY, s.id, { access_token: 'new-at', expires_at: s.created_at + 900 });
      assert.equal(await be.b.updateTokens(s.id, sealed, s.created_at + 900, s.created_at + 5), true);
      let got = await be.a.get(s.id);
      assert.equal(got?.tokens, sealed);
      assert.equal(got?.access_expires_at, s.created_at + 900);
      assert.equal(got?.last_seen_at, s.created_at + 5);
      assert.equal(unsealTokens(KEY, s.id, got!.tokens).access_token, 'new-at');

      assert.equal(await be.a.touch(s.id, s.created_at + 20), true);
      assert.equal(await be.a.touch(s.id, s.created_at + 10), true); // an older request finishing late
      got = await be.b.get(s.id);
      assert.equal(got?.last_seen_at, s.created_at + 20);
      assert.deepEqual(got?.claims, s.claims);
      assert.deepEqual(got?.scope, s.scope);
    });

    it('delete ends a session once; a deleted session is never resurrected by updateTokens or touch', async (t) => {
      const be = backend(t);
      if (!be) return;
      const s = session(be.clock);
      await be.a.insert(s);
      assert.equal(await be.b.delete(s.id), true);
      assert.equal(await be.a.delete(s.id), false);
      assert.equal(await be.a.updateTokens(s.id, s.tokens, s.access_expires_at, be.clock.now()), false);
      assert.equal(await be.a.touch(s.id, be.clock.now()), false);
      assert.equal(await be.a.get(s.id), undefined);
      assert.equal(await be.raw(s.id).then((r: string) => r === 'null' || r === '{}'), true, 'nothing stored after the failed updates');
      assert.equal(await be.a.updateTokens('never-existed', s.tokens, 1, 1), false);
      assert.equal(await be.a.touch('never-existed', 1), false);
    });

    it('the absolute timeout is the store\'s: past expires_at the session is gone; idle is left to the caller', async (t) => {
      const be = backend(t);
      if (!be) return;
      const sub = `u-${randomBytes(4).toString('hex')}`;
      const now = be.clock.now();
      // idle for an hour but within its absolute lifetime: still returned
      const idle = session(be.clock, { sub, created_at: now - 7200, last_seen_at: now - 3600, expires_at: now + 600 });
      const ending = session(be.clock, { sub, expires_at: now + 60 });
      await be.a.insert(idle);
      await be.a.insert(ending);
      assert.equal((await be.a.get(idle.id))?.last_seen_at, now - 3600);
      assert.equal((await be.a.listByUser(sub)).length, 2);
      be.clock.advance(120);
      assert.equal(await be.a.get(ending.id), undefined);
      assert.equal(await be.a.touch(ending.id, be.clock.now()), false, 'an expired session is not touched');
      assert.equal(await be.a.updateTokens(ending.id, ending.tokens, 1, be.clock.now()), false, 'nor refreshed');
      assert.deepEqual((await be.a.listByUser(sub)).map((x) => x.id), [idle.id]);
      assert.ok((await be.a.get(idle.id)) !== undefined);
      // housekeeping (SQL; Redis expires keys by itself and reports 0)
      const removed = await be.a.deleteExpired(be.clock.now());
      assert.equal(removed, name === 'redis' ? 0 : 1);
      assert.equal(await be.a.get(ending.id), undefined);
    });

    it('listByUser is newest first and only that user\'s live sessions', async (t) => {
      const be = backend(t);
      if (!be) return;
      const sub = `u-${randomBytes(4).toString('hex')}`;
      const now = be.clock.now();
      const s1 = session(be.clock, { sub, created_at: now - 30 });
      const s2 = session(be.clock, { sub, created_at: now - 10 });
      const s3 = session(be.clock, { sub, created_at: now - 20 });
      const other = session(be.clock, { sub: `${sub}-other` });
      for (const s of [s1, s2, s3, other]) await be.a.insert(s);
      assert.deepEqual((await be.b.listByUser(sub)).map((x) => x.id), [s2.id, s3.id, s1.id]);
      assert.deepEqual(await be.b.listByUser('nobody'), []);
      await be.a.delete(s3.id);
      assert.deepEqual((await be.b.listByUser(sub)).map((x) => x.id), [s2.id, s1.id]);
    });

    it('deleteByUser ends every session of one user and names them; other users keep theirs', async (t) => {
      const be = backend(t);
      if (!be) return;
      const sub = `u-${randomBytes(4).toString('hex')}`;
      const mine = [session(be.clock, { sub }), session(be.clock, { sub, idp_sid: 'sid-x' }), session(be.clock, { sub })];
      const theirs = session(be.clock, { sub: `${sub}-other` });
      for (const s of [...mine, theirs]) await be.a.insert(s);
      const ended = await be.b.deleteByUser(sub);
      assert.deepEqual([...ended].sort(), mine.map((s) => s.id).sort());
      for (const s of mine) assert.equal(await be.a.get(s.id), undefined);
      assert.deepEqual(await be.a.listByUser(sub), []);
      assert.deepEqual(await be.a.deleteByUser(sub), []);
      assert.ok(await be.a.get(theirs.id));
      // the back-channel index no longer names the ended session
      assert.deepEqual(await be.a.deleteByIdpSid(ISSUER, 'sid-x'), []);
    });

    it('deleteByIdpSid ends the sessions of one provider session only (issuer and sid both match)', async (t) => {
      const be = backend(t);
      if (!be) return;
      const sid = `sid-${randomBytes(4).toString('hex')}`;
      const sub = `u-${randomBytes(4).toString('hex')}`;
      const hit1 = session(be.clock, { sub, idp_sid: sid });
      const hit2 = session(be.clock, { sub: `${sub}-2`, idp_sid: sid });
      const otherIssuer = session(be.clock, { sub, idp_sid: sid, issuer: 'https://other.example.test' });
      const otherSid = session(be.clock, { sub, idp_sid: `${sid}-b` });
      const noSid = session(be.clock, { sub });
      for (const s of [hit1, hit2, otherIssuer, otherSid, noSid]) await be.a.insert(s);
      const ended = await be.b.deleteByIdpSid(ISSUER, sid);
      assert.deepEqual([...ended].sort(), [hit1.id, hit2.id].sort());
      assert.equal(await be.a.get(hit1.id), undefined);
      assert.equal(await be.a.get(hit2.id), undefined);
      for (const s of [otherIssuer, otherSid, noSid]) assert.ok(await be.a.get(s.id), 'untouched');
      // the user index forgot the ended session too
      assert.deepEqual((await be.a.listByUser(sub)).map((x) => x.id).sort(), [otherIssuer.id, otherSid.id, noSid.id].sort());
    });

    it('withLock: 20 parallel callers over two instances run one at a time', async (t) => {
      const be = backend(t);
      if (!be) return;
      const id = sessionIdOf(newSessionCookieValue());
      let active = 0;
      let most = 0;
      let ran = 0;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? be.a : be.b).withLock(id, { ttlMs: 5000, waitMs: 15_000 }, async () => {
            active++;
            most = Math.max(most, active);
            await sleep(3);
            ran++;
            active--;
            return i;
          }),
        ),
      );
      assert.equal(most, 1, 'never two holders at once');
      assert.equal(ran, 20);
      assert.deepEqual([...results].sort((x, y) => x! - y!), Array.from({ length: 20 }, (_, i) => i));
    });

    it('withLock: a waiter gives up after waitMs; the lock is released when fn throws', async (t) => {
      const be = backend(t);
      if (!be) return;
      const id = sessionIdOf(newSessionCookieValue());
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      const holder = be.a.withLock(id, { ttlMs: 10_000, waitMs: 0 }, async () => {
        entered();
        await held;
        return 'held';
      });
      await inside;
      const started = Date.now();
      assert.equal(await be.b.withLock(id, { ttlMs: 1000, waitMs: 150 }, async () => 'should not run'), undefined);
      assert.ok(Date.now() - started >= 140, 'waited about waitMs');
      release();
      assert.equal(await holder, 'held');
      // released on success: the next taker gets it at once
      await assert.rejects(be.b.withLock(id, { ttlMs: 1000, waitMs: 0 }, async () => Promise.reject(new Error('boom'))), /boom/);
      // released on failure too
      assert.equal(await be.a.withLock(id, { ttlMs: 1000, waitMs: 0 }, async () => 'again'), 'again');
    });

    it('withLock: an abandoned lock expires after ttlMs, and its late holder cannot release the new one', async (t) => {
      const be = backend(t);
      if (!be) return;
      const id = sessionIdOf(newSessionCookieValue());
      let finishCrashed!: () => void;
      const crashedDone = new Promise<void>((r) => (finishCrashed = r));
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      // a holder that stops making progress (a crashed process keeps its lock just like this)
      const crashed = be.a.withLock(id, { ttlMs: 300, waitMs: 0 }, async () => {
        entered();
        await crashedDone;
      });
      await inside;
      const started = Date.now();
      let finishSecond!: () => void;
      const secondDone = new Promise<void>((r) => (finishSecond = r));
      let secondIn!: () => void;
      const secondInside = new Promise<void>((r) => (secondIn = r));
      const second = be.b.withLock(id, { ttlMs: 10_000, waitMs: 5000 }, async () => {
        secondIn();
        await secondDone;
      });
      await secondInside;
      const waited = Date.now() - started;
      assert.ok(waited >= 250 && waited < 3000, `took over after the ttl (${waited} ms)`);
      // the stale holder finishes: its release must not free the second holder's lock
      finishCrashed();
      await crashed;
      assert.equal(await be.a.withLock(id, { ttlMs: 1000, waitMs: 50 }, async () => 'stolen'), undefined);
      finishSecond();
      await second;
      assert.equal(await be.a.withLock(id, { ttlMs: 1000, waitMs: 0 }, async () => 'free'), 'free');
    });

    it('tokens are sealed at rest: the stored value contains no token, and opens only for its own session', async (t) => {
      const be = backend(t);
      if (!be) return;
      const s = session(be.clock);
      s.tokens = sealTokens(KEY, s.id, { access_token: 'AT-plain-visible', refresh_token: 'RT-plain-visible', id_token: 'IDT-plain-visible', expires_at: 1 });
      await be.a.insert(s);
      const raw = await be.raw(s.id);
      assert.ok(raw.includes(s.id) || raw.includes('user-1'), 'read the stored record');
      for (const secret of ['AT-plain', 'RT-plain', 'IDT-plain']) assert.ok(!raw.includes(secret), `${secret} not stored in clear`);
      const got = await be.b.get(s.id);
      assert.equal(unsealTokens(KEY, s.id, got!.tokens).refresh_token, 'RT-plain-visible');
      assert.throws(() => unsealTokens(KEY, 'another-session-id', got!.tokens));
      assert.throws(() => unsealTokens(sessionTokensKey('another-secret-another-secret-0123456'), s.id, got!.tokens));
    });

    it('ping answers', async (t) => {
      const be = backend(t);
      if (!be) return;
      await be.a.ping();
      await be.b.ping();
    });
  });
}

describe('Redis session store: keys expire at the absolute timeout by themselves', () => {
  it('the session key is gone from Redis shortly after expires_at', async (t) => {
    const url = await redisUrl();
    if (!url) return t.skip('Redis not available');
    const prefix = `test:gws:${randomBytes(6).toString('hex')}:`;
    const store = new RedisSessionStore({ redis: url, prefix });
    const raw = new Redis(url);
    try {
      await store.ready();
      const now = Math.floor(Date.now() / 1000);
      const s = session({ now: () => now }, { expires_at: now + 1 });
      await store.insert(s);
      assert.equal(await raw.exists(store.sessionKey(s.id)), 1);
      const ttl = await raw.pttl(`${prefix}u:${s.sub}`);
      assert.ok(ttl > 0 && ttl <= 2000, `the user index expires with it (pttl ${ttl})`);
      const until = Date.now() + 4000;
      while ((await raw.exists(store.sessionKey(s.id))) === 1 && Date.now() < until) await sleep(100);
      assert.equal(await raw.exists(store.sessionKey(s.id)), 0);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });
});
