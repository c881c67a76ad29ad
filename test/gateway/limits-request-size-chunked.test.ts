// request-size-limiting on chunked bodies through the real gateway, where the body stream
// fails past the limit: before the upstream connection is up (the whole body in one packet,
// the case that crashed the process with an unhandled 'error' on BodyLimit), in the middle
// of a body already partly forwarded (the upstream sees the request aborted, the client gets
// 413), and after the upstream's response head went out (the connection is cut). After each,
// the gateway still answers the next request.
import * as assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';

/** what the upstream saw of one request, by its x-test header */
interface Seen {
  bytes: number;
  /** set on the request's 'close': whether the whole body arrived */
  complete: boolean | undefined;
}

/** A raw connection: what it received, and when the server closed it. */
class Raw {
  readonly socket: Socket;
  data = '';
  closed = false;
  readonly done: Promise<void>;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => (this.data += d));
    this.socket.on('error', () => {}); // a reset after the answer is the server closing too
    this.done = new Promise((resolve) => this.socket.on('close', () => ((this.closed = true), resolve())));
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }
}

function chunk(size: number, fill: string): string {
  return `${size.toString(16)}\r\n${fill.repeat(size)}\r\n`;
}

function head(path: string, id: string): string {
  return `POST ${path} HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\nX-Test: ${id}\r\nX-Request-Id: ${id}\r\n\r\n`;
}

/** the JSON body of a raw HTTP/1.1 response with Content-Length */
function jsonBody(raw: string): unknown {
  const at = raw.indexOf('\r\n\r\n');
  assert.ok(at !== -1, `no response head in ${JSON.stringify(raw.slice(0, 200))}`);
  return JSON.parse(raw.slice(at + 4));
}

function tooLarge(id: string, limit: number): unknown {
  return { error: 'payload_too_large', error_description: `request body exceeds ${limit} bytes`, request_id: id };
}

describe('request-size-limiting on chunked bodies through the gateway', () => {
  let upstream: Upstream;
  let stack: Stack;
  const seen = new Map<string, Seen>();
  const LIMIT = 64 * 1024;

  before(async () => {
    upstream = await startUpstream({
      handler(req, res) {
        const id = String(req.headers['x-test'] ?? '');
        const entry: Seen = { bytes: 0, complete: undefined };
        seen.set(id, entry);
        // late-*: the response head goes out before the body is read
        if (id.startsWith('late-')) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('started\n');
        }
        req.on('data', (d: Buffer) => (entry.bytes += d.length));
        req.on('close', () => (entry.complete = req.complete));
        req.on('end', () => {
          const payload = JSON.stringify({ body_bytes: entry.bytes });
          if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
          res.end(payload);
        });
      },
    });
    const sized = (name: string, path: string, allowed: number) => ({
      name,
      url: upstream.url,
      routes: [{ paths: [path] }],
      plugins: [{ name: 'request-size-limiting', config: { allowed_payload_size: allowed, size_unit: 'bytes' } }],
    });
    stack = await startStack({
      auth: false,
      gateway: { services: [sized('sz2', '/sz2', 10), sized('big', '/big', LIMIT)] },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  /** the gateway still serves: a body under the limit goes through */
  async function stillServes(): Promise<void> {
    const res = await fetch(`${stack.gatewayUrl}/sz2`, { method: 'POST', body: '0123456789', headers: { 'x-test': `ok-${Math.random()}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { body_bytes: 10 });
  }

  it('answers a chunked body over the limit, sent in one go on a raw socket, with 413 JSON (it crashed the process)', async () => {
    const port = Number(new URL(stack.gatewayUrl).port);
    for (let i = 0; i < 3; i++) {
      const raw = new Raw(port);
      raw.write(`${head('/sz2', `raw-${i}`)}${chunk(14, '0')}0\r\n\r\n`);
      await raw.done;
      assert.match(raw.data, /^HTTP\/1\.1 413 /);
      assert.match(raw.data, /\r\ncontent-type: application\/json; charset=utf-8\r\n/i);
      assert.match(raw.data, /\r\nconnection: close\r\n/i);
      assert.deepEqual(jsonBody(raw.data), tooLarge(`raw-${i}`, 10));
    }
    // leave the process the time it took to die of the unhandled 'error'
    await new Promise((resolve) => setTimeout(resolve, 300));
    await stillServes();
  });

  it('answers the same body from an HTTP client with 413 JSON', async () => {
    const answer = await new Promise<{ res: IncomingMessage; body: string }>((resolve, reject) => {
      const req = request(`${stack.gatewayUrl}/sz2`, { method: 'POST', headers: { 'x-request-id': 'client-1', 'x-test': 'client-1' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ res, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end('01234567890123'); // no Content-Length given: sent chunked
    });
    assert.equal(answer.res.statusCode, 413);
    assert.equal(answer.res.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(answer.body), tooLarge('client-1', 10));
    await stillServes();
  });

  it('aborts the upstream request and answers 413 when the limit is hit after part of the body went upstream', async () => {
    const port = Number(new URL(stack.gatewayUrl).port);
    const raw = new Raw(port);
    raw.write(head('/big', 'mid-1') + chunk(40 * 1024, 'a'));
    await within(5000, () => (seen.get('mid-1')?.bytes ?? 0) >= 40 * 1024, 'the first 40 KiB upstream');
    raw.write(chunk(40 * 1024, 'b')); // 80 KiB: past the 64 KiB limit; the body is not ended
    await raw.done;
    assert.match(raw.data, /^HTTP\/1\.1 413 /);
    assert.deepEqual(jsonBody(raw.data), tooLarge('mid-1', LIMIT));
    await within(5000, () => seen.get('mid-1')!.complete !== undefined, 'the upstream request closing');
    assert.equal(seen.get('mid-1')!.complete, false, 'the upstream must see the request aborted, not a short body as whole');
    assert.ok(seen.get('mid-1')!.bytes <= LIMIT, `upstream saw ${seen.get('mid-1')!.bytes} bytes`);
    await stillServes();
  });

  it('cuts the connection when the limit is hit after the response head went out', async () => {
    const port = Number(new URL(stack.gatewayUrl).port);
    const raw = new Raw(port);
    raw.write(head('/big', 'late-1') + chunk(40 * 1024, 'a'));
    await within(5000, () => raw.data.includes('started'), 'the upstream response head at the client');
    assert.match(raw.data, /^HTTP\/1\.1 200 /);
    raw.write(chunk(40 * 1024, 'b'));
    await raw.done;
    assert.ok(!raw.data.includes('\r\n0\r\n\r\n'), 'the response must not look complete');
    assert.ok(!raw.data.includes('413'), 'no second response');
    await within(5000, () => seen.get('late-1')!.complete !== undefined, 'the upstream request closing');
    assert.equal(seen.get('late-1')!.complete, false);
    await stillServes();
  });

  it('still forwards a chunked body under the limit whole', async () => {
    const port = Number(new URL(stack.gatewayUrl).port);
    const raw = new Raw(port);
    raw.write(`${head('/big', 'fits-1')}${chunk(30 * 1024, 'a')}${chunk(30 * 1024, 'b')}0\r\n\r\n`);
    await within(5000, () => raw.data.includes('body_bytes'), 'the answer');
    assert.match(raw.data, /^HTTP\/1\.1 200 /);
    assert.deepEqual(jsonBody(raw.data), { body_bytes: 60 * 1024 });
    raw.socket.destroy();
  });
});
