// rate-limiting: config errors, the sliding-window arithmetic on a fixed clock, headers,
// limit_by, and the Redis policy against real Redis — the Lua script agrees with the
// in-process store step for step, is atomic under concurrency, expires its keys, survives
// a script flush, and fault_tolerant decides what a Redis outage means (private redis-server).
import * as assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { ConfigError } from '../../src/config/index.js';
import { createRateLimiter } from '../../src/gateway/limits/rate-limiting.js';
import { SLIDING_WINDOW_SHA, redisWindowStore } from '../../src/gateway/limits/redis-sliding-window.js';
import { evaluate, localWindowStore, msUntilRoom, type HitResult, type RateWindow } from '../../src/gateway/limits/sliding-window.js';
import { PLUGINS } from '../../src/gateway/plugins.js';
import { silentLogger } from '../../src/observability/logger.js';
import { within } from '../helpers/poll.js';
import { redisUrl } from '../helpers/services.js';
import {
  gatewayRequest,
  identity,
  redisServerAvailable,
  refusal,
  startPrivateRedis,
  unique,
  type PrivateRedis,
} from './limits-harness.js';

const PATH = 'gateway.services[0].plugins[1].config';
const MINUTE = 60_000;
const T0 = 28_000_000 * MINUTE; // the start of a minute (and of an hour and a day)
const logger = silentLogger();

function configError(config: Record<string, unknown>, redis?: Redis): ConfigError {
  try {
    createRateLimiter(config, { logger, redis }, PATH);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

function clock(start: number): { now: () => number; set(t: number): void; advance(ms: number): void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v), advance: (ms) => (t += ms) };
}

describe('rate-limiting config', () => {
  it('is registered as a limit-stage plugin', async () => {
    const instance = await PLUGINS.get('rate-limiting')!.create({ minute: 5 }, { logger } as never, PATH);
    assert.equal(instance.stage, 'limit');
    assert.equal(instance.impl.name, 'rate-limiting');
  });

  it('names the offending key', () => {
    assert.equal(configError({}).message, `${PATH}.minute: set at least one of second, minute, hour or day`);
    assert.equal(configError({ second: 10, minute: 5 }).message, `${PATH}.minute: must be at least second (10)`);
    assert.equal(configError({ minute: 10, day: 9 }).message, `${PATH}.day: must be at least minute (10)`);
    assert.equal(configError({ minute: 0 }).message, `${PATH}.minute: expected an integer from 1 to 100000000, got 0`);
    assert.equal(configError({ minute: 5, limit_by: 'consumer-group' }).path, `${PATH}.limit_by`);
    assert.equal(configError({ minute: 5, limit_by: 'header' }).message, `${PATH}.header_name: required with limit_by: header`);
    assert.equal(configError({ minute: 5, header_name: 'x-a' }).message, `${PATH}.header_name: only used with limit_by: header`);
    assert.equal(configError({ minute: 5, limit_by: 'header', header_name: 'a b' }).path, `${PATH}.header_name`);
    assert.equal(configError({ minute: 5, policy: 'cluster' }).path, `${PATH}.policy`);
    assert.equal(configError({ minute: 5, policy: 'redis' }).message, `${PATH}.policy: redis needs the top-level redis URL`);
    assert.equal(configError({ minute: 5, redis_host: 'x' }).path, `${PATH}.redis_host`);
    assert.equal(configError({ minute: 5, fault_tolerant: 'no' }).path, `${PATH}.fault_tolerant`);
  });
});

