// drawbridge/sdk on the calling side: a service's own token (client_credentials) against the
// real auth server, through a relay that counts token endpoint calls; the token used on a
// real gateway route (phantom token) in front of an SDK-protected service; a revoked token
// answered 401 and retried once with a fresh one.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  authenticate,
  basicAuthorization,
  clientCredentials,
  createVerifier,
  DrawbridgeOAuthError,
} from '../../src/sdk/index.js';
import { basic, postForm } from '../helpers/auth-server.js';
import { freePort, type Stack } from '../helpers/gateway.js';
import { send } from '../gateway/authn-support.js';
import { introspectionPlugin, readJson, sendJson, startRelay, startSdkStack, startService, SVC_SECRET, type Relay, type Service } from './support.js';

// RFC 6749 §2.3.1: both are form-urlencoded before Basic; these break a plain `id:secret`
const WEIRD_ID = 'svc:we+ird id';
const WEIRD_SECRET = 'p@ss w+rd/%:&=~!*\'()-0123456789';

describe('sdk: clientCredentials against the real auth server and gateway', () => {
  let stack: Stack;
  let issuer: string;
  let relay: Relay;
  let inventory: Service;

  before(async () => {
    const authPort = await freePort();
    issuer = `http://127.0.0.1:${authPort}`;
    const verifier = createVerifier({ issuer, audience: 'inventory' });
    inventory = await startService(
      authenticate(verifier, { scopes: ['inventory:read'] })((req, res) => {
        sendJson(res, 200, { caller: req.auth.sub, client_id: req.auth.client_id, method: req.method, scopes: req.auth.scopes });
      }),
    );
    ({ stack } = await startSdkStack(
      [
        { client_id: 'svc', client_secret: SVC_SECRET, grant_types: ['client_credentials'], scopes: ['inventory:read', 'orders:read'] },
        { client_id: 'svc-short', client_secret: SVC_SECRET, grant_types: ['client_credentials'], scopes: ['inventory:read'], access_token_ttl: '3s' },
        { client_id: WEIRD_ID, client_secret: WEIRD_SECRET, grant_types: ['client_credentials'], scopes: ['inventory:read'] },
      ],
      (iss) => ({
        services: [
          { name: 'inventory', url: inventory.url, routes: [{ paths: ['/inventory'], strip_path: false }], plugins: [introspectionPlugin(iss)] },
        ],
      }),
      authPort,
    ));
    relay = await startRelay(`${issuer}/oauth2/token`);
  });

  after(async () => {
    await relay?.close();
    await stack?.close();
    await inventory?.close();
  });

  const through = (overrides: Partial<Parameters<typeof clientCredentials>[0]> = {}) =>
    clientCredentials({ tokenEndpoint: `${relay.url}/token`, clientId: 'svc', clientSecret: SVC_SECRET, scope: 'inventory:read', ...overrides });

  it('caches the token: two calls, one token endpoint request', async () => {
    const cc = through();
    const before = relay.calls;
    const a = await cc.token();
    const b = await cc.token();
    assert.equal(a, b);
    assert.equal(relay.calls - before, 1);
  });

  it('single-flight: 10 parallel callers share one token request', async () => {
    const cc = through();
    relay.delayMs = 100;
    const before = relay.calls;
    try {
      const tokens = await Promise.all(Array.from({ length: 10 }, () => cc.token()));
      assert.equal(new Set(tokens).size, 1);
      assert.equal(relay.calls - before, 1, 'one token endpoint call for 10 callers');
      // …and 10 parallel fetches after that reuse it
      const replies = await Promise.all(Array.from({ length: 10 }, () => cc.fetch(`${stack.gatewayUrl}/inventory/items`)));
      for (const r of replies) assert.equal(r.status, 200, await r.text());
      assert.equal(relay.calls - before, 1);
    } finally {
      relay.delayMs = 0;
    }
  });

  it('fetches a new token shortly before the old one expires (3 s token → renewed after 2.4 s)', async () => {
    const cc = through({ clientId: 'svc-short' });
    const before = relay.calls;
    const t0 = Date.now();
    const first = await cc.token();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await cc.token(), first, 'still fresh');
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 2500 - Date.now())));
    const second = await cc.token();
    assert.notEqual(second, first);
    assert.equal(relay.calls - before, 2);
  });

  it('.fetch() calls a service through the gateway with the Bearer token; the service sees this client', async () => {
    const cc = through();
    const res = await cc.fetch(`${stack.gatewayUrl}/inventory/items?x=1`, { method: 'POST', body: 'hello', headers: { 'x-extra': '1' } });
    const body = await readJson(res);
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body, { caller: 'svc', client_id: 'svc', method: 'POST', scopes: ['inventory:read'] });
  });

  it('a revoked token → the callee answers 401 → one fresh token, one retry → 200', async () => {
    const cc = through();
    const stale = await cc.token();
    assert.equal((await cc.fetch(`${stack.gatewayUrl}/inventory/a`)).status, 200);
    const revoked = await postForm(`${issuer}/oauth2/revoke`, { token: stale }, { authorization: basic('svc', SVC_SECRET) });
    assert.equal(revoked.status, 200);
    // wait until the gateway refuses the revoked token (in-process event: milliseconds)
    const deadline = Date.now() + 2000;
    while ((await send(stack.gatewayUrl, '/inventory/a', { headers: { authorization: `Bearer ${stale}` } })).status !== 401) {
      assert.ok(Date.now() < deadline, 'revocation never reached the gateway');
      await new Promise((r) => setTimeout(r, 10));
    }
    const callsBefore = relay.calls;
    const hitsBefore = inventory.hits;
    const res = await cc.fetch(`${stack.gatewayUrl}/inventory/a`, { method: 'PUT', body: 'again' });
    assert.equal(res.status, 200, await res.text());
    assert.equal(relay.calls - callsBefore, 1, 'one new token');
    assert.equal(inventory.hits - hitsBefore, 1, 'the refused attempt never reached the service (the gateway refused it)');
    assert.notEqual(await cc.token(), stale);
  });

  it('a 401 that persists is returned after the single retry (no loop)', async () => {
    const cc = through();
    const refuser = await startService((_req, res) => sendJson(res, 401, { error: 'invalid_token' }));
    try {
      const before = relay.calls;
      const res = await cc.fetch(refuser.url);
      assert.equal(res.status, 401);
      assert.equal(refuser.hits, 2);
      assert.equal(relay.calls - before, 2);
    } finally {
      await refuser.close();
    }
  });

  it('finds the token endpoint by discovery when given the issuer', async () => {
    const cc = clientCredentials({ issuer, clientId: 'svc', clientSecret: SVC_SECRET, scope: ['inventory:read'] });
    const res = await cc.fetch(`${stack.gatewayUrl}/inventory/x`);
    assert.equal(res.status, 200, await res.text());
  });

  it('client_secret_basic form-encodes id and secret (RFC 6749 §2.3.1) — a client with : + space % in both works', async () => {
    assert.equal(basicAuthorization('a b', 'c+d'), `Basic ${Buffer.from('a+b:c%2Bd').toString('base64')}`);
    const cc = clientCredentials({ issuer, clientId: WEIRD_ID, clientSecret: WEIRD_SECRET });
    const res = await cc.fetch(`${stack.gatewayUrl}/inventory/x`);
    const body = await readJson(res);
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.client_id, WEIRD_ID);
  });

  it('token endpoint errors surface as DrawbridgeOAuthError with error/error_description, never the secret', async () => {
    const wrongSecret = 'wrong-secret-do-not-print-0123456789';
    await assert.rejects(through({ clientSecret: wrongSecret }).token(), (err: unknown) => {
      assert.ok(err instanceof DrawbridgeOAuthError, String(err));
      assert.equal(err.error, 'invalid_client');
      assert.equal(err.status, 401);
      assert.ok(!err.message.includes(wrongSecret) && !String(err.stack).includes(wrongSecret));
      return true;
    });
    await assert.rejects(through({ scope: 'admin:everything' }).token(), (err: unknown) => {
      assert.ok(err instanceof DrawbridgeOAuthError);
      assert.equal(err.error, 'invalid_scope');
      assert.equal(err.status, 400);
      assert.equal(typeof err.error_description, 'string');
      return true;
    });
    // nobody listening: no answer at all
    const dead = `http://127.0.0.1:${await freePort()}/token`;
    await assert.rejects(
      clientCredentials({ tokenEndpoint: dead, clientId: 'svc', clientSecret: SVC_SECRET }).token(),
      (err: unknown) => err instanceof DrawbridgeOAuthError && err.error === 'temporarily_unavailable' && err.status === 0,
    );
    // a failed fetch is not cached: the same client succeeds once the endpoint answers
    const cc = through();
    relay.failNext = 1;
    await assert.rejects(cc.token(), (err: unknown) => err instanceof DrawbridgeOAuthError && err.error === 'temporarily_unavailable' && err.status === 503);
    assert.equal(typeof (await cc.token()), 'string');
    assert.throws(() => clientCredentials({ clientId: 'svc', clientSecret: SVC_SECRET }), TypeError);
  });

  it('a token without the callee\'s scope: its guard answers 403 insufficient_scope, passed through the gateway', async () => {
    const cc = through({ scope: 'orders:read' });
    const res = await cc.fetch(`${stack.gatewayUrl}/inventory/x`);
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope".*scope="inventory:read"/);
  });
});
