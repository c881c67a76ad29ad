// A session store that does not answer (a Redis store pointed at a port nobody listens on:
// every call fails fast with SessionStoreUnavailableError) turns session requests into
// 503 + Retry-After — never a 500 — while requests without a session cookie, and routes
// without sessions, are unaffected.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RedisSessionStore } from '../../src/sessions/redis-store.js';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { pluginsWithStore } from './oidc-support.js';

describe('session routes while the session store is down', () => {
  let stack: Stack;
  let upstream: Upstream;
  let store: RedisSessionStore;

  before(async () => {
    upstream = await startUpstream();
    store = new RedisSessionStore({ redis: `redis://127.0.0.1:${await freePort()}`, commandTimeoutMs: 300 });
    stack = await startStack({
      auth: false,
      gateway: {
        services: [
          { name: 'api', url: upstream.url, routes: [{ paths: ['/api'] }], plugins: [{ name: 'session' }] },
          { name: 'open', url: upstream.url, routes: [{ paths: ['/open'] }] },
        ],
      },
      plugins: pluginsWithStore(() => store),
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
    await store?.close();
  });

  it('503 with Retry-After for a session cookie; 401 without one; other routes pass', async () => {
    const cookie = `drawbridge_session=${randomBytes(32).toString('base64url')}`;
    const res = await fetch(`${stack.gatewayUrl}/api/x`, { headers: { cookie } });
    assert.equal(res.status, 503);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    const body = (await res.json()) as { error: string; request_id: string };
    assert.equal(body.error, 'service_unavailable');
    assert.ok(body.request_id);
    assert.equal((await fetch(`${stack.gatewayUrl}/api/x`)).status, 401, 'no cookie: no store call');
    assert.equal((await fetch(`${stack.gatewayUrl}/open/x`)).status, 200);
    const logout = await fetch(`${stack.gatewayUrl}/_drawbridge/logout`, { headers: { cookie }, redirect: 'manual' });
    assert.equal(logout.status, 503);
    assert.ok(logout.headers.get('retry-after'));
  });
});
