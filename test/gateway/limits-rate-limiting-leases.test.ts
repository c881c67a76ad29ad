// Rate-limit leases (policy: redis) against real Redis: the script's reservations, and a
// limiter that spends them — far fewer round trips for a busy client, the same headers a
// request-by-request check gives, never more requests through than the limit across
// several limiters, refusals remembered until a request fits again, and leases that lapse
// at the window's end.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MAX_LEASE, leasedCounter } from '../../src/gateway/limits/leases.js';
import { createRateLimiter } from '../../src/gateway/limits/rate-limiting.js';
import { redisWindowStore, type RedisWindowStore } from '../../src/gateway/limits/redis-sliding-window.js';
import type { HitResult, RateWindow } from '../../src/gateway/limits/sliding-window.js';
import { silentLogger } from '../../src/observability/logger.js';
import { redisUrl } from '../helpers/services.js';
import { gatewayRequest, refusal, unique } from './limits-harness.js';

const PATH = 'gateway.services[0].plugins[1].config';
const MINUTE = 60_000;
const T0 = 28_000_000 * MINUTE;
const logger = silentLogger();

function clock(start: number): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** The real store, counting its round trips and what it was asked for. */
function counted(store: RedisWindowStore): RedisWindowStore & { calls: number; wants: number[] } {
  const wrapper = {
    calls: 0,
    wants: [] as number[],
    hit: store.hit,
    reserve(key: string, want: number) {
      wrapper.calls++;
      wrapper.wants.push(want);
      return store.reserve(key, want);
    },
  };
  return wrapper;
}

async function take(counter: { take(key: string): HitResult | Promise<HitResult> }, key: string): Promise<HitResult> {
  return counter.take(key);
}

