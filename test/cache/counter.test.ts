// Windowed failure counters: in-process and in Redis, and the auth server's client
// authentication throttle shared by two instances through Redis.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { memoryCounter, redisCounter } from '../../src/cache/counter.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { redisUrl } from '../helpers/services.js';

describe('memoryCounter', () => {
  it('counts within a window and starts over after it', async () => {
    let now = 1_000_000;
    const c = memoryCounter(() => now);
    assert.deepEqual(await c.peek('k'), { count: 0, resetIn: 0 });
    assert.equal((await c.hit('k', 10)).count, 1);
    assert.equal((await c.hit('k', 10)).count, 2);
    now += 4000;
    assert.deepEqual(await c.peek('k'), { count: 2, resetIn: 6 });
    now += 6000;
    assert.deepEqual(await c.peek('k'), { count: 0, resetIn: 0 });
    assert.equal((await c.hit('k', 10)).count, 1);
  });
});

describe('redisCounter', async () => {
  const url = await redisUrl();
  let redis: Redis;
  before(() => {
    if (url) redis = new Redis(url);
  });
  after(async () => {
    await redis?.quit();
  });

  it('counts atomically under concurrency and expires with the window', { skip: !url && 'Redis not reachable' }, async () => {
    const c = redisCounter(redis, `test:${randomBytes(4).toString('hex')}:`);
    const results = await Promise.all(Array.from({ length: 20 }, () => c.hit('k', 1)));
    assert.deepEqual(results.map((r) => r.count).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
    const seen = await c.peek('k');
    assert.equal(seen.count, 20);
    assert.ok(seen.resetIn > 0 && seen.resetIn <= 1);
    await new Promise((r) => setTimeout(r, 1100));
    assert.deepEqual(await c.peek('k'), { count: 0, resetIn: 0 });
  });

  it('two auth server instances share the client authentication throttle', { skip: !url && 'Redis not reachable' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drawbridge-throttle-'));
    const db = `sqlite:${join(dir, 'db.sqlite')}`;
    const auth = {
      client_auth_throttle: { max_failures: 3, window: '30s' },
      clients: [{ client_id: `svc-${randomBytes(4).toString('hex')}`, client_secret: 's3cret-s3cret', scopes: ['a'] }],
    };
    const clientId = auth.clients[0]!.client_id;
    let a: TestServer | undefined;
    let b: TestServer | undefined;
    // the per-IP counter is shared by everything on this host: start from a clean slate
    await redis.del('drawbridge:count:ip:127.0.0.1', 'drawbridge:count:ip:::ffff:127.0.0.1');
    try {
      a = await startAuth(auth, { storage: db, redis: url });
      b = await startAuth(auth, { storage: db, redis: url });
      const fail = (s: TestServer) => postForm(`${s.issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic(clientId, 'wrong') });
      assert.equal((await fail(a)).status, 401);
      assert.equal((await fail(b)).status, 401);
      assert.equal((await fail(a)).status, 401);
      // the fourth attempt, on the other instance, is refused before checking the secret
      const refused = await postForm(`${b.issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic(clientId, 's3cret-s3cret') });
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      assert.equal(refused.headers.get('cache-control'), 'no-store');
      assert.equal(((await refused.json()) as { error: string }).error, 'temporarily_unavailable');
      // /readyz reports Redis
      const ready = await (await fetch(`${a.issuer}/readyz`)).json();
      assert.deepEqual(ready, { status: 'ready', checks: { storage: 'ok', redis: 'ok' } });
    } finally {
      await a?.close();
      await b?.close();
      await redis.del('drawbridge:count:ip:127.0.0.1', 'drawbridge:count:ip:::ffff:127.0.0.1');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
