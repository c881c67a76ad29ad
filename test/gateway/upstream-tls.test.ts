// https targets through a real gateway: certificates are verified by default (a self-signed
// upstream is refused with 502), `ca_certificates` trusts a private CA, `client_certificate`
// presents a certificate to an upstream that requires one (mutual TLS), `tls_verify: false`
// turns verification off; misplaced or unreadable TLS settings are config errors naming the key.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'undici';
import { ConfigError, validateConfig } from '../../src/config/index.js';
import { startStack, type Stack } from '../helpers/gateway.js';
import { send } from './core-http.js';
import { selfSigned } from '../helpers/tls.js';


describe('gateway → https targets', () => {
  let dir: string;
  let server: Server;
  let mtls: Server;
  let stack: Stack;
  let upstreamCert: { cert: string; key: string };
  let clientCert: { cert: string; key: string };
  const seen: string[] = [];
  const upgraded: Array<{ destroy(): void }> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-upstream-tls-'));
    upstreamCert = selfSigned(dir, 'upstream', 'upstream.test');
    clientCert = selfSigned(dir, 'client', 'drawbridge-gateway');
    const tlsFiles = { cert: readFileSync(upstreamCert.cert), key: readFileSync(upstreamCert.key) };
    server = createServer(tlsFiles, (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ tls: true, url: req.url }));
    });
    // asks for a client certificate and accepts only the gateway's
    mtls = createServer({ ...tlsFiles, requestCert: true, rejectUnauthorized: true, ca: readFileSync(clientCert.cert) }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const cn = String(peer.subject?.CN);
      seen.push(cn);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ client: cn }));
    });
    // a WebSocket upgrade over the same mutual TLS: 101, then one text frame naming the client
    mtls.on('upgrade', (req, socket) => {
      upgraded.push(socket);
      const cn = String((socket as TLSSocket).getPeerCertificate().subject?.CN);
      const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      const text = Buffer.from(`hello ${cn}`);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
      socket.write(Buffer.concat([Buffer.from([0x81, text.length]), text]));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => mtls.listen(0, '127.0.0.1', resolve));
    const url = `https://localhost:${(server.address() as { port: number }).port}`;
    const mtlsUrl = `https://localhost:${(mtls.address() as { port: number }).port}`;
    stack = await startStack({
      auth: false,
      gateway: {
        services: [
          { name: 'unverifiable', url, retries: 0, routes: [{ paths: ['/default'] }] },
          { name: 'private-ca', url, ca_certificates: [upstreamCert.cert], routes: [{ paths: ['/private-ca'] }] },
          { name: 'unchecked', url, tls_verify: false, routes: [{ paths: ['/unchecked'] }] },
          { name: 'no-client-cert', url: mtlsUrl, retries: 0, ca_certificates: [upstreamCert.cert], routes: [{ paths: ['/mtls-without'] }] },
          {
            name: 'mutual',
            url: mtlsUrl,
            ca_certificates: [upstreamCert.cert],
            client_certificate: { cert: clientCert.cert, key: clientCert.key },
            routes: [{ paths: ['/mtls'] }],
          },
        ],
      },
    });
  });

  after(async () => {
    for (const socket of upgraded) socket.destroy();
    await stack?.close();
    server?.closeAllConnections();
    mtls?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await new Promise((resolve) => mtls?.close(resolve));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a certificate nobody vouches for is refused by default: 502, nothing of the cause in the body", async () => {
    const res = await send(`${stack.gatewayUrl}/default/x`, { headers: { 'x-request-id': 'tls-1' } });
    assert.equal(res.status, 502);
    assert.deepEqual(res.json(), { error: 'bad_gateway', error_description: 'service unverifiable is unreachable', request_id: 'tls-1' });
  });

  it('ca_certificates: the private CA is trusted, and the connection is verified against the target name', async () => {
    const res = await send(`${stack.gatewayUrl}/private-ca/a?b=1`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { tls: true, url: '/a?b=1' });
  });

  it('tls_verify: false reaches the same upstream without a CA', async () => {
    const res = await send(`${stack.gatewayUrl}/unchecked/y`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { tls: true, url: '/y' });
  });

  it('client_certificate: an upstream that requires one gets the gateway\'s; without it the handshake fails (502)', async () => {
    const without = await send(`${stack.gatewayUrl}/mtls-without/z`);
    assert.equal(without.status, 502);
    const res = await send(`${stack.gatewayUrl}/mtls/z`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { client: 'drawbridge-gateway' });
    assert.deepEqual(seen, ['drawbridge-gateway']);
  });

  it('a WebSocket upgrade to that upstream uses the same CA and client certificate', { timeout: 5000 }, async () => {
    const ws = new WebSocket(`${stack.gatewayUrl.replace(/^http/, 'ws')}/mtls/socket`);
    const message = await new Promise<string>((resolve, reject) => {
      ws.addEventListener('message', (e) => resolve(String(e.data)), { once: true });
      ws.addEventListener('error', () => reject(new Error('websocket failed')), { once: true });
    });
    ws.close();
    assert.equal(message, 'hello drawbridge-gateway');
  });
});

describe('upstream TLS settings: config errors', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-upstream-tls-config-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function gatewayWith(service: Record<string, unknown>): Record<string, unknown> {
    return { issuer: 'https://auth.example.com', gateway: { services: [{ name: 's', routes: [{ paths: ['/s'] }], ...service }] } };
  }

  for (const [key, value] of [
    ['ca_certificates', ['/etc/ssl/certs/ca-certificates.crt']],
    ['client_certificate', { cert: '/a.pem', key: '/b.pem' }],
    ['tls_verify', false],
  ] as const) {
    it(`${key} on a service without https targets → an error naming the key`, () => {
      assert.throws(
        () => validateConfig(gatewayWith({ url: 'http://127.0.0.1:9', [key]: value })),
        (err: unknown) => err instanceof ConfigError && err.path === `gateway.services[0].${key}` && /only applies to https targets/.test(err.message),
      );
    });
  }

  it('an unreadable CA file, or one that is no PEM certificate, fails the start naming the key; a key file is never echoed', async () => {
    await assert.rejects(
      startStack({ auth: false, gateway: { services: [{ name: 's', url: 'https://127.0.0.1:9', ca_certificates: [join(dir, 'missing.pem')], routes: [{ paths: ['/s'] }] }] } }),
      /gateway\.services\[0\]\.ca_certificates\[0\].*cannot read/,
    );
    const notPem = join(dir, 'secret.txt');
    writeFileSync(notPem, 'do-not-print-this-secret');
    await assert.rejects(
      startStack({ auth: false, gateway: { services: [{ name: 's', url: 'https://127.0.0.1:9', ca_certificates: [notPem], routes: [{ paths: ['/s'] }] }] } }),
      (err: Error) => /gateway\.services\[0\]\.ca_certificates\[0\]/.test(err.message) && !err.message.includes('do-not-print-this-secret'),
    );
  });
});
