// rate-limiting, request-size-limiting and cors through the real gateway in front of a
// recording upstream; rate limits in Redis with a private redis-server that the test
// kills to see fault_tolerant at work.
import * as assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';
import { redisServerAvailable, startPrivateRedis, unique, type PrivateRedis } from './limits-harness.js';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** A request whose body goes out chunked (no Content-Length), written in one go. */
function sendChunked(url: string, chunks: Buffer[], headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/** Seconds until the end of the current UTC hour, the RateLimit-Reset of an hour window with room left. */
function secondsLeftInHour(): number {
  return Math.ceil((3_600_000 - (Date.now() % 3_600_000)) / 1000);
}

function assertResetNearHourEnd(value: string | null): void {
  assert.match(value ?? '', /^\d+$/);
  const expected = secondsLeftInHour();
  assert.ok(Math.abs(Number(value) - expected) <= 2, `reset ${value}, expected about ${expected}`);
}

describe('limits through the gateway', () => {
  let upstream: Upstream;
  let varying: Upstream;
  let stack: Stack;
  const namespace = unique('e2e');

  before(async () => {
    upstream = await startUpstream();
    varying = await startUpstream({
      name: 'varying',
      handler(_req, res) {
        res.writeHead(200, { vary: 'Accept-Encoding', 'content-type': 'text/plain' });
        res.end('compressible');
      },
    });
    const keyAuth = { name: 'key-auth' };
    const limited = (name: string, config: Record<string, unknown>, plugins: unknown[] = []) => ({
      name,
      url: upstream.url,
      routes: [{ paths: [`/${name}`] }],
      plugins: [...plugins, { name: 'rate-limiting', config: { namespace: `${namespace}-${name}`, ...config } }],
    });
    stack = await startStack({
      auth: false,
      gateway: {
        consumers: [
          { username: 'ada', credentials: { 'key-auth': [{ key: 'ada-key-0123456789' }, { key: 'ada-key-second-0123' }] } },
          { username: 'bob', credentials: { 'key-auth': [{ key: 'bob-key-0123456789' }] } },
        ],
        services: [
          limited('rl-consumer', { hour: 3 }, [keyAuth]),
          limited('rl-credential', { hour: 2, limit_by: 'credential' }, [keyAuth]),
          limited('rl-ip', { hour: 2, limit_by: 'ip' }),
          limited('rl-header', { hour: 2, limit_by: 'header', header_name: 'X-Tenant' }),
          limited('rl-path', { hour: 2, limit_by: 'path' }),
          limited('rl-hidden', { hour: 1, limit_by: 'ip', hide_client_headers: true }),
          limited('rl-multi', { minute: 2, hour: 50, limit_by: 'ip' }),
          {
            name: 'size',
            url: upstream.url,
            routes: [{ paths: ['/size'] }],
            plugins: [{ name: 'request-size-limiting', config: { allowed_payload_size: 1, size_unit: 'kilobytes' } }],
          },
          {
            name: 'size-strict',
            url: upstream.url,
            routes: [{ paths: ['/size-strict'] }],
            plugins: [{ name: 'request-size-limiting', config: { allowed_payload_size: 1024, size_unit: 'bytes', require_content_length: true } }],
          },
          {
            name: 'cors',
            url: upstream.url,
            routes: [{ paths: ['/cors'] }],
            plugins: [
              keyAuth,
              {
                name: 'cors',
                config: {
                  origins: ['https://app.example.com', '~https://[a-z]+\\.example\\.org'],
                  methods: ['GET', 'POST', 'OPTIONS'],
                  exposed_headers: ['X-Total'],
                  credentials: true,
                  max_age: 600,
                },
              },
            ],
          },
          { name: 'cors-open', url: upstream.url, routes: [{ paths: ['/cors-open'] }], plugins: [{ name: 'cors' }] },
          {
            name: 'cors-vary',
            url: varying.url,
            routes: [{ paths: ['/cors-vary'] }],
            plugins: [{ name: 'cors', config: { origins: ['https://app.example.com'] } }],
          },
          {
            name: 'cors-continue',
            url: upstream.url,
            routes: [{ paths: ['/cors-continue'] }],
            plugins: [{ name: 'cors', config: { origins: ['https://app.example.com'], preflight_continue: true } }],
          },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
    await varying?.close();
  });

  describe('rate-limiting', () => {
    it('answers with RateLimit-* headers, then 429 with Retry-After and the JSON error', async () => {
      upstream.reset();
      const ada = { apikey: 'ada-key-0123456789' };
      for (const remaining of ['2', '1', '0']) {
        const res = await call(`${stack.gatewayUrl}/rl-consumer`, { headers: ada });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('ratelimit-limit'), '3');
        assert.equal(res.headers.get('ratelimit-remaining'), remaining);
        assert.equal(res.headers.get('x-ratelimit-limit-hour'), '3');
        assert.equal(res.headers.get('x-ratelimit-remaining-hour'), remaining);
        assertResetNearHourEnd(res.headers.get('ratelimit-reset'));
      }
      const refused = await call(`${stack.gatewayUrl}/rl-consumer`, { headers: { ...ada, 'x-request-id': 'rl-429' } });
      assert.equal(refused.status, 429);
      assert.deepEqual(refused.body, { error: 'rate_limited', error_description: 'API rate limit exceeded', request_id: 'rl-429' });
      assert.equal(refused.headers.get('ratelimit-limit'), '3');
      assert.equal(refused.headers.get('ratelimit-remaining'), '0');
      assert.equal(refused.headers.get('x-ratelimit-remaining-hour'), '0');
      assertResetNearHourEnd(refused.headers.get('retry-after'));
      assert.equal(refused.headers.get('retry-after'), refused.headers.get('ratelimit-reset'));
      assert.equal(upstream.requests.length, 3, 'the refused request never reached upstream');

      // another consumer has its own budget; ada's second key shares ada's
      const bob = await call(`${stack.gatewayUrl}/rl-consumer`, { headers: { apikey: 'bob-key-0123456789' } });
      assert.equal(bob.status, 200);
      assert.equal(bob.headers.get('ratelimit-remaining'), '2');
      assert.equal((await call(`${stack.gatewayUrl}/rl-consumer`, { headers: { apikey: 'ada-key-second-0123' } })).status, 429);
    });

    it('limit_by credential counts each key on its own', async () => {
      const url = `${stack.gatewayUrl}/rl-credential`;
      const first = { apikey: 'ada-key-0123456789' };
      const second = { apikey: 'ada-key-second-0123' };
      assert.equal((await call(url, { headers: first })).headers.get('ratelimit-remaining'), '1');
      assert.equal((await call(url, { headers: first })).headers.get('ratelimit-remaining'), '0');
      assert.equal((await call(url, { headers: first })).status, 429);
      const other = await call(url, { headers: second });
      assert.equal(other.status, 200);
      assert.equal(other.headers.get('ratelimit-remaining'), '1');
    });

    it('limit_by ip, header (falling back to the IP) and path', async () => {
      const ip = `${stack.gatewayUrl}/rl-ip`;
      assert.deepEqual(
        [(await call(ip)).status, (await call(`${ip}/a`)).status, (await call(`${ip}/b`, { headers: { 'x-tenant': 't' } })).status],
        [200, 200, 429],
      );

      const header = `${stack.gatewayUrl}/rl-header`;
      const t1 = { 'x-tenant': 'tenant-1' };
      assert.equal((await call(header, { headers: t1 })).headers.get('ratelimit-remaining'), '1');
      assert.equal((await call(header, { headers: t1 })).headers.get('ratelimit-remaining'), '0');
      assert.equal((await call(header, { headers: t1 })).status, 429);
      assert.equal((await call(header, { headers: { 'x-tenant': 'tenant-2' } })).status, 200);
      assert.equal((await call(header)).headers.get('ratelimit-remaining'), '1'); // no header: by IP

      const path = `${stack.gatewayUrl}/rl-path`;
      assert.equal((await call(`${path}/x`)).headers.get('ratelimit-remaining'), '1');
      assert.equal((await call(`${path}/y`)).headers.get('ratelimit-remaining'), '1');
      assert.equal((await call(`${path}/x`)).headers.get('ratelimit-remaining'), '0');
      assert.equal((await call(`${path}/x`)).status, 429);
    });

    it('reports the most restrictive window and hides headers when told to', async () => {
      const multi = await call(`${stack.gatewayUrl}/rl-multi`);
      assert.equal(multi.headers.get('ratelimit-limit'), '2');
      assert.equal(multi.headers.get('ratelimit-remaining'), '1');
      assert.equal(multi.headers.get('x-ratelimit-limit-minute'), '2');
      assert.equal(multi.headers.get('x-ratelimit-remaining-minute'), '1');
      assert.equal(multi.headers.get('x-ratelimit-limit-hour'), '50');
      assert.equal(multi.headers.get('x-ratelimit-remaining-hour'), '49');

      const hidden = await call(`${stack.gatewayUrl}/rl-hidden`);
      assert.equal(hidden.status, 200);
      assert.deepEqual(
        [...hidden.headers.keys()].filter((name) => name.includes('ratelimit')),
        [],
      );
      const refused = await call(`${stack.gatewayUrl}/rl-hidden`);
      assert.equal(refused.status, 429);
      assert.deepEqual(
        [...refused.headers.keys()].filter((name) => name.includes('ratelimit')),
        [],
      );
      assertResetNearHourEnd(refused.headers.get('retry-after'));
    });
  });

  describe('request-size-limiting', () => {
    it('refuses a declared Content-Length over the limit with 413 before anything reaches upstream', async () => {
      upstream.reset();
      const res = await call(`${stack.gatewayUrl}/size`, { method: 'POST', body: Buffer.alloc(1025, 1), headers: { 'x-request-id': 'big-1' } });
      assert.equal(res.status, 413);
      assert.deepEqual(res.body, { error: 'payload_too_large', error_description: 'request body exceeds 1024 bytes', request_id: 'big-1' });
      assert.equal(upstream.requests.length, 0);
      const fits = await call(`${stack.gatewayUrl}/size`, { method: 'POST', body: Buffer.alloc(1024, 1) });
      assert.equal(fits.status, 200);
      assert.equal(fits.body.body_bytes, 1024);
    });

    it('counts a chunked body as it streams: 413 past the limit, intact below it', async () => {
      upstream.reset();
      const small = await sendChunked(`${stack.gatewayUrl}/size`, [Buffer.alloc(600, 1), Buffer.alloc(424, 2)]);
      assert.equal(small.status, 200);
      assert.equal((JSON.parse(small.body) as { body_bytes: number }).body_bytes, 1024);

      const big = await sendChunked(`${stack.gatewayUrl}/size`, [Buffer.alloc(600, 1), Buffer.alloc(600, 2), Buffer.alloc(600, 3)], {
        'x-request-id': 'big-2',
      });
      assert.equal(big.status, 413);
      assert.deepEqual(JSON.parse(big.body), {
        error: 'payload_too_large',
        error_description: 'request body exceeds 1024 bytes',
        request_id: 'big-2',
      });
      assert.equal(big.headers.connection, 'close');
      for (const rec of upstream.requests) assert.ok(rec.bodyBytes <= 1024, `upstream saw ${rec.bodyBytes} bytes`);
    });

    it('require_content_length refuses chunked bodies with 411, and lets bodiless requests pass', async () => {
      const res = await sendChunked(`${stack.gatewayUrl}/size-strict`, [Buffer.alloc(10)], { 'x-request-id': 'len-1' });
      assert.equal(res.status, 411);
      assert.deepEqual(JSON.parse(res.body), {
        error: 'invalid_request',
        error_description: 'a Content-Length header is required for a request body',
        request_id: 'len-1',
      });
      assert.equal((await call(`${stack.gatewayUrl}/size-strict`)).status, 200);
      assert.equal((await call(`${stack.gatewayUrl}/size-strict`, { method: 'POST', body: 'abc' })).status, 200);
    });
  });

  describe('cors', () => {
    const preflight = (path: string, origin: string, extra: Record<string, string> = {}) =>
      call(`${stack.gatewayUrl}${path}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'apikey, content-type', ...extra },
      });

    it('answers a preflight itself with 204, before authentication', async () => {
      upstream.reset();
      const res = await preflight('/cors/items', 'https://app.example.com');
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com');
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
      assert.equal(res.headers.get('access-control-allow-methods'), 'GET, POST, OPTIONS');
      assert.equal(res.headers.get('access-control-allow-headers'), 'apikey, content-type');
      assert.equal(res.headers.get('access-control-max-age'), '600');
      assert.equal(res.headers.get('vary'), 'Origin, Access-Control-Request-Headers');
      assert.equal(upstream.requests.length, 0);

      const regex = await preflight('/cors', 'https://shop.example.org');
      assert.equal(regex.status, 204);
      assert.equal(regex.headers.get('access-control-allow-origin'), 'https://shop.example.org');
    });

    it('gives a preflight from another origin no permission', async () => {
      for (const origin of ['https://evil.example.com', 'https://shop.example.org.evil.test', 'http://app.example.com']) {
        const res = await preflight('/cors', origin);
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
        assert.equal(res.headers.get('access-control-allow-methods'), null);
        assert.equal(res.headers.get('vary'), 'Origin, Access-Control-Request-Headers');
      }
    });

    it('adds the allowed origin and Vary: Origin to answers, errors included', async () => {
      const ok = await call(`${stack.gatewayUrl}/cors`, { headers: { origin: 'https://app.example.com', apikey: 'bob-key-0123456789' } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com');
      assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
      assert.equal(ok.headers.get('access-control-expose-headers'), 'X-Total');
      assert.equal(ok.headers.get('vary'), 'Origin');

      const denied = await call(`${stack.gatewayUrl}/cors`, { headers: { origin: 'https://app.example.com' } });
      assert.equal(denied.status, 401);
      assert.equal(denied.headers.get('access-control-allow-origin'), 'https://app.example.com');

      const stranger = await call(`${stack.gatewayUrl}/cors`, { headers: { origin: 'https://evil.example.com', apikey: 'bob-key-0123456789' } });
      assert.equal(stranger.status, 200);
      assert.equal(stranger.headers.get('access-control-allow-origin'), null);
      assert.equal(stranger.headers.get('vary'), 'Origin');
    });

    it("keeps the upstream's own Vary next to Origin", async () => {
      const res = await fetch(`${stack.gatewayUrl}/cors-vary`, { headers: { origin: 'https://app.example.com' } });
      assert.equal(await res.text(), 'compressible');
      assert.equal(res.headers.get('vary'), 'Origin, Accept-Encoding');
      assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com');
    });

    it('origins * without credentials answers with *, and preflight_continue passes preflights on', async () => {
      const open = await call(`${stack.gatewayUrl}/cors-open`, { headers: { origin: 'https://anyone.test' } });
      assert.equal(open.headers.get('access-control-allow-origin'), '*');
      assert.equal(open.headers.get('access-control-allow-credentials'), null);
      assert.equal(open.headers.get('vary'), null);

      upstream.reset();
      const passed = await preflight('/cors-continue', 'https://app.example.com');
      assert.equal(passed.status, 200);
      assert.equal(upstream.last().method, 'OPTIONS');
      assert.equal(passed.headers.get('access-control-allow-origin'), 'https://app.example.com');
      assert.equal(passed.headers.get('access-control-allow-methods'), null);
    });
  });
});

describe('rate-limiting when the gateway loses Redis (private redis-server)', { skip: !redisServerAvailable() }, () => {
  let redis: PrivateRedis;
  let upstream: Upstream;
  let stack: Stack;

  before(async () => {
    redis = await startPrivateRedis();
    upstream = await startUpstream();
    const service = (name: string, config: Record<string, unknown>) => ({
      name,
      url: upstream.url,
      routes: [{ paths: [`/${name}`] }],
      plugins: [{ name: 'rate-limiting', config: { hour: 1, limit_by: 'ip', redis_timeout: 200, ...config } }],
    });
    stack = await startStack({
      auth: false,
      top: { redis: redis.url },
      gateway: { services: [service('tolerant', {}), service('strict', { fault_tolerant: false })] },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
    await redis?.kill();
  });

  it('counts in Redis; once Redis is gone, fault_tolerant lets requests through and false answers 503', async () => {
    const tolerant = `${stack.gatewayUrl}/tolerant`;
    const strict = `${stack.gatewayUrl}/strict`;
    assert.equal((await call(tolerant)).headers.get('ratelimit-remaining'), '0');
    assert.equal((await call(tolerant)).status, 429);
    assert.equal((await call(strict)).status, 200);
    assert.equal((await call(strict)).status, 429);

    await redis.kill();
    const gatewayRedis = stack.running.redis!;
    await within(10_000, () => gatewayRedis.status !== 'ready', "the gateway's client to notice");
    for (let i = 0; i < 3; i++) {
      const res = await call(tolerant);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('ratelimit-limit'), null);
    }
    const refused = await call(strict, { headers: { 'x-request-id': 'rl-down' } });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '5');
    assert.deepEqual(refused.body, { error: 'service_unavailable', error_description: 'rate limiting is unavailable', request_id: 'rl-down' });
  });
});
