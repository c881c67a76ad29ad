// Revocation events other than a single token: `drawbridge client delete` publishes
// client.revoked and `drawbridge user lock` user.revoked over Redis, and the introspection
// cache of a running gateway evicts the matching entries (it asks the issuer again).
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { EVENTS_CHANNEL, parseEvent, publishOnce } from '../../src/cache/events.js';
import { systemClock } from '../../src/core/clock.js';
import { applyEvent, CredentialCache, CredentialDigester, RevocationList } from '../../src/gateway/authn/cache.js';
import { runCli, type CliResult } from '../cli/spawn.js';
import { startStack, startUpstream, TEST_SECRET, type Stack, type Upstream } from '../helpers/gateway.js';
import { send } from './authn-support.js';
import { redisServerAvailable, startPrivateRedis, type PrivateRedis } from './limits-harness.js';
import { startForeignIntrospection, type ForeignServer } from './phantom-support.js';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const available = redisServerAvailable();

function ok(r: CliResult): string {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
  return r.stdout;
}

describe('revocation events beyond single tokens', { skip: !available }, () => {
  let redis: PrivateRedis;
  let upstream: Upstream;
  let foreign: ForeignServer;
  let stack: Stack;
  let dir: string;
  let file: string;

  before(async () => {
    redis = await startPrivateRedis();
    upstream = await startUpstream();
    foreign = await startForeignIntrospection();
    stack = await startStack({
      auth: false,
      top: { redis: redis.url },
      gateway: {
        services: [
          {
            name: 'svc',
            url: upstream.url,
            routes: [{ paths: ['/svc'] }],
            plugins: [
              {
                name: 'oauth2-introspection',
                config: { issuer: foreign.url, introspection_endpoint: foreign.endpoint, client_id: 'rs', client_secret: 'rs-secret', jwt_response: false },
              },
            ],
          },
        ],
      },
    });
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-revocation-events-'));
    file = join(dir, 'drawbridge.yaml');
    await writeFile(
      file,
      ['issuer: http://127.0.0.1:9', `storage: sqlite:${join(dir, 'd.db')}`, `secret: ${TEST_SECRET}`, `redis: ${redis.url}`, 'auth: {}', ''].join('\n'),
    );
  });

  after(async () => {
    await stack?.close();
    await foreign?.close();
    await upstream?.close();
    await redis?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Warms the cache for `token` (one call), runs `revoke`, then expects a second call within 1 s. */
  async function evicted(token: string, revoke: () => Promise<unknown>): Promise<void> {
    foreign.tokens.set(token, { active: true, sub: `user-of-${token}`, client_id: `client-of-${token}`, exp: Math.floor(Date.now() / 1000) + 3600 });
    assert.equal((await send(stack.gatewayUrl, '/svc/x', bearer(token))).status, 200);
    assert.equal((await send(stack.gatewayUrl, '/svc/x', bearer(token))).status, 200);
    assert.equal(foreign.calls.get(token), 1);
    await revoke();
    const until = Date.now() + 1000;
    while (foreign.calls.get(token) === 1 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
      assert.equal((await send(stack.gatewayUrl, '/svc/x', bearer(token))).status, 200);
    }
    assert.equal(foreign.calls.get(token), 2, 'the cached answer was evicted');
  }

  it('client.revoked and user.revoked evict the matching introspection cache entries', async () => {
    await evicted('t-client', () => publishOnce(redis.url, { type: 'client.revoked', client_id: 'client-of-t-client' }));
    await evicted('t-user', () => publishOnce(redis.url, { type: 'user.revoked', sub: 'user-of-t-user' }));
    // an event about someone else evicts nothing
    foreign.tokens.set('t-other', { active: true, sub: 'someone', client_id: 'app', exp: Math.floor(Date.now() / 1000) + 3600 });
    assert.equal((await send(stack.gatewayUrl, '/svc/x', bearer('t-other'))).status, 200);
    assert.equal(await publishOnce(redis.url, { type: 'client.revoked', client_id: 'not-app' }), true);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await send(stack.gatewayUrl, '/svc/x', bearer('t-other'))).status, 200);
    assert.equal(foreign.calls.get('t-other'), 1);
  });

  it('`drawbridge client delete` and `drawbridge user lock` publish client.revoked and user.revoked', async () => {
    const sub = new Redis(redis.url);
    const heard: unknown[] = [];
    try {
      sub.on('message', (_channel: string, message: string) => heard.push(JSON.parse(message)));
      await sub.subscribe(EVENTS_CHANNEL);
      ok(await runCli(['client', 'create', '--config', file, '--id', 'doomed']));
      ok(await runCli(['client', 'delete', '--config', file, 'doomed']));
      ok(await runCli(['user', 'create', '--config', file, 'mallory']));
      ok(await runCli(['user', 'lock', '--config', file, 'mallory']));
      const until = Date.now() + 2000;
      while (heard.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(heard[0], { type: 'client.revoked', client_id: 'doomed' });
      const userEvent = heard[1] as { type: string; sub: unknown };
      assert.equal(userEvent.type, 'user.revoked');
      assert.equal(typeof userEvent.sub, 'string');
      assert.equal(heard.length, 2);
    } finally {
      sub.disconnect();
    }
  });
});

describe('events.resumed (the subscription came back after a drop)', () => {
  it('flushes the authenticators\' shared credential cache', () => {
    const target = {
      cache: new CredentialCache({ maxEntries: 10, clock: systemClock }),
      revocations: new RevocationList(systemClock),
      digester: new CredentialDigester(TEST_SECRET),
    };
    const later = systemClock.now() + 600;
    target.cache.set('a', 1, later, { consumer: 'acme' });
    target.cache.set('b', 2, later, { sub: 'u' });
    applyEvent(target, { type: 'config.changed' });
    assert.equal(target.cache.size, 1);
    applyEvent(target, { type: 'events.resumed' });
    assert.equal(target.cache.size, 0);
  });

  it('is local only: never accepted from the wire', () => {
    assert.equal(parseEvent('{"type":"events.resumed"}'), undefined);
    assert.deepEqual(parseEvent('{"type":"client.revoked","client_id":"x"}'), { type: 'client.revoked', client_id: 'x' });
  });
});
