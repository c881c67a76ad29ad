// The proxy through a real gateway to real upstreams: routing by host/path, strip_path and
// preserve_host, what upstream receives (hop-by-hop stripped, X-Forwarded-*, X-Request-Id,
// traceparent, no spoofed identity headers), and the 404 body.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { connect } from 'node:net';
import { headerValues, send } from './core-http.js';

/** Sends `head` (a whole request) on a fresh connection; resolves with the status code of the answer. */
function rawStatus(base: string, head: string): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(head));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0)));
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('gateway proxy: routing and upstream headers', () => {
  let orders: Upstream;
  let admin: Upstream;
  let wild: Upstream;
  let stack: Stack;
  let gwHost: string;

  before(async () => {
    orders = await startUpstream({ name: 'orders' });
    admin = await startUpstream({ name: 'admin' });
    wild = await startUpstream({ name: 'wild' });
    stack = await startStack({
      auth: false,
      gateway: {
        strip_headers: ['x-internal-*', 'x-secret', 'Remote-User', 'tenant_*'],
        services: [
          {
            name: 'orders',
            url: `${orders.url}/base`,
            routes: [
              { name: 'orders', paths: ['/orders'] },
              { name: 'orders-raw', paths: ['/raw'], strip_path: false },
              { name: 'orders-host', hosts: ['api.example.test'], paths: ['/'], preserve_host: true },
            ],
          },
          { name: 'admin', url: admin.url, routes: [{ name: 'admin', paths: ['/admin'], methods: ['GET'] }] },
          { name: 'wild', url: wild.url, routes: [{ name: 'wild', hosts: ['*.example.test'] }] },
        ],
      },
    });
    gwHost = new URL(stack.gatewayUrl).host;
  });

  after(async () => {
    await stack?.close();
    await Promise.all([orders?.close(), admin?.close(), wild?.close()]);
  });

  it('strips the matched prefix and joins the service path', async () => {
    const res = await send(`${stack.gatewayUrl}/orders/42?expand=items&x=%20y`);
    assert.equal(res.status, 200);
    assert.equal(res.json().name, 'orders');
    assert.equal(orders.last().url, '/base/42?expand=items&x=%20y');
    assert.equal(orders.last().headers['x-forwarded-prefix'], '/orders');
    await send(`${stack.gatewayUrl}/orders`);
    assert.equal(orders.last().url, '/base');
  });

  it('strip_path: false keeps the path; the target host is sent unless preserve_host', async () => {
    await send(`${stack.gatewayUrl}/raw/1`);
    assert.equal(orders.last().url, '/base/raw/1');
    assert.equal(orders.last().headers.host, new URL(orders.url).host);
    assert.equal(orders.last().headers['x-forwarded-prefix'], undefined);
  });

  it('preserve_host sends the client Host; a plain host beats the wildcard route', async () => {
    const res = await send(`${stack.gatewayUrl}/p`, { headers: { host: 'api.example.test' } });
    assert.equal(res.json().name, 'orders');
    assert.equal(orders.last().headers.host, 'api.example.test');
    assert.equal(orders.last().url, '/base/p');
    const other = await send(`${stack.gatewayUrl}/p`, { headers: { host: 'www.example.test' } });
    assert.equal(other.json().name, 'wild');
    assert.equal(wild.last().headers.host, new URL(wild.url).host);
  });

  it('methods restrict a route; no route is a 404 with the §6 body', async () => {
    const res = await send(`${stack.gatewayUrl}/admin/x`, { method: 'DELETE', headers: { 'x-request-id': 'req-404' } });
    assert.equal(res.status, 404);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['x-request-id'], 'req-404');
    assert.deepEqual(res.json(), { error: 'not_found', error_description: 'no route matches the request', request_id: 'req-404' });
    assert.equal(admin.requests.length, 0);
  });

  it('normalizes the path before routing and forwards the normalized path', async () => {
    const res = await send(`${stack.gatewayUrl}/orders/../admin/%61`);
    assert.equal(res.json().name, 'admin');
    assert.equal(admin.last().url, '/a');
    const bad = await send(`${stack.gatewayUrl}/orders/%zz`);
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error, 'invalid_request');
  });

  it('hop-by-hop request headers never reach upstream', async () => {
    await send(`${stack.gatewayUrl}/orders/h`, {
      headers: {
        connection: 'keep-alive, x-hop',
        'x-hop': 'secret-per-hop',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'proxy-authorization': 'Basic eDp5',
        'x-custom': 'kept',
      },
    });
    const h = orders.last().headers;
    assert.equal(h['x-hop'], undefined);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h.te, undefined);
    assert.equal(h['proxy-authorization'], undefined);
    assert.equal(h['x-custom'], 'kept');
    assert.notEqual(h.connection, 'keep-alive, x-hop');
  });

  it('spoofable identity headers and configured extras are removed', async () => {
    await send(`${stack.gatewayUrl}/orders/s`, {
      headers: {
        'x-consumer-username': 'admin',
        'x-consumer-id': '1',
        'x-consumer-groups': 'admins',
        'x-userinfo': 'eyJ9',
        'x-drawbridge-user': 'root',
        'x-credential-identifier': 'k',
        'x-authenticated-userid': 'root',
        'x-anonymous-consumer': 'false',
        'x-internal-role': 'admin',
        'x-secret': 's',
        'x-secretive': 'kept',
        authorization: 'Bearer client-token',
      },
    });
    const h = orders.last().headers;
    for (const name of [
      'x-consumer-username',
      'x-consumer-id',
      'x-consumer-groups',
      'x-userinfo',
      'x-drawbridge-user',
      'x-credential-identifier',
      'x-authenticated-userid',
      'x-anonymous-consumer',
      'x-internal-role',
      'x-secret',
    ]) {
      assert.equal(h[name], undefined, name);
    }
    assert.equal(h['x-secretive'], 'kept');
    // configured names without "x-" are removed too
    await send(`${stack.gatewayUrl}/orders/s`, { headers: { 'remote-user': 'root', remote_user: 'root', 'tenant-id': '7', 'remote-users': 'kept' } });
    const configured = orders.last().headers;
    for (const name of ['remote-user', 'remote_user', 'tenant-id']) assert.equal(configured[name], undefined, name);
    assert.equal(configured['remote-users'], 'kept');
    // no authenticator on this route: the client's Authorization passes unchanged (as in Kong)
    assert.equal(h.authorization, 'Bearer client-token');
  });

  it('the same fields spelt with underscores are removed too (CGI-style servers read X_Consumer_Id as X-Consumer-Id)', async () => {
    await send(`${stack.gatewayUrl}/orders/u`, {
      headers: { x_consumer_username: 'admin', 'x-consumer_groups': 'admins', x_userinfo: 'e30', x_forwarded_for: '6.6.6.6', x_real_ip: '6.6.6.6', x_internal_role: 'admin', x_custom: 'kept' },
    });
    const h = orders.last().headers;
    for (const name of ['x_consumer_username', 'x-consumer_groups', 'x_userinfo', 'x_forwarded_for', 'x_real_ip', 'x_internal_role']) assert.equal(h[name], undefined, name);
    assert.equal(h.x_custom, 'kept');
    assert.notEqual(h['x-forwarded-for'], '6.6.6.6');
  });

  it('X-Forwarded-* from an untrusted client are replaced', async () => {
    await send(`${stack.gatewayUrl}/orders/f`, {
      headers: {
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.test',
        'x-forwarded-port': '1',
        'x-forwarded-prefix': '/evil',
        'x-real-ip': '6.6.6.6',
        forwarded: 'for=6.6.6.6',
      },
    });
    const h = orders.last().headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], gwHost);
    assert.equal(h['x-forwarded-port'], new URL(stack.gatewayUrl).port);
    assert.equal(h['x-forwarded-prefix'], '/orders');
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h.forwarded, undefined);
  });

  it('no Host (HTTP/1.0) or an empty one: no X-Forwarded-Host at all, never an empty one', async () => {
    for (const head of ['GET /orders/nohost HTTP/1.0\r\n\r\n', 'GET /orders/nohost HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n']) {
      orders.reset();
      assert.equal(await rawStatus(stack.gatewayUrl, head), 200, head);
      const rec = orders.last();
      assert.equal(rec.url, '/base/nohost');
      assert.ok(!rec.rawHeaders.some((name) => name.toLowerCase() === 'x-forwarded-host'), `${head}: ${rec.rawHeaders.join('|')}`);
      assert.equal(rec.headers['x-forwarded-proto'], 'http');
      assert.equal(rec.headers.host, new URL(orders.url).host);
    }
    // a client's own X-Forwarded-Host does not fill the gap: it is dropped as always
    orders.reset();
    assert.equal(await rawStatus(stack.gatewayUrl, 'GET /orders/nohost HTTP/1.0\r\nX-Forwarded-Host: evil.test\r\n\r\n'), 200);
    assert.equal(orders.last().headers['x-forwarded-host'], undefined);
  });

  it('X-Request-Id is kept when valid, generated otherwise, and matches the response', async () => {
    const kept = await send(`${stack.gatewayUrl}/orders/r`, { headers: { 'x-request-id': 'abc-123.x:y_z' } });
    assert.equal(orders.last().headers['x-request-id'], 'abc-123.x:y_z');
    assert.equal(kept.headers['x-request-id'], 'abc-123.x:y_z');
    const replaced = await send(`${stack.gatewayUrl}/orders/r`, { headers: { 'x-request-id': 'bad id <script>' } });
    const id = orders.last().headers['x-request-id'] as string;
    assert.match(id, UUID);
    assert.equal(replaced.headers['x-request-id'], id);
  });

  it('traceparent and tracestate pass through unchanged', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await send(`${stack.gatewayUrl}/orders/t`, { headers: { traceparent, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' } });
    assert.equal(orders.last().headers.traceparent, traceparent);
    assert.equal(orders.last().headers.tracestate, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
  });

  it('request bodies and methods are forwarded', async () => {
    const res = await send(`${stack.gatewayUrl}/orders/b`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'hello body' });
    assert.equal(res.status, 200);
    assert.equal(orders.last().method, 'PUT');
    assert.equal(orders.last().body.toString(), 'hello body');
    assert.equal(orders.last().headers['content-length'], '10');
  });
});

