// Login brute-force protection: delays that grow with failures, a temporary lockout per
// username and per IP, unknown usernames treated exactly like known ones, locked accounts
// failing like wrong passwords, parallel guesses bounded, and the counters shared between
// instances through Redis.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { memoryCounter, redisCounter } from '../../src/cache/counter.js';
import { defaultBruteForce } from '../../src/config/schema.js';
import type { BruteForceConfig } from '../../src/config/types.js';
import type { AuthContext } from '../../src/auth/context.js';
import { BruteForceGuard, ipBucket } from '../../src/auth/users/brute-force.js';
import { verifyLogin } from '../../src/auth/users/verify-login.js';
import { startAuth, type TestServer } from '../helpers/auth-server.js';
import { redisUrl } from '../helpers/services.js';

const SETTINGS: BruteForceConfig = {
  enabled: true,
  max_failures: 5,
  max_failures_per_ip: 20,
  window: 3600,
  lockout: 900,
  delay_after: 2,
  delay: 1,
  max_delay: 4,
};

function clockedGuard(settings: Partial<BruteForceConfig> = {}) {
  let nowMs = 1_700_000_000_000;
  const slept: number[] = [];
  const guard = new BruteForceGuard(memoryCounter(() => nowMs), { ...SETTINGS, ...settings }, {
    sleep: async (ms) => {
      slept.push(ms);
    },
  });
  return { guard, slept, advance: (seconds: number) => (nowMs += seconds * 1000) };
}

describe('defaults', () => {
  it('are documented in the schema and filled when the section is given', () => {
    assert.deepEqual(defaultBruteForce(), {
      enabled: true,
      max_failures: 10,
      max_failures_per_ip: 100,
      window: 3600,
      lockout: 900,
      delay_after: 3,
      delay: 1,
      max_delay: 10,
    });
  });
});