describe('sliding window arithmetic', () => {
  const minute: RateWindow = { label: 'Minute', ms: MINUTE, limit: 3 };

  it('weights the previous window by its share still inside the sliding window', () => {
    // 3 counted last minute, 20 s into this one: 3 × 40/60 = 2 still count
    assert.equal(evaluate([minute], [{ prev: 3, curr: 0, elapsed: 20_000 }]).remaining, 1);
    // one ms earlier 2.00005 count, and 1 more still fits (2.00005 < 3)
    assert.equal(evaluate([minute], [{ prev: 3, curr: 0, elapsed: 19_999 }]).remaining, 1);
    assert.equal(evaluate([minute], [{ prev: 3, curr: 1, elapsed: 19_999 }]).remaining, 0);
    assert.equal(evaluate([minute], [{ prev: 3, curr: 1, elapsed: 20_001 }]).remaining, 1);
    assert.equal(evaluate([minute], [{ prev: 6, curr: 0, elapsed: 0 }]).remaining, 0);
  });

  it('computes when a request fits again, to the ms', () => {
    assert.equal(msUntilRoom(minute, { prev: 0, curr: 3, elapsed: 10_000 }), 50_000 + 1);
    assert.equal(msUntilRoom(minute, { prev: 0, curr: 6, elapsed: 0 }), 60_000 + 30_001);
    assert.equal(msUntilRoom(minute, { prev: 3, curr: 1, elapsed: 10_000 }), 10_001);
    assert.equal(msUntilRoom(minute, { prev: 3, curr: 0, elapsed: 1 }), 0);
    const hundred: RateWindow = { label: 'Minute', ms: MINUTE, limit: 100 };
    assert.equal(msUntilRoom(hundred, { prev: 100, curr: 0, elapsed: 0 }), 1);
    assert.equal(msUntilRoom(hundred, { prev: 100, curr: 50, elapsed: 0 }), 30_001);
  });
});