describe('gateway proxy: trusted proxies and response headers', () => {
  let up: Upstream;
  let stack: Stack;

  before(async () => {
    up = await startUpstream({
      name: 'resp',
      handler(req, res) {
        req.resume();
        res.setHeader('connection', 'x-up-hop');
        res.setHeader('x-up-hop', 'per-hop');
        res.setHeader('keep-alive', 'timeout=99');
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.setHeader('x-upstream', 'yes');
        res.end('ok');
      },
    });
    stack = await startStack({
      auth: false,
      gateway: {
        trusted_proxies: ['127.0.0.0/8', '10.0.0.0/8'],
        services: [{ name: 'resp', url: up.url, routes: [{ paths: ['/'] }] }],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await up?.close();
  });

  it('a trusted peer keeps X-Forwarded-* and is appended to X-Forwarded-For', async () => {
    await send(`${stack.gatewayUrl}/x`, {
      headers: { 'x-forwarded-for': '203.0.113.9, 10.1.2.3', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.test', 'x-forwarded-port': '443' },
    });
    const h = up.last().headers;
    assert.equal(h['x-forwarded-for'], '203.0.113.9, 10.1.2.3, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-host'], 'shop.test');
    assert.equal(h['x-forwarded-port'], '443');
    // the client is the rightmost address that is not a trusted proxy
    assert.equal(h['x-real-ip'], '203.0.113.9');
  });

  it('a trusted peer without Host or X-Forwarded-Host: no X-Forwarded-Host; with one: theirs', async () => {
    up.reset();
    assert.equal(await rawStatus(stack.gatewayUrl, 'GET /x HTTP/1.0\r\n\r\n'), 200);
    assert.ok(!up.last().rawHeaders.some((name) => name.toLowerCase() === 'x-forwarded-host'), up.last().rawHeaders.join('|'));
    assert.equal(await rawStatus(stack.gatewayUrl, 'GET /x HTTP/1.0\r\nX-Forwarded-Host: shop.test\r\n\r\n'), 200);
    assert.equal(up.last().headers['x-forwarded-host'], 'shop.test');
  });

  it('response hop-by-hop headers are dropped, repeated fields kept', async () => {
    const res = await send(`${stack.gatewayUrl}/x`);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'ok');
    assert.equal(res.headers['x-up-hop'], undefined);
    assert.equal(res.headers['keep-alive'], undefined);
    assert.equal(res.headers['x-upstream'], 'yes');
    assert.deepEqual(headerValues(res, 'set-cookie'), ['a=1', 'b=2']);
  });
});
