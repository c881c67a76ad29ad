// Done-when of issue #4: rate limits hold across two gateway processes sharing Redis.
// Two real `drawbridge start --only gateway` processes, one config each (same services,
// same Redis, different ports), take requests in turn — all at once, and one by one — and
// exactly `limit` of them get through.
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnCli, waitForReady, type CliProcess } from '../cli/spawn.js';
import { TEST_SECRET, freePort } from '../helpers/auth-server.js';
import { startUpstream, type Upstream } from '../helpers/gateway.js';
import { redisUrl } from '../helpers/services.js';
import { unique } from './limits-harness.js';

const LIMIT = 7;

describe('rate limits across two gateway processes sharing Redis', async () => {
  const redis = await redisUrl();
  let dir: string;
  let upstream: Upstream;
  const gateways: Array<{ url: string; proc: CliProcess }> = [];

  before(async () => {
    if (!redis) return;
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-rl-'));
    upstream = await startUpstream();
    const namespace = unique('cluster');
    for (const name of ['one', 'two']) {
      const port = await freePort();
      const config = {
        issuer: 'http://127.0.0.1:9',
        storage: 'memory:',
        secret: TEST_SECRET,
        redis,
        log: { level: 'warn' },
        gateway: {
          listen: `127.0.0.1:${port}`,
          consumers: [
            { username: 'ada', credentials: { 'key-auth': [{ key: 'ada-key-0123456789' }] } },
            { username: 'bob', credentials: { 'key-auth': [{ key: 'bob-key-0123456789' }] } },
          ],
          services: [
            {
              name: 'api',
              url: upstream.url,
              routes: [{ paths: ['/api'] }],
              plugins: [{ name: 'key-auth' }, { name: 'rate-limiting', config: { hour: LIMIT, day: 1000, namespace } }],
            },
          ],
        },
      };
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(config));
      const proc = spawnCli(['start', '--only', 'gateway', '--config', file], { timeoutMs: 60_000 });
      gateways.push({ url: `http://127.0.0.1:${port}`, proc });
    }
    await Promise.all(gateways.map((g) => waitForReady(`${g.url}/readyz`, g.proc)));
  });

  after(async () => {
    await Promise.all(gateways.map((g) => g.proc.stop()));
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lets exactly `limit` of many concurrent requests through, whichever process takes them', { skip: !redis }, async () => {
    upstream.reset();
    const statuses = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const res = await fetch(`${gateways[i % 2]!.url}/api/orders`, { headers: { apikey: 'ada-key-0123456789' } });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    assert.equal(statuses.filter((s) => s === 200).length, LIMIT, `statuses: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 24 - LIMIT);
    assert.equal(upstream.requests.length, LIMIT);
  });

  it('counts down one budget across both processes, request by request', { skip: !redis }, async () => {
    const seen: Array<[number, string | null]> = [];
    for (let i = 0; i < LIMIT + 3; i++) {
      const res = await fetch(`${gateways[i % 2]!.url}/api/orders`, { headers: { apikey: 'bob-key-0123456789' } });
      await res.arrayBuffer();
      seen.push([res.status, res.headers.get('ratelimit-remaining')]);
    }
    assert.deepEqual(seen, [
      [200, '6'],
      [200, '5'],
      [200, '4'],
      [200, '3'],
      [200, '2'],
      [200, '1'],
      [200, '0'],
      [429, '0'],
      [429, '0'],
      [429, '0'],
    ]);
  });
});