describe('rate-limiting (local policy)', () => {
  it('allows `limit` requests per window with RateLimit-* headers, then 429 with Retry-After', async () => {
    const time = clock(T0 + 10_000);
    const limiter = createRateLimiter({ minute: 3, limit_by: 'ip' }, { logger }, PATH, { now: time.now });
    const expected = [
      ['2', '50'],
      ['1', '50'],
      ['0', '51'], // the last one: a request fits again 50.001 s from now, when this minute is over
    ];
    for (const [remaining, reset] of expected) {
      const gr = gatewayRequest();
      await limiter.limit(gr);
      assert.deepEqual(gr.responseHeaders, {
        'ratelimit-limit': '3',
        'ratelimit-remaining': remaining,
        'ratelimit-reset': reset,
        'x-ratelimit-limit-minute': '3',
        'x-ratelimit-remaining-minute': remaining,
      });
    }
    const gr = gatewayRequest();
    const err = await refusal(() => limiter.limit(gr));
    assert.equal(err.status, 429);
    assert.equal(err.code, 'rate_limited');
    assert.equal(err.message, 'API rate limit exceeded');
    assert.deepEqual(err.headers, {
      'ratelimit-limit': '3',
      'ratelimit-remaining': '0',
      'ratelimit-reset': '51',
      'x-ratelimit-limit-minute': '3',
      'x-ratelimit-remaining-minute': '0',
      'retry-after': '51',
    });
    assert.deepEqual(gr.responseHeaders, {});

    // The window slides: 20 s into the next minute 3 × 40/60 = 2 of the last minute's still count.
    time.set(T0 + MINUTE + 20_000);
    const next = gatewayRequest();
    await limiter.limit(next);
    assert.equal(next.responseHeaders['ratelimit-remaining'], '0');
    assert.equal(next.responseHeaders['ratelimit-reset'], '1');
    assert.equal((await refusal(() => limiter.limit(gatewayRequest()))).headers['retry-after'], '1');
    time.set(T0 + MINUTE + 20_001); // 3 × 39.999/60 + 1 = 2.99995 < 3
    const later = gatewayRequest();
    await limiter.limit(later);
    assert.equal(later.responseHeaders['ratelimit-remaining'], '0');
    time.set(T0 + MINUTE + 40_000); // 3 × 20/60 + 2 = 3
    assert.equal((await refusal(() => limiter.limit(gatewayRequest()))).status, 429);
  });

  it('counts a request in every window or in none, and reports the most restrictive window', async () => {
    const time = clock(T0);
    const limiter = createRateLimiter({ second: 2, minute: 3, limit_by: 'ip' }, { logger }, PATH, { now: time.now });
    const first = gatewayRequest();
    await limiter.limit(first);
    assert.deepEqual(first.responseHeaders, {
      'ratelimit-limit': '2',
      'ratelimit-remaining': '1',
      'ratelimit-reset': '1',
      'x-ratelimit-limit-second': '2',
      'x-ratelimit-remaining-second': '1',
      'x-ratelimit-limit-minute': '3',
      'x-ratelimit-remaining-minute': '2',
    });
    await limiter.limit(gatewayRequest());
    const refused = await refusal(() => limiter.limit(gatewayRequest())); // the second window is full
    assert.equal(refused.headers['x-ratelimit-remaining-minute'], '1'); // …and the refusal was not counted
    assert.equal(refused.headers['retry-after'], '2'); // 1.001 s, rounded up
    time.advance(2_000);
    const third = gatewayRequest();
    await limiter.limit(third); // the minute's third
    assert.equal(third.responseHeaders['ratelimit-limit'], '3');
    assert.equal(third.responseHeaders['ratelimit-remaining'], '0');
    assert.equal(third.responseHeaders['ratelimit-reset'], '59'); // 58.001 s: when this minute is over
    time.advance(2_000);
    const minuteFull = await refusal(() => limiter.limit(gatewayRequest()));
    assert.equal(minuteFull.headers['ratelimit-limit'], '3');
    assert.equal(minuteFull.headers['x-ratelimit-remaining-second'], '2');
    assert.equal(minuteFull.headers['retry-after'], '57');
  });

  it('limit_by picks whose requests count together, falling back to the client IP', async () => {
    async function remaining(config: Record<string, unknown>, requests: Parameters<typeof gatewayRequest>[0][]): Promise<string[]> {
      const limiter = createRateLimiter({ minute: 10, ...config }, { logger }, PATH, { now: clock(T0).now });
      const out: string[] = [];
      for (const shape of requests) {
        const gr = gatewayRequest(shape);
        await limiter.limit(gr);
        out.push(gr.responseHeaders['ratelimit-remaining']!);
      }
      return out;
    }
    const alice = identity({ consumer: 'alice', credential_id: 'k1' });
    const alice2 = identity({ consumer: 'alice', credential_id: 'k2' });
    const bob = identity({ consumer: 'bob' });
    const user = identity({ sub: 'user-7' });
    assert.deepEqual(
      await remaining({}, [
        { identity: alice, clientIp: '192.0.2.1' },
        { identity: alice2, clientIp: '192.0.2.2' },
        { identity: bob, clientIp: '192.0.2.1' },
        { identity: user },
        { identity: user },
        { clientIp: '192.0.2.9' }, // nobody identified: by IP
        { clientIp: '192.0.2.9' },
      ]),
      ['9', '8', '9', '9', '8', '9', '8'],
    );
    assert.deepEqual(
      await remaining({ limit_by: 'credential' }, [{ identity: alice }, { identity: alice2 }, { identity: alice }, {}]),
      ['9', '9', '8', '9'],
    );
    assert.deepEqual(
      await remaining({ limit_by: 'ip' }, [
        { identity: alice, clientIp: '192.0.2.1' },
        { identity: bob, clientIp: '192.0.2.1' },
        { identity: alice, clientIp: '2001:db8::1' },
      ]),
      ['9', '8', '9'],
    );
    assert.deepEqual(
      await remaining({ limit_by: 'header', header_name: 'X-Tenant' }, [
        { headers: { 'x-tenant': 'a' }, clientIp: '192.0.2.1' },
        { headers: { 'x-tenant': 'a' }, clientIp: '192.0.2.2' },
        { headers: { 'x-tenant': 'b' }, clientIp: '192.0.2.1' },
        { clientIp: '192.0.2.1' }, // no header: by IP
        { clientIp: '192.0.2.1' },
      ]),
      ['9', '8', '9', '9', '8'],
    );
    assert.deepEqual(
      await remaining({ limit_by: 'path' }, [
        { path: '/a', clientIp: '192.0.2.1' },
        { path: '/a', clientIp: '192.0.2.2' },
        { path: '/b' },
      ]),
      ['9', '8', '9'],
    );
  });

  it('hide_client_headers leaves responses alone but 429 still says Retry-After', async () => {
    const limiter = createRateLimiter({ second: 1, limit_by: 'ip', hide_client_headers: true }, { logger }, PATH, { now: clock(T0).now });
    const gr = gatewayRequest();
    await limiter.limit(gr);
    assert.deepEqual(gr.responseHeaders, {});
    // 1.001 s from now, rounded up: at 1.000 the last second's request still counts in full
    assert.deepEqual((await refusal(() => limiter.limit(gatewayRequest()))).headers, { 'retry-after': '2' });
  });

  it('keeps in-process counters across a reload of the same gateway, not across gateways', async () => {
    const time = clock(T0);
    const deps = { logger };
    const config = { minute: 2, limit_by: 'ip' };
    await createRateLimiter(config, deps, PATH, { now: time.now }).limit(gatewayRequest());
    // reloaded: same entry, same gateway (deps), a higher limit
    const reloaded = createRateLimiter({ ...config, minute: 3 }, deps, PATH, { now: time.now });
    const gr = gatewayRequest();
    await reloaded.limit(gr);
    assert.equal(gr.responseHeaders['ratelimit-remaining'], '1');
    // another gateway in the same process counts on its own
    const other = gatewayRequest();
    await createRateLimiter(config, { logger }, PATH, { now: time.now }).limit(other);
    assert.equal(other.responseHeaders['ratelimit-remaining'], '1');
    // other windows: a fresh layout
    const hourly = gatewayRequest();
    await createRateLimiter({ hour: 5, limit_by: 'ip' }, deps, PATH, { now: time.now }).limit(hourly);
    assert.equal(hourly.responseHeaders['ratelimit-remaining'], '4');
  });

  it('keeps memory bounded: stale clients are swept, and the oldest dropped beyond the cap', () => {
    const time = clock(T0);
    const store = localWindowStore({ now: time.now, maxEntries: 3 });
    const windows: RateWindow[] = [{ label: 'Second', ms: 1000, limit: 5 }];
    for (const key of ['a', 'b', 'c', 'd']) store.hit(key, windows);
    assert.equal(store.size, 3);
    assert.deepEqual((store.hit('a', windows) as HitResult).counts, [{ prev: 0, curr: 1, elapsed: 0 }]); // 'a' was dropped
    time.advance(20_000);
    store.hit('e', windows);
    assert.equal(store.size, 1);
  });
});

