// Requests the listener refuses itself, before any handler (RFC 9112 §3.2: two Hosts, no
// Host, a bad Host, a fragment; RFC 9110 §10.1.1: an unknown expectation): each gets the
// JSON error body with a request id, and each is counted in and out, so a drain (SIGTERM)
// does not wait for requests that were answered long ago.
import * as assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startListener, type RunningListener } from '../../src/core/listener.js';
import { silentLogger } from '../../src/observability/logger.js';

/** Writes one raw request and reads until the server closes the connection. */
function raw(url: string, data: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(data));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
    socket.setTimeout(5000, () => socket.destroy(new Error(`no close after: ${text}`)));
  });
}

describe('listener refusals', () => {
  let listener: RunningListener;
  let handled = 0;

  before(async () => {
    listener = await startListener({
      name: 'test',
      listen: '127.0.0.1:0',
      logger: silentLogger(),
      readiness: {},
      handler(_req, res) {
        handled++;
        res.end('handled');
      },
    });
  });

  after(() => listener?.close(1000));

  const cases: Array<[string, string, number, RegExp]> = [
    ['two Host fields', 'GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, /more than one Host/],
    ['an HTTP/1.1 request without Host', 'GET /a HTTP/1.1\r\nConnection: close\r\n\r\n', 400, /no Host header field/],
    ['a Host that is not host[:port]', 'GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n', 400, /not a valid host/],
    ['a fragment in the target', 'GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n', 400, /fragment/],
    ['an unknown expectation', 'POST /a HTTP/1.1\r\nHost: a\r\nExpect: bogus\r\nContent-Length: 0\r\n\r\n', 417, /only Expect: 100-continue/],
  ];
  for (const [name, request, status, description] of cases) {
    it(`${name} → ${status} with the JSON body, and counted out again`, async () => {
      const before = handled;
      const text = await raw(listener.url, request);
      assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `), text);
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
      assert.match(body.error_description!, description);
      assert.match(body.request_id!, /\S/);
      assert.match(text, new RegExp(`x-request-id: ${body.request_id}\\r\\n`, 'i'));
      assert.equal(handled, before, 'no handler saw it');
      // the server side closes the response as the connection goes: give it a moment
      for (let i = 0; i < 100 && listener.inFlight !== 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(listener.inFlight, 0);
    });
  }

  it('an HTTP/1.0 request without Host is served (Host is required from HTTP/1.1 on)', async () => {
    const text = await raw(listener.url, 'GET /a HTTP/1.0\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /handled$/);
  });

  it('close() after refusals returns at once: nothing is left in flight', async () => {
    await raw(listener.url, 'GET /a HTTP/1.1\r\nHost: a/b\r\nConnection: close\r\n\r\n');
    const started = Date.now();
    // with a refused request still counted, close() would wait out its whole timeout
    await listener.close(30_000);
    assert.ok(Date.now() - started < 15_000, `close() took ${Date.now() - started} ms`);
  });
});
