// `OPTIONS *` (asterisk-form, RFC 9110 §9.3.7, RFC 9112 §3.2.4): a question about the server,
// not about a resource. The gateway listener answers it itself — 200, `Allow` naming the
// methods its routes proxy (from the route table in use, so a change through the admin API
// shows at once), no body, no routing and no plugin (a global key-auth does not ask for a
// key) — and so does the admin listener, with the methods of the admin API. Any other
// method with `*` is still a 400.
import * as assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { ADMIN_TOKEN, admin, adminUrlOf } from './admin-support.js';

/** Writes `data` and collects everything until the server closes (or `waitMs` passes). */
function raw(base: string, data: string, waitMs = 2000): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('connect', () => socket.write(data));
  });
}

interface Parsed {
  status: number;
  headers: Map<string, string[]>;
  body: string;
}

/** The first response of `text` (its head and whatever follows the blank line). */
function parse(text: string): Parsed {
  const end = text.indexOf('\r\n\r\n');
  assert.notEqual(end, -1, `no complete response head: ${JSON.stringify(text)}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3}) /.exec(statusLine!)?.[1] ?? 0), headers, body: text.slice(end + 4) };
}

const EVERY_METHOD = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE';

describe('OPTIONS * (RFC 9110 §9.3.7)', () => {
  let upstream: Upstream;
  let stack: Stack;
  let gw: string;
  let adminBase: string;

  before(async () => {
    upstream = await startUpstream();
    stack = await startStack({
      auth: false,
      gateway: {
        admin_listen: '127.0.0.1:0',
        admin_token: ADMIN_TOKEN,
        consumers: [{ username: 'ada', credentials: { 'key-auth': [{ key: 'ada-key-0123456789' }] } }],
        // every route needs a key: OPTIONS * must not
        plugins: [{ name: 'key-auth' }],
        services: [
          {
            name: 'orders',
            url: upstream.url,
            routes: [
              { name: 'read', paths: ['/orders'], methods: ['GET', 'POST'] },
              { name: 'write', paths: ['/orders/write'], methods: ['PUT', 'propfind'] },
            ],
          },
        ],
      },
    });
    gw = stack.gatewayUrl;
    adminBase = adminUrlOf(stack);
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  it('is answered by the gateway: 200, Allow with the methods its routes proxy, no body, nothing proxied, no credential asked for', async () => {
    upstream.reset();
    const res = parse(await raw(gw, 'OPTIONS * HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n'));
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.headers.get('allow'), ['GET, POST, PUT, OPTIONS, PROPFIND']);
    assert.deepEqual(res.headers.get('content-length'), ['0']);
    assert.equal(res.body, '');
    assert.equal(res.headers.get('www-authenticate'), undefined);
    assert.match(res.headers.get('x-request-id')?.[0] ?? '', /./);
    // HTTP/1.0 without Host too
    const old = parse(await raw(gw, 'OPTIONS * HTTP/1.0\r\n\r\n'));
    assert.equal(old.status, 200);
    assert.deepEqual(old.headers.get('allow'), ['GET, POST, PUT, OPTIONS, PROPFIND']);
    assert.equal(upstream.requests.length, 0);
  });

  it('keeps the connection for the next request; with a body (not read: nothing bounds it) the connection closes after the answer', async () => {
    const next = 'GET /orders HTTP/1.1\r\nHost: gw.test\r\napikey: ada-key-0123456789\r\nConnection: close\r\n\r\n';
    const text = await raw(gw, 'OPTIONS * HTTP/1.1\r\nHost: gw.test\r\n\r\n' + next);
    assert.deepEqual([...text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => m[1]), ['200', '200'], text);
    const withBody = await raw(gw, 'OPTIONS * HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 100000\r\n\r\nhello');
    assert.deepEqual([...withBody.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => m[1]), ['200'], withBody);
    assert.deepEqual(parse(withBody).headers.get('connection'), ['close']);
  });

  it('any other method with * (or * with a query) is still a 400', async () => {
    upstream.reset();
    for (const line of ['GET * HTTP/1.1', 'POST * HTTP/1.1', 'OPTIONS *?x=1 HTTP/1.1', 'OPTIONS *x HTTP/1.1']) {
      const res = parse(await raw(gw, `${line}\r\nHost: gw.test\r\nConnection: close\r\n\r\n`));
      assert.equal(res.status, 400, `${line}: ${res.body}`);
      assert.equal(JSON.parse(res.body).error, 'invalid_request', line);
    }
    assert.equal(upstream.requests.length, 0);
  });

  it('Allow follows the route table in use: a route without methods, added through the admin API, proxies every method', async () => {
    assert.equal((await admin(adminBase, 'POST', '/services/orders/routes', { name: 'any', paths: ['/any'] })).status, 201);
    const res = parse(await raw(gw, 'OPTIONS * HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(res.headers.get('allow'), [`${EVERY_METHOD}, PROPFIND`]);
    // what Allow names does go upstream (TRACE too, on a route without methods)
    upstream.reset();
    for (const [method, path] of [['TRACE', '/any'], ['PATCH', '/any'], ['PROPFIND', '/orders/write']]) {
      const text = await raw(gw, `${method} ${path} HTTP/1.1\r\nHost: gw.test\r\napikey: ada-key-0123456789\r\nConnection: close\r\n\r\n`);
      assert.equal(parse(text).status, 200, `${method} ${path}: ${text}`);
      assert.equal(upstream.last().method, method);
    }
    assert.equal((await admin(adminBase, 'DELETE', '/routes/any')).status, 204);
    const after = parse(await raw(gw, 'OPTIONS * HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(after.headers.get('allow'), ['GET, POST, PUT, OPTIONS, PROPFIND']);
  });

  it('is answered by the admin listener with the admin API methods, without the token; other methods with * are a 400', async () => {
    const res = parse(await raw(adminBase, 'OPTIONS * HTTP/1.1\r\nHost: admin.test\r\nConnection: close\r\n\r\n'));
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.headers.get('allow'), ['GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS']);
    assert.deepEqual(res.headers.get('content-length'), ['0']);
    assert.equal(res.body, '');
    // a body is not read past either: the connection closes after the answer
    const withBody = await raw(adminBase, 'OPTIONS * HTTP/1.1\r\nHost: admin.test\r\nContent-Length: 100000\r\n\r\nhello');
    assert.deepEqual([...withBody.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => m[1]), ['200'], withBody);
    assert.deepEqual(parse(withBody).headers.get('connection'), ['close']);
    for (const line of ['GET * HTTP/1.1', 'DELETE * HTTP/1.1', 'OPTIONS *?x=1 HTTP/1.1']) {
      const refused = parse(await raw(adminBase, `${line}\r\nHost: admin.test\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nConnection: close\r\n\r\n`));
      assert.equal(refused.status, 400, `${line}: ${refused.body}`);
      assert.equal(JSON.parse(refused.body).error, 'invalid_request', line);
    }
  });
});
