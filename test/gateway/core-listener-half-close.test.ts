// A client that half-closes its connection once the request is sent (it shuts down its
// sending side, as `nc -N` and some HTTP/1.0 clients do) still gets its answer, even one
// that takes a round trip to make. Node's default would end the socket at the FIN and drop
// any response not ready by then. Over a raw TCP socket, on a real listener.
import * as assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startListener, type RunningListener } from '../../src/core/listener.js';
import { silentLogger } from '../../src/observability/logger.js';

/** Sends `request`, half-closes at once, and returns everything read until the server closes. */
function halfClosed(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.end(request);
  });
}

describe('listener: client half-close', () => {
  let listener: RunningListener;

  before(async () => {
    listener = await startListener({
      name: 'test',
      listen: '127.0.0.1:0',
      logger: silentLogger(),
      readiness: {},
      handler: async (req, res) => {
        // an answer that needs a round trip (introspection, storage, the upstream)
        await sleep(req.url === '/slow' ? 50 : 0);
        let body = '';
        for await (const chunk of req) body += chunk;
        res.writeHead(200, ['content-type', 'text/plain']);
        res.end(`answered ${req.method} ${req.url} ${body}`);
      },
    });
  });
  after(() => listener.close());

  it('answers a request that takes a round trip, then closes', async () => {
    const raw = await halfClosed(listener.url, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(raw.includes('answered GET /slow'), raw);
  });

  it('answers a request with a body, Connection: close or not', async () => {
    const raw = await halfClosed(listener.url, 'POST /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello');
    assert.ok(raw.includes('answered POST /slow hello'), raw);
  });

  it('answers every pipelined request sent before the half-close', async () => {
    const raw = await halfClosed(listener.url, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(raw.match(/HTTP\/1\.1 200 OK/g)?.length, 2, raw);
    assert.ok(raw.indexOf('answered GET /slow') < raw.indexOf('answered GET /fast'));
  });

  it('still refuses a request cut short by the half-close (body incomplete)', async () => {
    const raw = await halfClosed(listener.url, 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nshort');
    assert.doesNotMatch(raw, /200 OK/);
  });
});
