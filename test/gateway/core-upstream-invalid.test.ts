// An upstream that answers with something that is not HTTP/1.1: the client gets a 502 that
// says so (not "unreachable"), never an empty connection; a reason phrase Node cannot write
// (undici lets control characters through) is replaced by the standard one, not fatal.
// The upstream is a raw TCP server, so it can send what no HTTP library would.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { startStack, type Stack } from '../helpers/gateway.js';
import { send } from './core-http.js';

const ANSWERS: Record<string, string> = {
  '/control-char-value': 'HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok',
  '/space-in-name': 'HTTP/1.1 200 OK\r\nX Bad: 1\r\nContent-Length: 2\r\n\r\nok',
  '/status-2000': 'HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok',
  '/not-http': 'garbage\r\n\r\n',
  '/two-lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok',
  '/control-char-reason': 'HTTP/1.1 201 \x01weird\r\nContent-Length: 2\r\n\r\nok',
  '/custom-reason': 'HTTP/1.1 200 Fine Thanks\r\nContent-Length: 2\r\n\r\nok',
};

describe('gateway upstream: invalid HTTP responses', () => {
  let upstream: Server;
  let stack: Stack;

  before(async () => {
    upstream = createServer((socket) => {
      let head = '';
      socket.on('error', () => {});
      socket.on('data', (chunk) => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        const path = /^GET (\S*) /.exec(head)?.[1] ?? '';
        socket.end(Buffer.from(ANSWERS[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n', 'latin1'));
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const port = (upstream.address() as { port: number }).port;
    stack = await startStack({
      auth: false,
      gateway: {
        services: [
          {
            name: 'raw',
            url: `http://127.0.0.1:${port}`,
            retries: 0,
            // every case fails on purpose: keep the one target in rotation
            healthchecks: { passive: { unhealthy_failures: 1000 } },
            routes: [{ paths: ['/raw'] }],
          },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  for (const path of ['/control-char-value', '/space-in-name', '/status-2000', '/not-http', '/two-lengths']) {
    it(`${path.slice(1)} → 502 "sent an invalid HTTP response"`, async () => {
      const res = await send(`${stack.gatewayUrl}/raw${path}`, { headers: { 'x-request-id': 'r-invalid' } });
      assert.equal(res.status, 502);
      assert.deepEqual(res.json(), { error: 'bad_gateway', error_description: 'service raw sent an invalid HTTP response', request_id: 'r-invalid' });
    });
  }

  it('a reason phrase with a control character: the status passes, with the standard reason', async () => {
    const res = await send(`${stack.gatewayUrl}/raw/control-char-reason`);
    assert.equal(res.status, 201);
    assert.equal(res.statusMessage, 'Created');
    assert.equal(res.text, 'ok');
  });

  it('a valid custom reason phrase passes unchanged', async () => {
    const res = await send(`${stack.gatewayUrl}/raw/custom-reason`);
    assert.equal(res.status, 200);
    assert.equal(res.statusMessage, 'Fine Thanks');
  });
});