describe('rate-limiting (redis policy)', async () => {
  const url = await redisUrl();
  let redis: Redis;
  before(() => {
    if (url) redis = new Redis(url);
  });
  after(async () => {
    await redis?.quit();
  });

  it('the Lua script and the in-process store agree step for step', { skip: !url }, async () => {
    const windows: RateWindow[] = [
      { label: 'Second', ms: 1000, limit: 3 },
      { label: 'Minute', ms: MINUTE, limit: 20 },
    ];
    const time = clock(T0 + 123);
    const local = localWindowStore({ now: time.now });
    const remote = redisWindowStore(redis, windows, { now: time.now });
    const key = `drawbridge:rl:${unique('parity')}:ip:192.0.2.1`;
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let allowed = 0;
    for (let step = 0; step < 300; step++) {
      time.advance(Math.floor(random() * 700));
      const a = local.hit('k', windows) as HitResult;
      const b = await remote.hit(key, windows);
      assert.deepEqual(b, a, `step ${step}`);
      if (a.allowed) allowed++;
    }
    assert.ok(allowed > 20 && allowed < 300, `both outcomes exercised (${allowed} allowed)`);
  });

  it('is atomic: concurrent hits from separate connections never exceed the limit', { skip: !url }, async () => {
    const namespace = unique('atomic');
    const connections = Array.from({ length: 5 }, () => new Redis(url!));
    try {
      const limiters = connections.map((connection) =>
        createRateLimiter({ hour: 10, minute: 10, limit_by: 'ip', namespace }, { logger, redis: connection }, PATH),
      );
      const outcomes = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          Promise.resolve(limiters[i % limiters.length]!.limit(gatewayRequest())).then(
            () => 'ok',
            (err: { status?: number }) => err.status,
          ),
        ),
      );
      assert.equal(outcomes.filter((o) => o === 'ok').length, 10);
      assert.equal(outcomes.filter((o) => o === 429).length, 50);
    } finally {
      await Promise.all(connections.map((c) => c.quit()));
    }
  });

  it('keeps one hash per client under drawbridge:rl: that expires', { skip: !url }, async () => {
    const namespace = unique('keys');
    const limiter = createRateLimiter({ second: 5, minute: 50, namespace }, { logger, redis }, PATH);
    const gr = gatewayRequest({ identity: identity({ consumer: 'carol' }) });
    await limiter.limit(gr);
    assert.equal(gr.responseHeaders['ratelimit-remaining'], '4');
    const keys = await redis.keys(`drawbridge:rl:${namespace}:*`);
    assert.deepEqual(keys, [`drawbridge:rl:${namespace}:consumer:carol`]);
    const ttl = await redis.pttl(keys[0]!);
    assert.ok(ttl > 2 * MINUTE - 5_000 && ttl <= 2 * MINUTE, `ttl ${ttl}`);
    const fields = await redis.hgetall(keys[0]!);
    assert.deepEqual(Object.keys(fields).sort(), ['1000:c', '1000:i', '1000:p', '60000:c', '60000:i', '60000:p']);
    assert.equal(fields['60000:c'], '1');
  });

  it('defaults to the redis policy when Redis is configured', { skip: !url }, async () => {
    const namespace = unique('default-policy');
    const limiter = createRateLimiter({ minute: 5, namespace }, { logger, redis }, PATH);
    await limiter.limit(gatewayRequest());
    assert.equal((await redis.keys(`drawbridge:rl:${namespace}:*`)).length, 1);
    const local = createRateLimiter({ minute: 5, namespace: `${namespace}-local`, policy: 'local' }, { logger, redis }, PATH);
    await local.limit(gatewayRequest());
    assert.equal((await redis.keys(`drawbridge:rl:${namespace}-local:*`)).length, 0);
  });
});

