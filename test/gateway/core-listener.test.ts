// The gateway listener: TLS termination with HSTS (a self-signed certificate made with the
// openssl CLI), /healthz and /readyz, reload swapping routes without dropping a request in
// flight, and a graceful drain on close.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/config/schema.js';
import { startStack, startUpstream, TEST_SECRET, type Stack, type Upstream } from '../helpers/gateway.js';
import { send } from './core-http.js';
import { selfSigned } from '../helpers/tls.js';

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Bytes sent over a plain TCP connection; everything that came back until the connection closed. */
function rawExchange(url: string, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (got += c));
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

describe('gateway listener: TLS and HSTS', () => {
  let dir: string;
  let cert: Buffer;
  let up: Upstream;
  let stack: Stack;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-tls-'));
    const pair = selfSigned(dir, 'localhost');
    cert = readFileSync(pair.cert);
    up = await startUpstream({ name: 'tls' });
    stack = await startStack({
      auth: false,
      gateway: {
        tls: pair,
        hsts: { max_age: '180d', include_subdomains: true },
        services: [{ name: 'tls', url: up.url, routes: [{ paths: ['/'] }] }],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await up?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('terminates TLS, sends HSTS, and tells upstream the client used https', async () => {
    assert.match(stack.gatewayUrl, /^https:\/\//);
    const res = await httpsGet(`${stack.gatewayUrl}/secure`, cert);
    assert.equal(res.status, 200);
    assert.equal(res.headers['strict-transport-security'], 'max-age=15552000; includeSubDomains');
    assert.equal(up.last().headers['x-forwarded-proto'], 'https');
    assert.equal(up.last().url, '/secure');
  });

  // nginx answers "400 The plain HTTP request was sent to HTTPS port"; a silent close left
  // curl with "Empty reply from server" and no hint to use https.
  it('plain HTTP sent to the TLS port gets a plain-HTTP 400 saying to use https, and TLS keeps working', async () => {
    const raw = await rawExchange(stack.gatewayUrl, 'GET /secure HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(raw, /\r\nconnection: close\r\n/i);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
    assert.equal(body.error, 'invalid_request');
    assert.match(body.error_description!, /https/);
    assert.match(body.request_id!, /^[0-9a-f-]{36}$/);
    const res = await httpsGet(`${stack.gatewayUrl}/secure`, cert);
    assert.equal(res.status, 200);
  });

  it('a connection that sends neither TLS nor HTTP is closed without an answer', async () => {
    const raw = await rawExchange(stack.gatewayUrl, Buffer.from([0x00, 0x01, 0x02, 0x03]));
    assert.equal(raw, '');
  });

  it('HSTS is on error responses too', async () => {
    const res = await httpsGet(`${stack.gatewayUrl}/%zz`, cert);
    assert.equal(res.status, 400);
    assert.equal(res.headers['strict-transport-security'], 'max-age=15552000; includeSubDomains');
  });
});

describe('gateway listener: health, reload and drain', () => {
  let v1: Upstream;
  let v2: Upstream;
  let stack: Stack;
  const held: Array<() => void> = [];
  let arrived: () => void;
  let heldArrived = new Promise<void>((r) => (arrived = r));

  function gatewaySection(routes: Array<{ name: string; url: string; path: string }>) {
    return {
      listen: new URL(stack?.gatewayUrl ?? 'http://127.0.0.1:0').host,
      services: routes.map((r) => ({ name: r.name, url: r.url, routes: [{ paths: [r.path] }] })),
    };
  }

  function configWith(gateway: Record<string, unknown>) {
    return validateConfig({ issuer: stack.issuer, storage: 'memory:', secret: TEST_SECRET, gateway });
  }

  before(async () => {
    v1 = await startUpstream({
      name: 'v1',
      handler(req, res) {
        req.resume();
        if (req.url?.startsWith('/hold')) {
          held.push(() => res.end('v1-held'));
          arrived();
          return;
        }
        res.end('v1');
      },
    });
    v2 = await startUpstream({ name: 'v2' });
    stack = await startStack({ auth: false, gateway: { services: [{ name: 'v1', url: v1.url, routes: [{ paths: ['/v1'] }] }] } });
  });

  after(async () => {
    for (const release of held) release();
    await stack?.close();
    await Promise.all([v1?.close(), v2?.close()]);
  });

  it('/healthz and /readyz answer on the gateway listener, without HSTS on plain HTTP', async () => {
    const health = await send(`${stack.gatewayUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
    const ready = await send(`${stack.gatewayUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json(), { status: 'ready', checks: { storage: 'ok' } });
    const res = await send(`${stack.gatewayUrl}/v1/x`);
    assert.equal(res.headers['strict-transport-security'], undefined);
  });

  it('reload swaps the routes; a request in flight finishes on the old table', async () => {
    const inFlight = send(`${stack.gatewayUrl}/v1/hold`);
    await heldArrived;
    await stack.gateway.reload(configWith(gatewaySection([{ name: 'v2', url: v2.url, path: '/v2' }])));
    assert.deepEqual(stack.gateway.routes.map((r) => r.service.name), ['v2']);
    const now = await send(`${stack.gatewayUrl}/v2/y`);
    assert.equal(now.status, 200);
    assert.equal(now.json().name, 'v2');
    assert.equal((await send(`${stack.gatewayUrl}/v1/x`)).status, 404);
    held.shift()!();
    const old = await inFlight;
    assert.equal(old.status, 200);
    assert.equal(old.text, 'v1-held');
  });

  it('a bad reload is refused and the running routes stay', async () => {
    const bad = configWith({ services: [{ name: 'v2', url: v2.url, routes: [{ paths: ['/v2'] }], plugins: [{ name: 'no-such-plugin' }] }] });
    await assert.rejects(stack.gateway.reload(bad), (err: unknown) => err instanceof ConfigError && err.path === 'gateway.services[0].plugins[0].name');
    assert.equal((await send(`${stack.gatewayUrl}/v2/z`)).status, 200);
  });

  it('close() drains: a request in flight still gets its answer', async () => {
    await stack.gateway.reload(configWith(gatewaySection([{ name: 'v1', url: v1.url, path: '/v1' }])));
    heldArrived = new Promise<void>((r) => (arrived = r));
    const inFlight = send(`${stack.gatewayUrl}/v1/hold`);
    await heldArrived;
    const closing = stack.close();
    // the listener stops accepting at once; the held request is answered only after that
    await assert.rejects(send(`${stack.gatewayUrl}/v1/x`));
    held.shift()!();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.text, 'v1-held');
    await closing;
  });
});
