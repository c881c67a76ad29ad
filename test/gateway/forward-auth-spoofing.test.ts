// The forward-auth decision endpoint when the client adds forwarding headers of its own.
// Every proxy passes the client's other headers on to the decision request: nginx
// (auth_request) sets X-Original-URI/-Method and Host but passes a client's X-Forwarded-*,
// Traefik sets X-Forwarded-* but passes a client's X-Original-*, Envoy appends the path but
// passes whatever its allowed_headers let through. A description of the original request
// that disagrees with another one must never decide for the wrong route or method: it is
// refused with 403 (which nginx, Traefik and Envoy all pass on as a denial). And the
// client address is the rightmost X-Forwarded-For hop the asking proxy wrote; hops further
// left count only behind gateway.trusted_proxies, never because they are in
// forward_auth.allow (whose default holds every private range).
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { send } from './core-http.js';

const KEY = 'fa-spoof-0123456789abcdefghijkl';

describe('forward-auth: conflicting descriptions of the original request', () => {
  let up: Upstream;
  let stack: Stack;
  let authz: string;

  before(async () => {
    up = await startUpstream({ name: 'orders' });
    stack = await startStack({
      gateway: {
        consumers: [{ username: 'partner', credentials: { 'key-auth': [{ key: KEY }] } }],
        services: [
          {
            name: 'orders',
            url: up.url,
            routes: [
              { name: 'public', hosts: ['www.test'], paths: ['/'] },
              { name: 'open', hosts: ['api.test'], paths: ['/public'] },
              { name: 'read', hosts: ['api.test'], paths: ['/orders'], methods: ['GET'] },
              { name: 'admin', hosts: ['api.test'], paths: ['/'], plugins: [{ name: 'key-auth' }] },
              {
                name: 'office',
                hosts: ['api.test'],
                paths: ['/office'],
                plugins: [{ name: 'ip-restriction', config: { allow: ['203.0.113.0/24'] } }],
              },
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

  it('nginx: a client X-Forwarded-Uri/-Method/-Host cannot replace X-Original-URI/-Method and Host', async () => {
    const nginx = { host: 'api.test', 'x-original-uri': '/admin/users', 'x-original-method': 'DELETE' };
    assert.equal((await send(authz, { headers: nginx })).status, 401);
    const spoofs: Array<Record<string, string>> = [
      { 'x-forwarded-uri': '/public' },
      { 'x-forwarded-uri': '/orders', 'x-forwarded-method': 'GET' },
      { 'x-forwarded-host': 'www.test' },
      { 'x-forwarded-method': 'GET' },
    ];
    for (const spoof of spoofs) {
      const res = await send(authz, { headers: { ...nginx, ...spoof } });
      assert.equal(res.status, 403, JSON.stringify(spoof));
      assert.equal(res.json().error, 'forbidden');
      assert.equal(res.headers.authorization, undefined);
    }
    // the same description twice is no conflict
    const same = await send(authz, { headers: { ...nginx, 'x-forwarded-uri': '/admin/users', 'x-forwarded-host': 'API.test', apikey: KEY } });
    assert.equal(same.status, 200);
  });

  it('Traefik: a client X-Original-URI/-Method cannot replace X-Forwarded-*', async () => {
    const traefik = { host: 'gateway.internal', 'x-forwarded-host': 'api.test', 'x-forwarded-uri': '/admin', 'x-forwarded-method': 'POST' };
    assert.equal((await send(authz, { headers: traefik })).status, 401);
    const spoofs: Array<Record<string, string>> = [{ 'x-original-uri': '/public' }, { 'x-original-method': 'GET', 'x-original-uri': '/admin' }];
    for (const spoof of spoofs) {
      const res = await send(authz, { headers: { ...traefik, ...spoof } });
      assert.equal(res.status, 403, JSON.stringify(spoof));
    }
    // a client X-Original-URI that repeats the real one must not switch to Host (the proxy's own)
    const host = await send(authz, { headers: { ...traefik, 'x-original-uri': '/admin', host: 'www.test' } });
    assert.equal(host.status, 403);
  });

  it('Envoy: the path after the endpoint and the method of the call win over client headers', async () => {
    assert.equal((await send(`${authz}/admin`, { method: 'DELETE', headers: { host: 'api.test' } })).status, 401);
    const spoofs: Array<Record<string, string>> = [
      { 'x-forwarded-uri': '/public' },
      { 'x-original-uri': '/public' },
      { 'x-forwarded-method': 'GET' },
      { 'x-forwarded-host': 'www.test' },
    ];
    for (const spoof of spoofs) {
      const res = await send(`${authz}/admin`, { method: 'DELETE', headers: { host: 'api.test', ...spoof } });
      assert.equal(res.status, 403, JSON.stringify(spoof));
    }
  });

  it('a repeated forwarding header is refused, not read as one', async () => {
    const res = await send(authz, { headers: { host: 'api.test', 'x-forwarded-host': 'api.test', 'x-forwarded-uri': ['/public', '/admin'] } });
    assert.equal(res.status, 403);
  });

  it('X-Forwarded-For: the hop the proxy wrote is the client, even when it is in forward_auth.allow', async () => {
    const office = { 'x-forwarded-host': 'api.test', 'x-forwarded-uri': '/office/plan' };
    const inside = await send(authz, { headers: { ...office, 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(inside.status, 200);
    // the client 10.1.2.3 (a private address, in the default allow list) wrote the first hop itself
    const spoofed = await send(authz, { headers: { ...office, 'x-forwarded-for': '203.0.113.9, 10.1.2.3' } });
    assert.equal(spoofed.status, 403);
    assert.equal(spoofed.json().error_description, 'Your IP address is not allowed');
    // garbage in the chain: the proxy's own hop still names the client
    const garbage = await send(authz, { headers: { ...office, 'x-forwarded-for': 'nonsense, 10.1.2.3' } });
    assert.equal(garbage.status, 403);
  });
});

describe('forward-auth: X-Forwarded-For behind gateway.trusted_proxies', () => {
  it('walks left past hops in trusted_proxies only', async () => {
    const up = await startUpstream({ name: 'orders' });
    const stack = await startStack({
      auth: false,
      gateway: {
        trusted_proxies: ['10.9.0.0/16'],
        services: [
          {
            name: 'orders',
            url: up.url,
            routes: [{ paths: ['/office'], plugins: [{ name: 'ip-restriction', config: { allow: ['203.0.113.0/24'] } }] }],
          },
        ],
      },
    });
    try {
      const authz = `${stack.gatewayUrl}/_drawbridge/authz`;
      const behindLb = await send(authz, { headers: { 'x-forwarded-uri': '/office', 'x-forwarded-for': '203.0.113.9, 10.9.0.1' } });
      assert.equal(behindLb.status, 200);
      const untrusted = await send(authz, { headers: { 'x-forwarded-uri': '/office', 'x-forwarded-for': '203.0.113.9, 10.8.0.1' } });
      assert.equal(untrusted.status, 403);
    } finally {
      await stack.close();
      await up.close();
    }
  });
});
