// rate-limiting's Kong keys error_code, error_message and limit_by: service — config errors,
// the refusal a limiter throws, and the whole thing through a real gateway in front of a
// recording upstream: in-process counters, and Redis counters (the shared test Redis) with
// a global entry that keeps one counter per service.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { ConfigError } from '../../src/config/index.js';
import { createRateLimiter } from '../../src/gateway/limits/rate-limiting.js';
import type { CompiledRoute } from '../../src/gateway/types.js';
import { silentLogger } from '../../src/observability/logger.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { redisUrl } from '../helpers/services.js';
import { gatewayRequest, refusal, unique } from './limits-harness.js';

const PATH = 'gateway.plugins[0].config';
const logger = silentLogger();

function configError(config: Record<string, unknown>): ConfigError {
  try {
    createRateLimiter(config, { logger }, PATH);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

/** A request as the pipeline hands it over on a route of service `name`. */
function onService(name: string, clientIp = '192.0.2.1'): ReturnType<typeof gatewayRequest> {
  const gr = gatewayRequest({ clientIp });
  gr.route = { service: { name } } as unknown as CompiledRoute;
  return gr;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function statuses(urls: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const url of urls) out.push((await call(url)).status); // one by one: the order matters
  return out;
}

describe('rate-limiting error_code, error_message, limit_by service: config', () => {
  it('refuses bad values, naming the key and what it expects', () => {
    const range = 'expected an integer from 400 to 599';
    assert.equal(configError({ minute: 5, error_code: 399 }).message, `${PATH}.error_code: ${range}, got 399`);
    assert.equal(configError({ minute: 5, error_code: 600 }).message, `${PATH}.error_code: ${range}, got 600`);
    assert.equal(configError({ minute: 5, error_code: 200 }).message, `${PATH}.error_code: ${range}, got 200`);
    assert.equal(configError({ minute: 5, error_code: 429.5 }).message, `${PATH}.error_code: ${range}, got 429.5`);
    assert.equal(configError({ minute: 5, error_code: 'teapot' }).message, `${PATH}.error_code: ${range}, got "teapot"`);
    for (const code of [401, 407]) {
      assert.equal(configError({ minute: 5, error_code: code }).message, `${PATH}.error_code: expected a status from 400 to 599 other than 401 and 407 (they need a challenge), got ${code}`);
    }
    assert.equal(configError({ minute: 5, error_message: '' }).message, `${PATH}.error_message: expected a non-empty string, got ""`);
    assert.equal(configError({ minute: 5, error_message: 42 }).message, `${PATH}.error_message: expected a non-empty string, got 42`);
    assert.equal(
      configError({ minute: 5, limit_by: 'consumer-group' }).message,
      `${PATH}.limit_by: expected one of "consumer", "credential", "ip", "service", "header", "path", got "consumer-group"`,
    );
    assert.equal(
      configError({ minute: 5, limit_by: 'service', header_name: 'x-a' }).message,
      `${PATH}.header_name: only used with limit_by: header`,
    );
  });

  it("refuses with 429 and Kong's message by default, or with error_code and error_message", async () => {
    // a fixed instant: with a 1 s window, two requests on either side of a second boundary
    // were counted apart (Date.now) and the refusal flaked
    const fixed = { now: () => 1_700_000_000_000 + 250 };
    const plain = createRateLimiter({ second: 1, limit_by: 'ip' }, { logger }, PATH, fixed);
    await plain.limit(gatewayRequest());
    const byDefault = await refusal(() => plain.limit(gatewayRequest()));
    assert.equal(byDefault.status, 429);
    assert.equal(byDefault.code, 'rate_limited');
    assert.equal(byDefault.message, 'API rate limit exceeded');

    // numbers may come as strings (`${VAR}` interpolation)
    const custom = createRateLimiter({ second: 1, limit_by: 'ip', error_code: '503', error_message: 'Quota used up' }, { logger }, PATH, fixed);
    await custom.limit(gatewayRequest());
    const err = await refusal(() => custom.limit(gatewayRequest()));
    assert.equal(err.status, 503);
    assert.equal(err.code, 'rate_limited');
    assert.equal(err.reason, 'rate_limited');
    assert.equal(err.message, 'Quota used up');
    assert.equal(err.headers['ratelimit-limit'], '1');
    assert.equal(err.headers['ratelimit-remaining'], '0');
    assert.equal(err.headers['x-ratelimit-remaining-second'], '0');
    assert.match(err.headers['retry-after'] ?? '', /^[12]$/);
  });

  it('limit_by service counts every request to one service together, whoever sends it', async () => {
    const limiter = createRateLimiter({ minute: 3, limit_by: 'service' }, { logger }, PATH);
    const remaining: string[] = [];
    for (const gr of [onService('orders', '192.0.2.1'), onService('orders', '192.0.2.2'), onService('billing'), onService('orders', '2001:db8::1')]) {
      await limiter.limit(gr);
      remaining.push(gr.responseHeaders['ratelimit-remaining']!);
    }
    assert.deepEqual(remaining, ['2', '1', '2', '0']);
    assert.equal((await refusal(() => limiter.limit(onService('orders', '192.0.2.9')))).status, 429);
  });
});

describe('rate-limiting error_code, error_message, limit_by service through the gateway (local policy)', () => {
  let upstream: Upstream;
  let stack: Stack;
  const namespace = unique('kong-keys');

  before(async () => {
    upstream = await startUpstream();
    const limited = (name: string, config: Record<string, unknown>) => ({
      name,
      url: upstream.url,
      routes: [{ paths: [`/${name}`] }],
      plugins: [{ name: 'rate-limiting', config: { namespace: `${namespace}-${name}`, ...config } }],
    });
    // route entries sharing one namespace on routes of two services: only limit_by service keeps them apart
    const perRoute = { name: 'rate-limiting', config: { hour: 2, limit_by: 'service', namespace: `${namespace}-routes` } };
    stack = await startStack({
      auth: false,
      gateway: {
        services: [
          limited('defaults', { hour: 1, limit_by: 'ip' }),
          limited('custom', { hour: 1, limit_by: 'ip', error_code: 503, error_message: 'Too many orders, try again later' }),
          limited('custom-hidden', { hour: 1, limit_by: 'ip', hide_client_headers: true, error_code: 400, error_message: 'Slow down' }),
          {
            name: 'shared',
            url: upstream.url,
            routes: [{ paths: ['/shared-a'] }, { paths: ['/shared-b'] }],
            plugins: [{ name: 'rate-limiting', config: { hour: 3, limit_by: 'service', namespace: `${namespace}-shared` } }],
          },
          {
            name: 'one',
            url: upstream.url,
            routes: [
              { paths: ['/one-a'], plugins: [perRoute] },
              { paths: ['/one-b'], plugins: [perRoute] },
            ],
          },
          { name: 'two', url: upstream.url, routes: [{ paths: ['/two'], plugins: [perRoute] }] },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  it("answers a refusal by default with 429 and Kong's message", async () => {
    assert.equal((await call(`${stack.gatewayUrl}/defaults`)).status, 200);
    const refused = await call(`${stack.gatewayUrl}/defaults`, { 'x-request-id': 'rl-default' });
    assert.equal(refused.status, 429);
    assert.deepEqual(refused.body, { error: 'rate_limited', error_description: 'API rate limit exceeded', request_id: 'rl-default' });
  });

  it('answers a refusal with error_code and error_message, keeping Retry-After and the RateLimit-* headers', async () => {
    upstream.reset();
    const first = await call(`${stack.gatewayUrl}/custom`);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('ratelimit-remaining'), '0');
    const refused = await call(`${stack.gatewayUrl}/custom`, { 'x-request-id': 'rl-custom' });
    assert.equal(refused.status, 503);
    assert.deepEqual(refused.body, { error: 'rate_limited', error_description: 'Too many orders, try again later', request_id: 'rl-custom' });
    assert.equal(refused.headers.get('ratelimit-limit'), '1');
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    assert.equal(refused.headers.get('x-ratelimit-limit-hour'), '1');
    assert.equal(refused.headers.get('x-ratelimit-remaining-hour'), '0');
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    assert.equal(refused.headers.get('retry-after'), refused.headers.get('ratelimit-reset'));
    assert.equal(upstream.requests.length, 1, 'the refused request never reached upstream');

    // hide_client_headers: no RateLimit-*, but Retry-After stays
    assert.equal((await call(`${stack.gatewayUrl}/custom-hidden`)).status, 200);
    const hidden = await call(`${stack.gatewayUrl}/custom-hidden`, { 'x-request-id': 'rl-hidden' });
    assert.equal(hidden.status, 400);
    assert.deepEqual(hidden.body, { error: 'rate_limited', error_description: 'Slow down', request_id: 'rl-hidden' });
    assert.deepEqual(
      [...hidden.headers.keys()].filter((name) => name.includes('ratelimit')),
      [],
    );
    assert.match(hidden.headers.get('retry-after') ?? '', /^\d+$/);
  });

  it("limit_by service: a service's entry counts its two routes together", async () => {
    const url = stack.gatewayUrl;
    const a = await call(`${url}/shared-a`);
    const b = await call(`${url}/shared-b`);
    assert.deepEqual([a.headers.get('ratelimit-remaining'), b.headers.get('ratelimit-remaining')], ['2', '1']);
    assert.deepEqual(await statuses([`${url}/shared-a`, `${url}/shared-b`, `${url}/shared-a`]), [200, 429, 429]);
  });

  it('limit_by service: entries sharing a namespace share a counter per service, not across services', async () => {
    const url = stack.gatewayUrl;
    assert.deepEqual(await statuses([`${url}/one-a`, `${url}/one-b`, `${url}/one-a`, `${url}/one-b`]), [200, 200, 429, 429]);
    const two = await call(`${url}/two`);
    assert.equal(two.status, 200);
    assert.equal(two.headers.get('ratelimit-remaining'), '1');
  });
});

describe('rate-limiting limit_by service and error_code in Redis (a global entry)', async () => {
  const url = await redisUrl();
  let upstream: Upstream;
  let stack: Stack;
  let redis: Redis;
  const namespace = unique('kong-keys-redis');

  before(async () => {
    if (!url) return;
    redis = new Redis(url);
    upstream = await startUpstream();
    stack = await startStack({
      auth: false,
      top: { redis: url },
      gateway: {
        services: [
          { name: 'alpha', url: upstream.url, routes: [{ paths: ['/alpha-1'] }, { paths: ['/alpha-2'] }] },
          { name: 'beta', url: upstream.url, routes: [{ paths: ['/beta'] }] },
        ],
        plugins: [
          {
            name: 'rate-limiting',
            config: { hour: 3, limit_by: 'service', policy: 'redis', namespace, error_code: 503, error_message: 'Service quota used up' },
          },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
    await redis?.quit();
  });

  it('keeps one counter per service in Redis and refuses with error_code and error_message', { skip: !url }, async () => {
    const base = stack.gatewayUrl;
    assert.deepEqual(await statuses([`${base}/alpha-1`, `${base}/alpha-2`, `${base}/alpha-1`, `${base}/beta`]), [200, 200, 200, 200]);
    const refused = await call(`${base}/alpha-2`, { 'x-request-id': 'rl-redis' });
    assert.equal(refused.status, 503);
    assert.deepEqual(refused.body, { error: 'rate_limited', error_description: 'Service quota used up', request_id: 'rl-redis' });
    assert.equal(refused.headers.get('ratelimit-limit'), '3');
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    const beta = await call(`${base}/beta`);
    assert.equal(beta.status, 200);
    assert.equal(beta.headers.get('ratelimit-remaining'), '1');
    const keys = (await redis.keys(`drawbridge:rl:${namespace}:*`)).sort();
    assert.deepEqual(keys, [`drawbridge:rl:${namespace}:service:alpha`, `drawbridge:rl:${namespace}:service:beta`]);
  });
});
