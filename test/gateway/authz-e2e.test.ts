// acl and scopes through the real gateway, with real authenticators (key-auth for
// consumers, jwt for tokens with scopes and groups) in front of a recording upstream.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';

const ISSUER = 'https://idp.example.test';

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

describe('acl and scopes through the gateway', () => {
  let upstream: Upstream;
  let stack: Stack;
  let signToken: (claims: Record<string, unknown>) => Promise<string>;

  before(async () => {
    upstream = await startUpstream();
    const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
    const publicJwk = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    signToken = (claims) =>
      new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setSubject('user-42')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    const keyAuth = { name: 'key-auth' };
    const jwt = { name: 'jwt', config: { issuers: [{ issuer: ISSUER, keys: [publicJwk], algorithms: ['ES256'] }] } };
    stack = await startStack({
      auth: false,
      gateway: {
        consumers: [
          { username: 'ada', groups: ['admin'], credentials: { 'key-auth': [{ key: 'ada-key-0123456789' }] } },
          { username: 'bob', groups: ['users'], credentials: { 'key-auth': [{ key: 'bob-key-0123456789' }] } },
          { username: 'eve', groups: ['users', 'banned'], credentials: { 'key-auth': [{ key: 'eve-key-0123456789' }] } },
          { username: 'carl', credentials: { 'basic-auth': [{ username: 'carl', password: 'carl-password-0123' }] } },
          { username: 'guest' },
        ],
        services: [
          {
            name: 'admin',
            url: upstream.url,
            routes: [{ paths: ['/admin'] }],
            plugins: [keyAuth, { name: 'acl', config: { allow: ['admin'] } }],
          },
          {
            name: 'shop',
            url: upstream.url,
            routes: [{ paths: ['/shop'] }],
            plugins: [keyAuth, { name: 'acl', config: { deny: ['banned'], hide_groups_header: true } }],
          },
          {
            name: 'staff',
            url: upstream.url,
            routes: [{ paths: ['/staff'] }],
            plugins: [jwt, { name: 'acl', config: { allow: ['staff'] } }],
          },
          { name: 'open', url: upstream.url, routes: [{ paths: ['/open'] }], plugins: [{ name: 'acl', config: { allow: ['admin'] } }] },
          {
            name: 'orders',
            url: upstream.url,
            routes: [{ paths: ['/orders'] }],
            plugins: [jwt, { name: 'scopes', config: { required: ['orders'], methods: { POST: ['orders:write'], DELETE: ['orders:admin'] } } }],
          },
          {
            // a token, an API key, a password, or no credential at all (the guest consumer)
            name: 'reports',
            url: upstream.url,
            routes: [{ paths: ['/reports'] }],
            plugins: [jwt, keyAuth, { name: 'basic-auth', config: { anonymous: 'guest' } }, { name: 'scopes', config: { required: ['reports'] } }],
          },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  it('acl allow: a member gets through, everyone else gets 403 JSON', async () => {
    upstream.reset();
    const ok = await call(`${stack.gatewayUrl}/admin/x`, { headers: { apikey: 'ada-key-0123456789' } });
    assert.equal(ok.status, 200);
    assert.equal(upstream.requests.length, 1);
    assert.equal(upstream.last().headers['x-consumer-groups'], 'admin');

    const refused = await call(`${stack.gatewayUrl}/admin/x`, { headers: { apikey: 'bob-key-0123456789', 'x-request-id': 'acl-1' } });
    assert.equal(refused.status, 403);
    assert.deepEqual(refused.body, { error: 'forbidden', error_description: 'you cannot consume this service', request_id: 'acl-1' });
    assert.equal(refused.headers.get('www-authenticate'), null);
    assert.equal(refused.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(upstream.requests.length, 1, 'a refused request never reaches upstream');
  });

  it('acl deny: members of a denied group get 403, everyone else through', async () => {
    upstream.reset();
    assert.equal((await call(`${stack.gatewayUrl}/shop`, { headers: { apikey: 'bob-key-0123456789' } })).status, 200);
    // hide_groups_header: the groups travel in the internal token only
    assert.equal(upstream.last().headers['x-consumer-groups'], undefined);
    assert.equal(upstream.last().headers['x-consumer-username'], 'bob');
    const eve = await call(`${stack.gatewayUrl}/shop`, { headers: { apikey: 'eve-key-0123456789' } });
    assert.equal(eve.status, 403);
    assert.equal(eve.body.error, 'forbidden');
    assert.equal(upstream.requests.length, 1);
  });

  it('acl checks the groups of a token identity (jwt `groups` claim)', async () => {
    upstream.reset();
    const staff = await signToken({ groups: ['staff'] });
    assert.equal((await call(`${stack.gatewayUrl}/staff`, { headers: { authorization: `Bearer ${staff}` } })).status, 200);
    assert.equal(upstream.last().headers['x-consumer-groups'], 'staff');
    const other = await signToken({ groups: ['users'] });
    assert.equal((await call(`${stack.gatewayUrl}/staff`, { headers: { authorization: `Bearer ${other}` } })).status, 403);
    assert.equal(upstream.requests.length, 1);
  });

  it('authentication still comes first: no credential is 401 with the challenge, not 403', async () => {
    const res = await call(`${stack.gatewayUrl}/admin`);
    assert.equal(res.status, 401);
    assert.ok(res.headers.get('www-authenticate'));
  });

  it('acl on a route without authentication refuses with 403 "no consumer identified"', async () => {
    upstream.reset();
    const res = await call(`${stack.gatewayUrl}/open`, { headers: { 'x-request-id': 'acl-open' } });
    assert.equal(res.status, 403);
    assert.deepEqual(res.body, { error: 'forbidden', error_description: 'no consumer identified', request_id: 'acl-open' });
    assert.equal(upstream.requests.length, 0);
  });

  it('scopes per method: 403 insufficient_scope with the Bearer challenge naming what is missing', async () => {
    upstream.reset();
    const reader = await signToken({ scope: 'orders' });
    const auth = { authorization: `Bearer ${reader}` };
    assert.equal((await call(`${stack.gatewayUrl}/orders/1`, { headers: auth })).status, 200);
    assert.equal((await call(`${stack.gatewayUrl}/orders/1`, { method: 'PUT', headers: auth })).status, 200);

    const post = await call(`${stack.gatewayUrl}/orders`, { method: 'POST', headers: { ...auth, 'x-request-id': 'sc-1' } });
    assert.equal(post.status, 403);
    assert.equal(post.headers.get('www-authenticate'), 'Bearer realm="drawbridge", error="insufficient_scope", scope="orders orders:write"');
    assert.deepEqual(post.body, { error: 'insufficient_scope', error_description: 'requires scope: orders orders:write', request_id: 'sc-1' });

    const writer = await signToken({ scope: 'orders:write orders' });
    assert.equal((await call(`${stack.gatewayUrl}/orders`, { method: 'POST', headers: { authorization: `Bearer ${writer}` } })).status, 200);
    const del = await call(`${stack.gatewayUrl}/orders/1`, { method: 'DELETE', headers: { authorization: `Bearer ${writer}` } });
    assert.equal(del.status, 403);
    assert.equal(del.headers.get('www-authenticate'), 'Bearer realm="drawbridge", error="insufficient_scope", scope="orders orders:admin"');

    const none = await signToken({});
    const get = await call(`${stack.gatewayUrl}/orders/1`, { headers: { authorization: `Bearer ${none}` } });
    assert.equal(get.status, 403);
    assert.equal(get.headers.get('www-authenticate'), 'Bearer realm="drawbridge", error="insufficient_scope", scope="orders"');
    assert.equal(upstream.requests.length, 3);
  });

  it('scopes: the insufficient_scope challenge is for Bearer-token callers only; an API key, a password or no credential gets the 403 without one', async () => {
    upstream.reset();
    const token = await signToken({ scope: 'other' });
    const bearer = await call(`${stack.gatewayUrl}/reports`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(bearer.status, 403);
    assert.equal(bearer.headers.get('www-authenticate'), 'Bearer realm="drawbridge", error="insufficient_scope", scope="reports"');
    const callers: Array<[string, Record<string, string>]> = [
      ['key-auth', { apikey: 'bob-key-0123456789' }],
      ['basic-auth', { authorization: `Basic ${Buffer.from('carl:carl-password-0123').toString('base64')}` }],
      ['anonymous', {}],
    ];
    for (const [method, headers] of callers) {
      const res = await call(`${stack.gatewayUrl}/reports`, { headers: { ...headers, 'x-request-id': `sc-${method}` } });
      assert.equal(res.status, 403, method);
      assert.equal(res.headers.get('www-authenticate'), null, method);
      assert.deepEqual(res.body, { error: 'insufficient_scope', error_description: 'requires scope: reports', request_id: `sc-${method}` }, method);
    }
    assert.equal(upstream.requests.length, 0);
  });
});