describe('rate-limiting when Redis fails (private redis-server)', { skip: !redisServerAvailable() }, () => {
  let server: PrivateRedis;
  let redis: Redis;
  const lines: string[] = [];
  const capture = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    }),
  );

  before(async () => {
    server = await startPrivateRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 2, retryStrategy: () => 50 });
    redis.on('error', () => undefined);
    await within(10_000, () => redis.status === 'ready', 'redis ready');
  });
  after(async () => {
    redis?.disconnect();
    await server?.kill();
  });

  it('loads the script again after a SCRIPT FLUSH (EVALSHA falls back to EVAL)', async () => {
    const limiter = createRateLimiter({ minute: 5, namespace: unique('flush') }, { logger, redis }, PATH);
    await limiter.limit(gatewayRequest());
    await redis.script('FLUSH');
    assert.deepEqual(await redis.script('EXISTS', SLIDING_WINDOW_SHA), [0]);
    const gr = gatewayRequest();
    await limiter.limit(gr);
    assert.equal(gr.responseHeaders['ratelimit-remaining'], '3');
    assert.deepEqual(await redis.script('EXISTS', SLIDING_WINDOW_SHA), [1]);
  });

  it('fault_tolerant: true lets requests through while Redis is down, false answers 503', async () => {
    const namespace = unique('outage');
    // one fixed instant for both limiters (Redis TIME otherwise): with a 1 s window, two
    // requests on either side of a second boundary were counted apart and the 429s flaked
    const options = { now: () => T0 + 10_000 };
    const tolerant = createRateLimiter({ second: 1, namespace, limit_by: 'ip' }, { logger: capture, redis }, PATH, options);
    const strict = createRateLimiter({ second: 1, namespace, limit_by: 'ip', fault_tolerant: false }, { logger: capture, redis }, PATH, options);
    const first = gatewayRequest();
    await tolerant.limit(first);
    assert.equal(first.responseHeaders['ratelimit-remaining'], '0');
    assert.equal((await refusal(() => strict.limit(gatewayRequest()))).status, 429);

    await server.kill();
    await within(10_000, () => redis.status !== 'ready', 'the client to notice');
    for (let i = 0; i < 3; i++) {
      const through = gatewayRequest();
      await tolerant.limit(through); // over the limit, but Redis cannot say so
      assert.deepEqual(through.responseHeaders, {});
    }
    const err = await refusal(() => strict.limit(gatewayRequest()));
    assert.equal(err.status, 503);
    assert.equal(err.code, 'service_unavailable');
    assert.equal(err.message, 'rate limiting is unavailable');
    assert.deepEqual(err.headers, { 'retry-after': '5' });
    // logged once per outage and limiter, not once per request
    const warnings = lines.map((line) => JSON.parse(line) as { msg: string; requests: number });
    assert.deepEqual(
      warnings.map((w) => [w.msg, w.requests]),
      [
        ['rate-limiting: redis failed; requests let through unlimited', 1],
        ['rate-limiting: redis failed; requests refused with 503', 1],
      ],
    );

    await server.restart();
    await within(10_000, () => redis.status === 'ready', 'the client to reconnect');
    const back = gatewayRequest();
    await strict.limit(back); // a fresh server: counting starts over
    assert.equal(back.responseHeaders['ratelimit-remaining'], '0');
    assert.equal((await refusal(() => tolerant.limit(gatewayRequest()))).status, 429);
  });
});
