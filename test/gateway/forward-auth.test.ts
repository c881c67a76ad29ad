// The forward-auth decision endpoint spoken to directly, the way Traefik ForwardAuth
// (X-Forwarded-*) and Envoy ext_authz (original path appended, original Host) call it.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { headerValues, send } from './core-http.js';

const KEY_PARTNER = 'fa-partner-0123456789abcdefghij';
const KEY_ADMIN = 'fa-admin-0123456789abcdefghijkl';

describe('forward-auth decision endpoint', () => {
  let up: Upstream;
  let stack: Stack;
  let authz: string;

  before(async () => {
    up = await startUpstream({ name: 'orders' });
    stack = await startStack({
      gateway: {
        consumers: [
          { username: 'partner', groups: ['partners'], credentials: { 'key-auth': [{ key: KEY_PARTNER }] } },
          { username: 'boss', groups: ['admins'], credentials: { 'key-auth': [{ key: KEY_ADMIN }] } },
        ],
        services: [
          {
            name: 'orders',
            url: up.url,
            plugins: [{ name: 'key-auth' }, { name: 'basic-auth' }],
            routes: [
              { name: 'orders', hosts: ['api.test'], paths: ['/orders'] },
              { name: 'admin', hosts: ['api.test'], paths: ['/admin'], plugins: [{ name: 'acl', config: { allow: ['admins'] } }] },
            ],
          },
        ],
      },
    });
    authz = `${stack.gatewayUrl}/_drawbridge/authz`;
  });

  after(async () => {
    await stack?.close();
    await up?.close();
  });

  it('Traefik style: allow → 200 with the internal token and consumer headers; nothing is proxied', async () => {
    const res = await send(authz, {
      headers: {
        'x-forwarded-method': 'POST',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'api.test',
        'x-forwarded-uri': '/orders/7?full=1',
        apikey: KEY_PARTNER,
      },
    });
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['x-consumer-username'], 'partner');
    assert.equal(res.headers['x-consumer-groups'], 'partners');
    const auth = String(res.headers.authorization);
    assert.match(auth, /^Bearer /);
    const jwks = createRemoteJWKSet(new URL(stack.jwksUri!));
    const { payload } = await jwtVerify(auth.slice(7), jwks, { issuer: stack.issuer, audience: 'orders', typ: 'at+jwt' });
    assert.equal(payload.consumer, 'partner');
    assert.equal(payload.auth_method, 'key-auth');
    assert.equal(up.requests.length, 0);
  });

  it('deny without a credential → 401 with every challenge; a refused group → 403', async () => {
    const missing = await send(authz, { headers: { 'x-forwarded-host': 'api.test', 'x-forwarded-uri': '/orders/7', 'x-request-id': 'fa-401' } });
    assert.equal(missing.status, 401);
    assert.deepEqual(headerValues(missing, 'www-authenticate'), ['Key realm="drawbridge"', 'Basic realm="drawbridge", charset="UTF-8"']);
    assert.deepEqual(missing.json(), { error: 'unauthorized', error_description: 'authentication required', request_id: 'fa-401' });
    const refused = await send(authz, { headers: { 'x-forwarded-host': 'api.test', 'x-forwarded-uri': '/admin', apikey: KEY_PARTNER } });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().error, 'forbidden');
    const allowed = await send(authz, { headers: { 'x-forwarded-host': 'api.test', 'x-forwarded-uri': '/admin', apikey: KEY_ADMIN } });
    assert.equal(allowed.status, 200);
  });

  it('nginx style: X-Original-URI and X-Original-Method', async () => {
    const res = await send(authz, { headers: { host: 'api.test', 'x-original-uri': '/orders?x=1', 'x-original-method': 'DELETE', apikey: KEY_PARTNER } });
    assert.equal(res.status, 200);
  });

  it('Envoy style: the original path after the endpoint path, the original Host and method', async () => {
    const ok = await send(`${authz}/orders/9?a=b`, { method: 'PUT', headers: { host: 'api.test', apikey: KEY_ADMIN } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-consumer-username'], 'boss');
    const deny = await send(`${authz}/admin`, { headers: { host: 'api.test', apikey: KEY_PARTNER } });
    assert.equal(deny.status, 403);
  });

  it('a request no route matches → 404', async () => {
    const res = await send(authz, { headers: { 'x-forwarded-host': 'other.test', 'x-forwarded-uri': '/orders' } });
    assert.equal(res.status, 404);
    assert.equal(res.json().error, 'not_found');
  });

  it('a forwarded URI with a fragment (#) or route-changing path parameters (;) → 400, never the decision of another route', async () => {
    // nginx passes `$request_uri` as it came: `/admin#x` is path /admin to the service behind
    for (const uri of ['/admin#x', '/admin#/../orders/1', '/orders/1?a=1#x']) {
      const res = await send(authz, { headers: { 'x-forwarded-host': 'api.test', 'x-forwarded-uri': uri, apikey: KEY_PARTNER } });
      assert.equal(res.status, 400, uri);
      assert.equal(res.json().error, 'invalid_request');
    }
    const same = await send(authz, { headers: { 'x-forwarded-host': 'api.test', 'x-forwarded-uri': '/orders;jsessionid=1/7', apikey: KEY_PARTNER } });
    assert.equal(same.status, 200);
    // /admin;x/users is /admin/users to a servlet container: the admin route decides
    const admin = await send(authz, { headers: { 'x-forwarded-host': 'api.test', 'x-forwarded-uri': '/admin;x/users', apikey: KEY_PARTNER } });
    assert.equal(admin.status, 403);
  });
});

describe('forward-auth settings', () => {
  it('only peers in forward_auth.allow may ask; disabled, the path is an ordinary one', async () => {
    const up = await startUpstream({ name: 'any' });
    const restricted = await startStack({
      auth: false,
      gateway: { forward_auth: { allow: ['10.0.0.0/8'] }, services: [{ name: 'any', url: up.url, routes: [{ paths: ['/'] }] }] },
    });
    const disabled = await startStack({
      auth: false,
      gateway: { forward_auth: { enabled: false }, services: [{ name: 'any', url: up.url, routes: [{ paths: ['/'] }] }] },
    });
    try {
      const refused = await send(`${restricted.gatewayUrl}/_drawbridge/authz`, { headers: { 'x-forwarded-uri': '/x' } });
      assert.equal(refused.status, 403);
      assert.equal(refused.json().error_description, 'forward-auth is not allowed from this address');
      assert.equal(up.requests.length, 0);
      const proxied = await send(`${disabled.gatewayUrl}/_drawbridge/authz`);
      assert.equal(proxied.status, 200);
      assert.equal(up.last().url, '/_drawbridge/authz');
    } finally {
      await Promise.all([restricted.close(), disabled.close()]);
      await up.close();
    }
  });
});