describe('BruteForceGuard', () => {
  it('delays grow with each failure after delay_after, up to max_delay; then a lockout', async () => {
    const { guard } = clockedGuard();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      delays.push((await guard.checkLogin('alice', '10.0.0.1')).delayMs);
      assert.equal((await guard.recordFailure('alice', '10.0.0.1')).allowed, true);
    }
    delays.push((await guard.checkLogin('alice', '10.0.0.1')).delayMs);
    assert.deepEqual(delays, [0, 0, 1000, 2000, 4000]);
    assert.equal(guard.delayFor(10, 0), 4000, 'capped at max_delay');
    // the fifth failure locks the username
    const locked = await guard.recordFailure('alice', '10.0.0.1');
    assert.deepEqual(locked, { allowed: false, retryAfter: 900, delayMs: 0 });
    const check = await guard.checkLogin('alice', '10.0.0.2');
    assert.equal(check.allowed, false, 'from any IP');
    assert.equal(check.retryAfter, 900);
    assert.equal((await guard.checkLogin('bob', '10.0.0.1')).allowed, true, 'other usernames from the same IP are not locked');
  });

  it('a lockout ends after `lockout` and counting starts over', async () => {
    const { guard, advance } = clockedGuard();
    for (let i = 0; i < 5; i++) await guard.recordFailure('alice', '10.0.0.1');
    advance(600);
    assert.deepEqual(await guard.checkLogin('alice', '10.0.0.1'), { allowed: false, retryAfter: 300, delayMs: 0 });
    advance(301);
    assert.deepEqual(await guard.checkLogin('alice', '10.0.0.1'), { allowed: true, retryAfter: 0, delayMs: 0 });
  });

  it('failures are forgotten after the window, and a success clears them', async () => {
    const { guard, advance } = clockedGuard();
    for (let i = 0; i < 4; i++) await guard.recordFailure('alice', '10.0.0.1');
    assert.equal((await guard.checkLogin('alice', '10.0.0.9')).delayMs, 4000);
    await guard.recordSuccess('alice', '10.0.0.9');
    assert.equal((await guard.checkLogin('alice', '10.0.0.9')).delayMs, 0);
    for (let i = 0; i < 4; i++) await guard.recordFailure('alice', '10.0.0.1');
    advance(3601);
    assert.equal((await guard.checkLogin('alice', '10.0.0.9')).delayMs, 0);
  });

  it('counts per IP across usernames (password spraying) and locks the IP', async () => {
    const { guard } = clockedGuard();
    let last;
    for (let i = 0; i < 20; i++) last = await guard.recordFailure(`user${i}`, '192.0.2.7');
    assert.deepEqual(last, { allowed: false, retryAfter: 900, delayMs: 0 });
    assert.equal((await guard.checkLogin('someone-else', '192.0.2.7')).allowed, false);
    assert.equal((await guard.checkLogin('someone-else', '192.0.2.8')).allowed, true, 'other IPs are fine');
    // delays from the IP count grow at the same relative pace (20 per IP ~ 5 per user)
    const { guard: g2 } = clockedGuard();
    for (let i = 0; i < 12; i++) await g2.recordFailure(`u${i}`, '192.0.2.9');
    assert.equal((await g2.checkLogin('fresh', '192.0.2.9')).delayMs, 2000);
  });

  it('counts usernames case-insensitively and IPv6 addresses per /64', async () => {
    const { guard } = clockedGuard();
    for (const name of ['Alice', 'ALICE', 'alice', 'aLiCe', 'alicE']) await guard.recordFailure(name, '2001:db8::1');
    assert.equal((await guard.checkLogin('alice', '2001:db8::2')).allowed, false);
    assert.equal(ipBucket('2001:db8:0:0:1:2:3:4'), '2001:db8:0:0::/64');
    assert.equal(ipBucket('2001:0db8::1'), '2001:db8:0:0::/64');
    assert.equal(ipBucket('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(ipBucket('10.1.2.3'), '10.1.2.3');
  });

  it('begin() counts up front: parallel attempts cannot exceed max_failures', async () => {
    const { guard } = clockedGuard();
    const attempts = await Promise.all(Array.from({ length: 12 }, () => guard.begin('alice', '10.0.0.1')));
    assert.equal(attempts.filter((a) => a.allowed).length, 5);
    await Promise.all(attempts.filter((a) => a.allowed).map((a) => a.failed()));
    assert.equal((await guard.checkLogin('alice', '10.0.0.1')).allowed, false);
  });

  it('a success within the budget clears the lockout started by parallel failures', async () => {
    const { guard } = clockedGuard();
    const attempts = await Promise.all(Array.from({ length: 5 }, () => guard.begin('alice', '10.0.0.1')));
    await Promise.all(attempts.slice(1).map((a) => a.failed()));
    await attempts[0]!.succeeded();
    assert.equal((await guard.checkLogin('alice', '10.0.0.1')).allowed, true);
  });

  it('enabled: false never delays nor locks', async () => {
    const { guard } = clockedGuard({ enabled: false });
    for (let i = 0; i < 50; i++) await guard.recordFailure('alice', '10.0.0.1');
    assert.deepEqual(await guard.checkLogin('alice', '10.0.0.1'), { allowed: true, retryAfter: 0, delayMs: 0 });
  });
});

describe('verifyLogin', () => {
  let server: TestServer;
  let ctx: AuthContext;
  before(async () => {
    server = await startAuth({
      users: [
        { username: 'alice', password: 'alice-long-password' },
        { username: 'locked-user', password: 'locked-long-password' },
        { username: 'no-password' },
      ],
      brute_force: { max_failures: 3, delay: 0 },
    });
    ctx = server.running.auth!.ctx;
    await ctx.storage.users.setLocked('locked-user', true, ctx.clock.now());
  });
  after(async () => {
    await server?.close();
  });

  it('returns the user for the right password', async () => {
    const result = await verifyLogin(ctx, 'alice', 'alice-long-password', '198.51.100.1');
    assert.equal(result.user?.username, 'alice');
    assert.equal(result.allowed, true);
  });

  it('answers a wrong password, an unknown username, a locked account and an account without password alike', async () => {
    const answers = [
      await verifyLogin(ctx, 'alice', 'wrong-password-123', '198.51.100.2'),
      await verifyLogin(ctx, 'nobody-by-this-name', 'wrong-password-123', '198.51.100.3'),
      await verifyLogin(ctx, 'locked-user', 'locked-long-password', '198.51.100.4'),
      await verifyLogin(ctx, 'no-password', '', '198.51.100.5'),
    ];
    for (const a of answers) assert.deepEqual(a, { allowed: true, retryAfter: 0, delayMs: 0 });
    await verifyLogin(ctx, 'alice', 'alice-long-password', '198.51.100.2'); // clears alice's failure
  });

  it('takes about as long for an unknown username as for a wrong password (a real argon2 verification)', async () => {
    const time = async (username: string) => {
      const started = process.hrtime.bigint();
      await verifyLogin(ctx, username, 'wrong-password-123', '198.51.100.6');
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 6; i++) {
      known.push(await time(`alice`));
      unknown.push(await time(`ghost-${i}`));
      await verifyLogin(ctx, 'alice', 'alice-long-password', '198.51.100.7');
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const [k, u] = [median(known), median(unknown)];
    assert.ok(u > k * 0.5 && u < k * 2, `unknown ${u.toFixed(1)} ms vs known ${k.toFixed(1)} ms`);
  });

  it('locks out after max_failures, for unknown usernames just the same', async () => {
    for (const username of ['alice', 'ghost-user']) {
      for (let i = 0; i < 2; i++) assert.equal((await verifyLogin(ctx, username, 'wrong', '203.0.113.1')).allowed, true);
      const third = await verifyLogin(ctx, username, 'wrong', '203.0.113.1');
      assert.deepEqual(third, { allowed: false, retryAfter: 900, delayMs: 0 }, username);
      const refused = await verifyLogin(ctx, username, username === 'alice' ? 'alice-long-password' : 'x', '203.0.113.2');
      assert.equal(refused.allowed, false, `${username}: even the right password waits`);
      assert.equal(refused.user, undefined);
      assert.ok(refused.retryAfter > 0 && refused.retryAfter <= 900);
    }
  });

  it('holds the answer back by the growing delay', async () => {
    const slept: number[] = [];
    const guard = new BruteForceGuard(memoryCounter(), { ...SETTINGS, delay_after: 1 }, { sleep: async (ms) => void slept.push(ms) });
    for (let i = 0; i < 3; i++) await verifyLogin(ctx, 'delayed', 'wrong', '203.0.113.9', guard);
    assert.deepEqual(slept, [0, 1000, 2000]);
  });

  it('re-hashes an outdated hash of a CLI user at a successful login', async () => {
    const { hashSync } = await import('@node-rs/argon2');
    const now = ctx.clock.now();
    const weak = hashSync('cli-user-long-password', { algorithm: 2, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    await ctx.storage.users.upsert({
      id: 'cli-rehash',
      username: 'cli-rehash',
      password_hash: weak,
      claims: {},
      locked: false,
      source: 'cli',
      created_at: now,
      updated_at: now,
    });
    assert.ok((await verifyLogin(ctx, 'cli-rehash', 'cli-user-long-password', '203.0.113.20')).user);
    const stored = (await ctx.storage.users.getByUsername('cli-rehash'))!.password_hash!;
    assert.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.ok((await verifyLogin(ctx, 'cli-rehash', 'cli-user-long-password', '203.0.113.20')).user);
  });
});

describe('BruteForceGuard on Redis (shared by instances)', async () => {
  const url = await redisUrl();
  let redis: Redis;
  before(() => {
    if (url) redis = new Redis(url);
  });
  after(async () => {
    await redis?.quit();
  });

  it('a lockout reached through one instance holds on the other', { skip: !url && 'Redis not reachable (see the SKIPPED line)' }, async () => {
    const prefix = `test:bf:${randomBytes(4).toString('hex')}:`;
    const settings = { ...SETTINGS, delay: 0, lockout: 2 };
    const a = new BruteForceGuard(redisCounter(redis, prefix), settings);
    const b = new BruteForceGuard(redisCounter(redis, prefix), settings);
    try {
      for (let i = 0; i < 4; i++) await (i % 2 ? a : b).recordFailure('alice', '10.9.9.9');
      assert.equal((await a.checkLogin('alice', '10.9.9.9')).allowed, true);
      assert.equal((await b.recordFailure('alice', '10.9.9.9')).allowed, false);
      const check = await a.checkLogin('alice', '10.0.0.1');
      assert.equal(check.allowed, false);
      assert.ok(check.retryAfter >= 1 && check.retryAfter <= 2);
      // parallel attempts on both instances share one budget
      const attempts = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).begin('bob', '10.9.9.9')));
      assert.equal(attempts.filter((x) => x.allowed).length, 5);
      await new Promise((r) => setTimeout(r, 2100));
      assert.equal((await b.checkLogin('alice', '10.0.0.1')).allowed, true, 'the lockout expired in Redis');
      await a.recordSuccess('bob', '10.9.9.9');
      assert.equal((await b.checkLogin('bob', '10.0.0.1')).allowed, true);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  });
});