describe('rate-limit leases (redis policy)', async () => {
  const url = await redisUrl();
  let redis: Redis;
  before(() => {
    if (url) redis = new Redis(url);
  });
  after(async () => {
    await redis?.quit();
  });

  it('the script grants up to `want`, at most an eighth of what fits, and counts them in every window', { skip: !url }, async () => {
    const windows: RateWindow[] = [
      { label: 'Second', ms: 1000, limit: 100 },
      { label: 'Minute', ms: MINUTE, limit: 400 },
    ];
    const time = clock(T0 + 10);
    const store = redisWindowStore(redis, windows, { now: time.now });
    const key = `drawbridge:rl:${unique('reserve')}:k`;
    const first = await store.reserve(key, 64);
    assert.equal(first.granted, 12); // 100 fit in the second: an eighth is 12
    assert.deepEqual(first.counts, [
      { prev: 0, curr: 12, elapsed: 10 },
      { prev: 0, curr: 12, elapsed: 10 },
    ]);
    assert.equal((await store.reserve(key, 5)).granted, 5);
    const fields = await redis.hgetall(key);
    assert.equal(fields['1000:c'], '17');
    assert.equal(fields['60000:c'], '17');
    // close to the limit every reservation is one request, then none
    let granted = 17;
    for (;;) {
      const r = await store.reserve(key, 64);
      if (r.granted === 0) break;
      assert.ok(r.granted <= Math.max(1, Math.floor((100 - granted) / 8)), `granted ${r.granted} with ${100 - granted} left`);
      granted += r.granted;
    }
    assert.equal(granted, 100);
    assert.equal((await store.reserve(key, 1)).granted, 0);
  });

  it('a busy client costs a round trip per lease, not per request, with request-by-request headers', { skip: !url }, async () => {
    const windows: RateWindow[] = [{ label: 'Minute', ms: MINUTE, limit: 100_000 }];
    const time = clock(T0 + 5);
    const store = counted(redisWindowStore(redis, windows, { now: time.now }));
    const counter = leasedCounter(store, windows, { now: time.now });
    const key = `drawbridge:rl:${unique('busy')}:k`;
    for (let i = 1; i <= 1000; i++) {
      const r = await take(counter, key);
      assert.equal(r.allowed, true);
      assert.equal(r.counts[0]!.curr, i, `request ${i} is counted as the ${i}th`);
      if (i % 10 === 0) time.advance(1);
    }
    assert.ok(store.calls < 40, `${store.calls} round trips for 1000 requests`);
    assert.equal(Math.max(...store.wants), MAX_LEASE);
    assert.deepEqual(store.wants.slice(0, 7), [1, 2, 4, 8, 16, 32, 64]);
    // Redis counted no more than it handed out: the requests taken plus what is left over
    // (at most the unspent half of a lease and the refill reserved ahead of it)
    const inRedis = Number((await redis.hgetall(key))['60000:c']);
    assert.ok(inRedis >= 1000 && inRedis < 1000 + MAX_LEASE + MAX_LEASE / 2, `counted ${inRedis}`);
  });

  it('a lease holds a few hundred ms of a client\'s requests at most, however high MAX_LEASE is', { skip: !url }, async () => {
    const windows: RateWindow[] = [{ label: 'Minute', ms: MINUTE, limit: 100_000_000 }];
    const time = clock(T0 + 5);
    const store = counted(redisWindowStore(redis, windows, { now: time.now }));
    const counter = leasedCounter(store, windows, { now: time.now });
    const key = `drawbridge:rl:${unique('steady')}:k`;
    // one request a millisecond for 3 s: a lease doubles while it (or half of it, refilled
    // ahead) lasts under 100 ms, so it stops at 256, what this client sends in 256 ms
    for (let i = 1; i <= 3000; i++) {
      assert.equal((await take(counter, key)).allowed, true);
      time.advance(1);
      if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const largest = Math.max(...store.wants);
    assert.ok(largest < MAX_LEASE, `largest lease ${largest} of ${MAX_LEASE}`);
    assert.ok(largest >= 128 && largest <= 256, `largest lease ${largest}`);
  });

  it("a busy client's next lease is reserved while half of the current one is left: requests no longer wait for Redis", { skip: !url }, async () => {
    const windows: RateWindow[] = [{ label: 'Minute', ms: MINUTE, limit: 100_000 }];
    const time = clock(T0 + 5);
    const store = counted(redisWindowStore(redis, windows, { now: time.now }));
    const counter = leasedCounter(store, windows, { now: time.now });
    const key = `drawbridge:rl:${unique('ahead')}:k`;
    const waited: number[] = [];
    for (let i = 1; i <= 2000; i++) {
      const pending = counter.take(key);
      if (pending instanceof Promise) waited.push(i);
      const r = await pending;
      assert.equal(r.allowed, true);
      assert.equal(r.counts[0]!.curr, i, `request ${i} is counted as the ${i}th`);
      // a busy gateway: 8 requests a millisecond, Redis answering in between
      if (i % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      if (i % 10 === 0) time.advance(1);
    }
    // only while the leases grow (1, 2, 4, … requests, until half a lease outlasts a round trip)
    // does a request wait for a reservation; before refills ahead, one did at every lease's end
    assert.ok(waited.length <= 20, `requests that waited for Redis: ${waited.join(' ')}`);
    assert.ok(store.calls < 60, `${store.calls} round trips for 2000 requests`);
    assert.equal(Math.max(...store.wants), MAX_LEASE);
  });

  it('a refused refill is a refusal once the leftover is spent, without asking Redis again', { skip: !url }, async () => {
    const windows: RateWindow[] = [{ label: 'Minute', ms: MINUTE, limit: 100_000 }];
    const time = clock(T0 + 5);
    const store = counted(redisWindowStore(redis, windows, { now: time.now }));
    const counter = leasedCounter(store, windows, { now: time.now });
    const key = `drawbridge:rl:${unique('refill-refused')}:k`;
    let taken = 0;
    // grow the lease to MAX_LEASE, then let another gateway take everything that is left
    while (Math.max(0, ...store.wants) < MAX_LEASE) {
      assert.equal((await counter.take(key)).allowed, true);
      taken++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 20)); // the refill under way comes back
    const other = redisWindowStore(redis, windows, { now: time.now });
    while ((await other.reserve(key, 10_000)).granted > 0);
    // spend until the next refill is sent and refused, then the leftover
    const calls = store.calls;
    let allowed = 0;
    for (let i = 0; i < 3 * MAX_LEASE; i++) {
      const r = await counter.take(key);
      if (r.allowed) allowed++;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.ok(allowed > 0 && allowed <= MAX_LEASE + MAX_LEASE / 2, `${allowed} allowed from the leftover`);
    assert.equal(store.calls, calls + 1, 'one refused refill, then no round trip while the refusal holds');
    assert.ok(taken > 0);
  });

  it('limiters sharing Redis never let more than the limit through together, even in parallel', { skip: !url }, async () => {
    const namespace = unique('shared');
    const connections = Array.from({ length: 3 }, () => new Redis(url!));
    try {
      const limiters = connections.map((connection) =>
        createRateLimiter({ minute: 200, limit_by: 'ip', namespace }, { logger, redis: connection }, PATH),
      );
      let allowed = 0;
      let refused = 0;
      // waves of parallel requests on every limiter, as busy gateways see them
      for (let wave = 0; wave < 12; wave++) {
        const outcomes = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            // a refusal may be thrown synchronously (remembered): the promise catches both
            new Promise((resolve) => resolve(limiters[i % limiters.length]!.limit(gatewayRequest()))).then(
              () => 'ok',
              (err: { status?: number }) => err.status,
            ),
          ),
        );
        allowed += outcomes.filter((o) => o === 'ok').length;
        refused += outcomes.filter((o) => o === 429).length;
      }
      assert.equal(allowed + refused, 360);
      assert.ok(allowed <= 200, `${allowed} allowed`);
      // leftovers are bounded: near the limit each lease is one request
      assert.ok(allowed >= 200 - 3 * 8, `${allowed} allowed`);
      const [key] = await redis.keys(`drawbridge:rl:${namespace}:*`);
      assert.ok(Number((await redis.hgetall(key!))['60000:c']) <= 200);
    } finally {
      await Promise.all(connections.map((c) => c.quit()));
    }
  });

  it('alternating between two limiters counts down one budget exactly', { skip: !url }, async () => {
    const namespace = unique('alternate');
    const connections = [new Redis(url!), new Redis(url!)];
    try {
      const limiters = connections.map((connection) => createRateLimiter({ minute: 100, limit_by: 'ip', namespace }, { logger, redis: connection }, PATH));
      let allowed = 0;
      for (let i = 0; i < 130; i++) {
        try {
          await limiters[i % 2]!.limit(gatewayRequest());
          allowed++;
        } catch (err) {
          assert.equal((err as { status: number }).status, 429);
        }
      }
      assert.equal(allowed, 100);
    } finally {
      await Promise.all(connections.map((c) => c.quit()));
    }
  });

  it('remembers a refusal until a request fits again, then asks Redis again', { skip: !url }, async () => {
    const windows: RateWindow[] = [{ label: 'Second', ms: 1000, limit: 3 }];
    const time = clock(T0 + 100);
    const store = counted(redisWindowStore(redis, windows, { now: time.now }));
    const counter = leasedCounter(store, windows, { now: time.now });
    const key = `drawbridge:rl:${unique('refused')}:k`;
    for (let i = 0; i < 3; i++) assert.equal((await take(counter, key)).allowed, true);
    const before = store.calls;
    const refusedAt = await take(counter, key);
    assert.equal(refusedAt.allowed, false);
    assert.equal(store.calls, before + 1);
    for (let i = 0; i < 50; i++) assert.equal((await take(counter, key)).allowed, false);
    assert.equal(store.calls, before + 1, 'no round trip while the refusal holds');
    time.advance(900); // the second turns: the previous 3 weigh 3 × (1000 − 0) / 1000 = 3, still full
    assert.equal((await take(counter, key)).allowed, false);
    time.advance(400); // 400 ms into the next second: 3 × 0.6 = 1.8 used, one fits
    assert.equal((await take(counter, key)).allowed, true);
    assert.ok(store.calls >= before + 2);
  });

  it('a lease lapses when its window turns: later requests are counted in the new window', { skip: !url }, async () => {
    const windows: RateWindow[] = [{ label: 'Minute', ms: MINUTE, limit: 1_000_000 }];
    const time = clock(T0 + MINUTE - 50);
    const store = counted(redisWindowStore(redis, windows, { now: time.now }));
    const counter = leasedCounter(store, windows, { now: time.now });
    const key = `drawbridge:rl:${unique('lapse')}:k`;
    for (let i = 0; i < 64; i++) await take(counter, key); // leases grow: some requests are left over
    const calls = store.calls;
    time.advance(60); // the minute turned
    const r = await take(counter, key);
    assert.equal(store.calls, calls + 1, 'a new reservation');
    assert.equal(r.counts[0]!.elapsed, 10);
    assert.equal(r.counts[0]!.curr, 1);
  });

  it('with redis_timeout: a reservation that does not come back in time fails (fault_tolerant decides)', { skip: !url }, async () => {
    const namespace = unique('slow');
    const slow = new Redis(url!);
    try {
      const strict = createRateLimiter({ minute: 50, namespace, limit_by: 'ip', fault_tolerant: false, redis_timeout: 50 }, { logger, redis: slow }, PATH);
      await strict.limit(gatewayRequest());
      // a blocking command holds this connection: the next reservation queues behind it
      void slow.blpop(unique('never'), 1).catch(() => undefined);
      const err = await refusal(() => strict.limit(gatewayRequest()));
      assert.equal(err.status, 503);
    } finally {
      slow.disconnect();
    }
  });
});
