// The shared deadline of rate-limiting's Redis calls (limits/deadlines.ts): answers pass
// through, a call that outlives the limit is rejected at its deadline and not before, and
// many calls share one timer. Then end to end: a Redis that accepts the connection but
// never answers (a stalled server) makes the limiter give up after `redis_timeout`.
import * as assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Deadlines } from '../../src/gateway/limits/deadlines.js';
import { createRateLimiter } from '../../src/gateway/limits/rate-limiting.js';
import { silentLogger } from '../../src/observability/logger.js';
import { gatewayRequest, refusal, unique } from './limits-harness.js';

const PATH = 'gateway.services[0].plugins[0].config';

function later<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms));
}

function never(): Promise<never> {
  return new Promise<never>(() => undefined);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected a rejection');
}

describe('Deadlines', () => {
  // the deadline timer is unref'd (in the gateway an open request keeps the process up):
  // here something must, while calls wait on promises that never settle
  let keepAlive: NodeJS.Timeout;
  before(() => {
    keepAlive = setInterval(() => undefined, 1_000);
  });
  after(() => clearInterval(keepAlive));

  it('passes answers and errors through and forgets settled calls', async () => {
    const deadlines = new Deadlines(200, 'too slow');
    assert.equal(await deadlines.race(later(5, 'a')), 'a');
    const err = await rejection(deadlines.race(Promise.reject(new Error('boom'))));
    assert.equal(err.message, 'boom');
    assert.equal(deadlines.pending, 0);
  });

  it('rejects a call at its deadline, not before, and leaves the others alone', async () => {
    const deadlines = new Deadlines(120, 'redis did not answer within 120 ms');
    const started = performance.now();
    const stuck = rejection(deadlines.race(never()));
    const quick = deadlines.race(later(20, 'quick'));
    const slowButInTime = deadlines.race(later(80, 'in time'));
    assert.equal(deadlines.pending, 3);
    assert.equal(await quick, 'quick');
    assert.equal(await slowButInTime, 'in time');
    const err = await stuck;
    const waited = performance.now() - started;
    assert.equal(err.message, 'redis did not answer within 120 ms');
    assert.ok(waited >= 119, `rejected after ${waited} ms, before the deadline`);
    assert.ok(waited < 1_000, `rejected only after ${waited} ms`);
    assert.equal(deadlines.pending, 0);
  });

  it('gives every call its own deadline though one timer serves them all', async () => {
    const deadlines = new Deadlines(100, 'late');
    const first = performance.now();
    const a = rejection(deadlines.race(never()));
    await later(60, null);
    const second = performance.now();
    const b = rejection(deadlines.race(never()));
    await a;
    const aAt = performance.now() - first;
    assert.equal(deadlines.pending, 1, 'the second call is still within its limit when the first expires');
    await b;
    const bAt = performance.now() - second;
    assert.ok(aAt >= 99 && bAt >= 99, `expired early: ${aAt} / ${bAt} ms`);
    assert.equal(deadlines.pending, 0);
  });

  it('stays small under a stream of calls that all answer', async () => {
    const deadlines = new Deadlines(1_000, 'late');
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 2_000 }, (_, i) => deadlines.race(Promise.resolve(i))));
    }
    assert.equal(deadlines.pending, 0);
  });
});

describe('rate-limiting with a Redis that never answers', () => {
  let blackHole: Server;
  let url: string;
  const sockets = new Set<Socket>();
  let redis: Redis;

  before(async () => {
    // accepts connections and reads every command, answers none: a stalled Redis
    blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const address = blackHole.address();
    assert.ok(address !== null && typeof address === 'object');
    url = `redis://127.0.0.1:${address.port}`;
    redis = new Redis(url, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
    redis.on('error', () => undefined);
  });
  after(async () => {
    redis.disconnect();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => blackHole.close(() => resolve()));
  });

  it('lets the request through (fault_tolerant) or answers 503 once redis_timeout has passed', async () => {
    const namespace = unique('stalled');
    const logger = silentLogger();
    const tolerant = createRateLimiter({ minute: 5, namespace, redis_timeout: 150 }, { logger, redis }, PATH);
    const strict = createRateLimiter({ minute: 5, namespace, redis_timeout: 150, fault_tolerant: false }, { logger, redis }, PATH);

    let started = performance.now();
    const through = gatewayRequest();
    await tolerant.limit(through);
    let waited = performance.now() - started;
    assert.ok(waited >= 149 && waited < 2_000, `gave up after ${waited} ms`);
    assert.deepEqual(through.responseHeaders, {}, 'nothing was counted, so no RateLimit headers');

    started = performance.now();
    const err = await refusal(() => strict.limit(gatewayRequest()));
    waited = performance.now() - started;
    assert.equal(err.status, 503);
    assert.deepEqual(err.headers, { 'retry-after': '5' });
    assert.ok(waited >= 149 && waited < 2_000, `gave up after ${waited} ms`);
  });
});
