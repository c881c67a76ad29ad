// Issue #5: gateway sessions on the SQL store (`gateway.sessions.store: sql`, built by the
// gateway from the configuration — no test injection): login through `oidc-login`, the
// session row, `session` accepting the cookie, one refresh for parallel requests after the
// access token expired, and logout.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { registryOf } from '../../src/gateway/oidc/settings.js';
import type { SessionStore } from '../../src/sessions/types.js';
import { sessionIdOf } from '../../src/sessions/cookie.js';
import { Browser } from '../helpers/browser.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { appAndApiServices, gatewayClient, HTML, locationOf, PASSWORD, signInAtDrawbridge, stackAddresses } from './oidc-support.js';

describe('oidc-login with sessions in SQL', () => {
  let stack: Stack;
  let upstream: Upstream;
  let gw: string;
  let issuer: string;
  let store: SessionStore;

  before(async () => {
    upstream = await startUpstream();
    const addresses = await stackAddresses();
    const { authPort, gwPort } = addresses;
    ({ issuer, gw } = addresses);
    stack = await startStack({
      top: { issuer },
      auth: {
        listen: `127.0.0.1:${authPort}`,
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD, claims: { email: 'alice@example.com' } }],
        clients: [gatewayClient(gw, { scopes: ['openid', 'email', 'offline_access'], access_token_ttl: 2 })],
      },
      gateway: {
        listen: `127.0.0.1:${gwPort}`,
        sessions: { store: 'sql', refresh_before: 0, cookie_name: 'sid_sql' },
        services: appAndApiServices(upstream.url, issuer, ['openid', 'email', 'offline_access']),
      },
    });
    const sessions = stack.gateway.deps.sessions;
    assert.ok(sessions, 'the gateway built its session store');
    store = sessions;
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  it('login, session row, refresh once for 20 parallel requests, logout', async () => {
    const browser = new Browser();
    const authorize = locationOf(await browser.fetch(`${gw}/app/x`, { headers: HTML }), 302);
    const callback = await signInAtDrawbridge(browser, authorize.href);
    const back = await browser.fetch(callback.href);
    assert.equal(locationOf(back, 303).pathname, '/app/x');
    const cookie = browser.cookies.get('sid_sql');
    assert.ok(cookie, 'the configured cookie name');
    const id = sessionIdOf(cookie.value);
    const row = await store.get(id);
    assert.equal(row?.claims.email, 'alice@example.com');
    assert.equal((await browser.fetch(`${gw}/api/y`)).status, 200);

    await sleep(2200);
    const rp = registryOf(stack.gateway.deps.events).find(issuer, 'gateway')!;
    const before = rp.refreshes;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => browser.fetch(`${gw}/api/p${i}`)));
    assert.deepEqual(answers.map((r) => r.status), Array(20).fill(200));
    assert.equal(rp.refreshes - before, 1, 'one refresh under the SQL lock');

    const out = await browser.fetch(`${gw}/_drawbridge/logout`);
    assert.equal(out.status, 303);
    assert.equal(await store.get(id), undefined);
    assert.equal((await browser.fetch(`${gw}/api/y`)).status, 401);
  });
});
