// The listener's own response headers (core/listener.ts ListenerResponse): X-Request-Id and
// a handler's defaultHeader() reach the client exactly once, however the handler writes
// its headers — a flat array to writeHead (Node's fast path, which the proxy uses),
// an object, setHeader first, or no writeHead at all — and a value the handler set itself
// wins. Over real HTTP, on a real listener.
import * as assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { defaultHeader, ListenerResponse, startListener, type RunningListener } from '../../src/core/listener.js';
import { newRequestId } from '../../src/core/request-id.js';
import { silentLogger } from '../../src/observability/logger.js';
import { send, type RawResponse } from './core-http.js';

/** How many times a field (any case) came over the wire. */
function count(res: RawResponse, name: string): number {
  let n = 0;
  for (let i = 0; i < res.rawHeaders.length; i += 2) if (res.rawHeaders[i]!.toLowerCase() === name) n++;
  return n;
}

describe('listener response headers', () => {
  let listener: RunningListener;
  const pristineSeen: boolean[] = [];

  before(async () => {
    const handlers: Record<string, (res: ServerResponse) => void> = {
      '/flat': (res) => {
        pristineSeen.push(res instanceof ListenerResponse && res.pristine);
        res.writeHead(200, ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
        res.end('flat');
      },
      '/flat-reason': (res) => {
        res.writeHead(201, 'Made', ['content-type', 'text/plain']);
        res.end('made');
      },
      '/object': (res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-thing': 'object' });
        res.end('object');
      },
      '/set-first': (res) => {
        res.setHeader('x-thing', 'set');
        pristineSeen.push(res instanceof ListenerResponse && res.pristine);
        res.writeHead(200, ['content-type', 'text/plain']);
        res.end('set');
      },
      '/implicit': (res) => {
        res.statusCode = 202;
        res.end('implicit');
      },
      '/own-id-flat': (res) => {
        res.writeHead(200, ['X-Request-Id', 'mine-flat']);
        res.end();
      },
      '/own-id-object': (res) => {
        res.writeHead(200, { 'x-request-id': 'mine-object' });
        res.end();
      },
      '/own-id-set': (res) => {
        res.setHeader('x-request-id', 'mine-set');
        res.end();
      },
    };
    listener = await startListener({
      name: 'test',
      listen: '127.0.0.1:0',
      logger: silentLogger(),
      readiness: {},
      handler(req, res, ctx) {
        defaultHeader(res, 'strict-transport-security', 'max-age=60');
        const handle = handlers[ctx.path];
        assert.ok(handle, `no handler for ${req.url}`);
        handle(res);
      },
    });
  });
  after(async () => {
    await listener?.close();
  });

  for (const path of ['/flat', '/flat-reason', '/object', '/set-first', '/implicit']) {
    it(`${path}: the request id and the default header go out once`, async () => {
      const res = await send(`${listener.url}${path}`, { headers: { 'x-request-id': `id-${path.slice(1)}` } });
      assert.ok(res.status >= 200 && res.status < 300, `status ${res.status}`);
      assert.equal(res.headers['x-request-id'], `id-${path.slice(1)}`);
      assert.equal(count(res, 'x-request-id'), 1);
      assert.equal(res.headers['strict-transport-security'], 'max-age=60');
      assert.equal(count(res, 'strict-transport-security'), 1);
    });
  }

  it('keeps what the handler wrote: repeated fields, the reason phrase, its own fields', async () => {
    const flat = await send(`${listener.url}/flat`);
    assert.deepEqual(flat.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(flat.text, 'flat');
    assert.match(String(flat.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'a fresh id when the client sent none');
    const reason = await send(`${listener.url}/flat-reason`);
    assert.equal(reason.status, 201);
    assert.equal((await send(`${listener.url}/object`)).headers['x-thing'], 'object');
    assert.equal((await send(`${listener.url}/set-first`)).headers['x-thing'], 'set');
    assert.equal((await send(`${listener.url}/implicit`)).status, 202);
  });

  it("a handler's own X-Request-Id wins, and is not doubled", async () => {
    for (const [path, id] of [['/own-id-flat', 'mine-flat'], ['/own-id-object', 'mine-object'], ['/own-id-set', 'mine-set']] as const) {
      const res = await send(`${listener.url}${path}`, { headers: { 'x-request-id': 'from-client' } });
      assert.equal(res.headers['x-request-id'], id, path);
      assert.equal(count(res, 'x-request-id'), 1, path);
    }
  });

  it('a response stays on the fast path until setHeader is used', () => {
    // recorded by /flat (pristine) and /set-first (not) in the requests above
    assert.ok(pristineSeen.includes(true), 'a flat writeHead saw a pristine response');
    assert.ok(pristineSeen.includes(false), 'setHeader leaves the fast path');
  });
});

describe('generated request ids', () => {
  it('keep the UUID layout and never repeat, across the counter digits made once per 4096 ids', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const id = newRequestId();
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
    }
    assert.equal(seen.size, 10_000);
  });
});
