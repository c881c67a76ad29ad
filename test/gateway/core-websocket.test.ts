// WebSocket upgrades through the gateway: the same route and chain as plain requests
// (key-auth here), the internal token on the upgrade request, then frames both ways —
// spoken by undici's WebSocket client against a real echo upstream.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { WebSocket } from 'undici';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { send } from './core-http.js';

const KEY = 'ws-key-0123456789abcdefghijklmn';

function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('open', () => resolve(ws));
    ws.addEventListener('error', () => reject(new Error('websocket failed to open')));
  });
}

function nextMessage(ws: WebSocket): Promise<string | Buffer> {
  return new Promise((resolve) => {
    ws.addEventListener(
      'message',
      (e) => resolve(typeof e.data === 'string' ? e.data : Buffer.from(e.data as ArrayBuffer)),
      { once: true },
    );
  });
}

describe('gateway websocket upgrades', () => {
  let up: Upstream;
  let stack: Stack;
  let wsUrl: string;

  before(async () => {
    up = await startUpstream({ name: 'ws', websocket: true });
    stack = await startStack({
      auth: false,
      gateway: {
        consumers: [{ username: 'socket-user', credentials: { 'key-auth': [{ key: KEY }] } }],
        services: [
          { name: 'ws', url: `${up.url}/socket`, routes: [{ paths: ['/ws'] }], plugins: [{ name: 'key-auth' }] },
          { name: 'open-ws', url: up.url, routes: [{ paths: ['/open'] }] },
        ],
      },
    });
    wsUrl = stack.gatewayUrl.replace(/^http/, 'ws');
  });

  after(async () => {
    await stack?.close();
    await up?.close();
  });

  it('upgrades after authentication and echoes text and binary frames both ways', async () => {
    const ws = await open(`${wsUrl}/ws/chat?room=1`, { apikey: KEY });
    const rec = up.upgrades.at(-1)!;
    assert.equal(rec.url, '/socket/chat?room=1');
    assert.equal(rec.headers.apikey, undefined);
    assert.match(String(rec.headers.authorization), /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(rec.headers['x-consumer-username'], 'socket-user');
    assert.equal(rec.headers.upgrade, 'websocket');
    const text = nextMessage(ws);
    ws.send('hello through the gateway');
    assert.equal(await text, 'hello through the gateway');
    const big = Buffer.alloc(200_000, 5);
    const binary = nextMessage(ws);
    ws.send(big);
    assert.deepEqual(await binary, big);
    const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
    ws.close(1000);
    assert.equal(await closed, 1000);
  });

  it('refuses an upgrade without a credential with the usual 401', async () => {
    const res = await send(`${stack.gatewayUrl}/ws/chat`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'x-request-id': 'ws-401' },
    });
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Key realm="drawbridge"');
    assert.deepEqual(res.json(), { error: 'unauthorized', error_description: 'authentication required', request_id: 'ws-401' });
    assert.equal(up.upgrades.filter((u) => u.url === '/socket/chat').length, 0);
  });

  it('ignores an upgrade to another protocol (h2c) and answers over HTTP/1.1', async () => {
    const h2c = await send(`${stack.gatewayUrl}/open/h2c`, { headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAoAAAAAIAAAAA' } });
    assert.equal(h2c.status, 200);
    assert.equal(h2c.json().url, '/h2c');
    const rec = up.last();
    assert.equal(rec.headers.upgrade, undefined);
    assert.equal(rec.headers['http2-settings'], undefined);
    const withBody = await send(`${stack.gatewayUrl}/open/h2c`, { method: 'POST', headers: { connection: 'Upgrade', upgrade: 'h2c' }, body: 'x' });
    assert.equal(withBody.status, 400);
    assert.equal(withBody.json().error_description, 'upgrade to h2c is not supported');
  });

  it('an upgrade no route matches → 404', async () => {
    const none = await send(`${stack.gatewayUrl}/nowhere`, { headers: { connection: 'Upgrade', upgrade: 'websocket' } });
    assert.equal(none.status, 404);
    assert.equal(none.json().error, 'not_found');
  });

  it('relays the upstream answer when it refuses the upgrade', async () => {
    const res = await send(`${stack.gatewayUrl}/open/x`, { headers: { connection: 'Upgrade', upgrade: 'websocket' } });
    // the echo upstream answers 400 to an upgrade without Sec-WebSocket-Key
    assert.equal(res.status, 400);
    assert.equal(up.upgrades.at(-1)?.url, '/x');
  });
});
