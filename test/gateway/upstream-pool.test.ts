// The gateway's own HTTP/1.1 upstream client (src/gateway/h1/pool.ts), driven directly
// against real servers on 127.0.0.1: node:http for ordinary exchanges, raw node:net servers
// for byte-exact or misbehaving responses. Covers what goes on the wire (method, target,
// host, repeated fields, request bodies: length, chunked, failing), keep-alive reuse and
// concurrency, response framings (length, chunked, close-delimited, bodiless), 1xx,
// backpressure, timeouts, broken and invalid responses, request splitting, stale idle
// connections, abort(), close()/destroy(), and that every exchange ends exactly once.
import { afterEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import {
  UpstreamPool,
  type UpstreamPoolOptions,
  type UpstreamRequest,
  type UpstreamResponseHandler,
} from '../../src/gateway/h1/pool.js';
import { selfSigned } from '../helpers/tls.js';
import { settlesWithin, within } from '../helpers/poll.js';

const NOOP = (): void => undefined;
type UpstreamError = Error & { code?: string };

// ---------------------------------------------------------------------------------------
// Cleanup: every server, pool and worker a test starts is closed after it.

const cleanups: Array<() => unknown> = [];

async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch {
      // a cleanup failing must not stop the others
    }
  }
}

function closed(socket: Socket): Promise<void> {
  return socket.destroyed && socket.closed ? Promise.resolve() : new Promise((r) => socket.once('close', () => r()));
}

/** A response's 'drain', or its 'close': whichever comes first, with the other listener removed. */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

// ---------------------------------------------------------------------------------------
// A recording handler: every callback in order, the response, the body, the outcome.

type Outcome = 'complete' | 'error';

interface Recording {
  readonly calls: string[];
  status: number | undefined;
  statusText: string | undefined;
  headers: string[] | undefined;
  readonly chunks: Buffer[];
  error: UpstreamError | undefined;
  abort: ((err?: Error) => void) | undefined;
  resume: (() => void) | undefined;
  outcome: Outcome | undefined;
  body(): Buffer;
  readonly done: Promise<Outcome>;
  readonly handler: UpstreamResponseHandler;
}

interface Hooks {
  onConnect?(rec: Recording): void;
  onHeaders?(rec: Recording): boolean;
  onData?(chunk: Buffer, rec: Recording): boolean;
}

const recordings: Recording[] = [];

function record(hooks: Hooks = {}): Recording {
  let settle!: (o: Outcome) => void;
  const done = new Promise<Outcome>((r) => (settle = r));
  const rec: Recording = {
    calls: [],
    status: undefined,
    statusText: undefined,
    headers: undefined,
    chunks: [],
    error: undefined,
    abort: undefined,
    resume: undefined,
    outcome: undefined,
    // chunks are kept as handed over (not copied): a pool reusing a buffer it already gave
    // away would show up as a corrupted body
    body: () => Buffer.concat(rec.chunks),
    done,
    handler: {
      onConnect(abort) {
        rec.calls.push('connect');
        rec.abort = abort;
        hooks.onConnect?.(rec);
      },
      onHeaders(statusCode, headers, resume, statusText) {
        rec.calls.push('headers');
        rec.status = statusCode;
        rec.headers = headers;
        rec.statusText = statusText;
        rec.resume = resume;
        return hooks.onHeaders ? hooks.onHeaders(rec) : true;
      },
      onData(chunk) {
        rec.calls.push('data');
        rec.chunks.push(chunk);
        return hooks.onData ? hooks.onData(chunk, rec) : true;
      },
      onComplete() {
        rec.calls.push('complete');
        rec.outcome ??= 'complete';
        settle('complete');
      },
      onError(err) {
        rec.calls.push('error');
        rec.error ??= err;
        rec.outcome ??= 'error';
        settle('error');
      },
    },
  };
  recordings.push(rec);
  return rec;
}

/** The calls with runs of onData folded into one `data*`. */
function shape(rec: Recording): string {
  return rec.calls.filter((c, i, all) => c !== 'data' || all[i - 1] !== 'data').map((c) => (c === 'data' ? 'data*' : c)).join(' ');
}

/** onConnect first, onHeaders at most once and before any body, then exactly one of onComplete/onError, once. */
function assertExactlyOnce(rec: Recording): void {
  const s = shape(rec);
  if (rec.calls.includes('complete')) assert.match(s, /^connect headers( data\*)? complete$/, `callbacks: ${s}`);
  else assert.match(s, /^(connect )?(headers( data\*)? )?error$/, `callbacks: ${s}`);
}

function describeOutcome(rec: Recording): string {
  return rec.outcome === 'error'
    ? `onError ${rec.error?.code ?? '(no code)'}: ${rec.error?.message}`
    : `onComplete (status ${rec.status}, ${rec.body().length} body bytes)`;
}

async function expectComplete(rec: Recording, ms = 2000): Promise<void> {
  await settlesWithin(rec.done, ms, 'the exchange did not end');
  assertExactlyOnce(rec);
  assert.equal(rec.outcome, 'complete', `expected onComplete, got ${describeOutcome(rec)}`);
}

async function expectError(rec: Recording, codes: string | string[], ms = 2000): Promise<UpstreamError> {
  await settlesWithin(rec.done, ms, `the exchange did not end (expected onError ${codes})`);
  assertExactlyOnce(rec);
  assert.equal(rec.outcome, 'error', `expected onError ${codes}, got ${describeOutcome(rec)}`);
  const allowed = Array.isArray(codes) ? codes : [codes];
  assert.ok(allowed.includes(rec.error?.code ?? ''), `expected code ${allowed.join(' or ')}, got ${rec.error?.code} (${rec.error?.message})`);
  return rec.error!;
}

// ---------------------------------------------------------------------------------------
// Pools and servers.

function newPool(origin: string, options: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  const pool = new UpstreamPool(origin, { connectTimeout: 500, readTimeout: 500, ...options });
  cleanups.push(() => pool.destroy());
  return pool;
}

function send(pool: UpstreamPool, request: Partial<UpstreamRequest> & { path: string }, hooks?: Hooks): Recording {
  const rec = record(hooks);
  pool.dispatch({ method: 'GET', headers: {}, body: null, ...request }, rec.handler);
  return rec;
}

/** send(), then expectComplete(): the recording of an exchange that ended in onComplete. */
async function completed(pool: UpstreamPool, request: Partial<UpstreamRequest> & { path: string }, hooks?: Hooks): Promise<Recording> {
  const rec = send(pool, request, hooks);
  await expectComplete(rec);
  return rec;
}

/** The errors of a connection the upstream cut: closed (FIN) or reset (RST). */
const CUT = ['UPSTREAM_SOCKET_CLOSED', 'ECONNRESET'];

/**
 * One GET to a raw upstream that misbehaves as `respond` says: the exchange must end in one
 * of `codes`, and the pool must drop the connection. Returns what was delivered before.
 */
async function brokenExchange(
  respond: RawResponder,
  codes: string | string[],
  options: Partial<UpstreamPoolOptions> = {},
): Promise<{ rec: Recording; up: RawUpstream }> {
  const up = await rawUpstream(respond);
  const pool = newPool(up.origin, options);
  const rec = send(pool, { path: '/' });
  await expectError(rec, codes);
  await within(1000, () => pool.connections === 0, 'the pool drops the connection');
  return { rec, up };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface HttpUpstream {
  origin: string;
  port: number;
  server: Server;
  /** server-side 'connection' events */
  connections: number;
  sockets: Socket[];
  requests: IncomingMessage[];
}

async function httpUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpUpstream> {
  const server = createServer((req, res) => {
    req.on('error', NOOP);
    res.on('error', NOOP);
    up.requests.push(req);
    handler(req, res);
  });
  const up: HttpUpstream = { origin: '', port: 0, server, connections: 0, sockets: [], requests: [] };
  server.on('connection', (socket: Socket) => {
    up.connections++;
    up.sockets.push(socket);
    socket.on('error', NOOP);
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await listenOnLoopback(server, up, () => server.closeAllConnections());
  return up;
}

interface RawUpstream {
  origin: string;
  port: number;
  connections: number;
  sockets: Socket[];
  /** every request head received (through the blank line), in order */
  heads: string[];
  /** everything received on every connection, latin1 */
  received(): string;
}

/** `respond` is called for each request head (requests are assumed to have no body). */
type RawResponder = (socket: Socket, head: string, up: RawUpstream) => unknown;

async function rawUpstream(respond: RawResponder): Promise<RawUpstream> {
  const data: Buffer[] = [];
  const up: RawUpstream = {
    origin: '',
    port: 0,
    connections: 0,
    sockets: [],
    heads: [],
    received: () => Buffer.concat(data).toString('latin1'),
  };
  const server = createNetServer((socket) => {
    up.connections++;
    up.sockets.push(socket);
    socket.setNoDelay(true);
    socket.on('error', NOOP);
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      data.push(chunk);
      pending += chunk.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) !== -1) {
        const head = pending.slice(0, end + 4);
        pending = pending.slice(end + 4);
        up.heads.push(head);
        Promise.resolve(respond(socket, head, up)).catch(() => socket.destroy());
      }
    });
  });
  await listenOnLoopback(server, up, () => {
    for (const s of up.sockets) s.destroy();
  });
  return up;
}

/** Listens on a free loopback port, fills in `up`'s port and origin, and closes (after `cutConnections`) at cleanup. */
async function listenOnLoopback(server: NetServer, up: { port: number; origin: string }, cutConnections: () => void): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.port = (server.address() as { port: number }).port;
  up.origin = `http://127.0.0.1:${up.port}`;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        cutConnections();
        server.close(() => resolve());
      }),
  );
}

function pathOf(head: string): string {
  return /^[A-Z]+ (\S+)/.exec(head)?.[1] ?? '';
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/** A port nothing listens on. */
async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * A listener whose accept queue is full: a worker thread listens with backlog 1 and then
 * blocks, so it never accepts; once two connections sit in the queue the kernel drops
 * further SYNs and a connect to it hangs (a deterministic connect timeout on loopback).
 */
async function unacceptingListener(): Promise<number> {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const srv = require('node:net').createServer();
     srv.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
       parentPort.postMessage(srv.address().port);
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
     });`,
    { eval: true },
  );
  cleanups.push(() => worker.terminate());
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  for (let i = 0; i < 8; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', NOOP);
    cleanups.push(() => socket.destroy());
    const connected = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      setTimeout(() => resolve(false), 100);
    });
    if (!connected) {
      socket.destroy();
      return port;
    }
  }
  throw new Error('could not fill the accept queue of the test listener');
}

// ---------------------------------------------------------------------------------------

describe('UpstreamPool (HTTP/1.1 upstream client)', () => {
  afterEach(async () => {
    try {
      // a late second callback would land here
      await sleep(20);
      for (const rec of recordings) if (rec.outcome !== undefined) assertExactlyOnce(rec);
    } finally {
      recordings.length = 0;
      await runCleanups();
    }
  });

  describe('requests and responses', () => {
    it('sends the method, path with query, host (origin host:port when not given) and custom headers, arrays as repeated lines', async () => {
      const up = await httpUpstream((_req, res) => res.end('ok'));
      const pool = newPool(up.origin);

      const a = send(pool, {
        path: '/a/b?x=1&y=%20z',
        headers: { 'x-one': '1', 'x-multi': ['a', 'b'], 'x-skip': undefined },
      });
      await expectComplete(a);
      const first = up.requests[0]!;
      assert.equal(first.method, 'GET');
      assert.equal(first.url, '/a/b?x=1&y=%20z');
      assert.equal(first.headers.host, `127.0.0.1:${up.port}`);
      assert.equal(first.headers['x-one'], '1');
      assert.equal('x-skip' in first.headers, false, 'an undefined header value is not sent');
      const multi = [];
      for (let i = 0; i < first.rawHeaders.length; i += 2) if (first.rawHeaders[i] === 'x-multi') multi.push(first.rawHeaders[i + 1]);
      assert.deepEqual(multi, ['a', 'b'], 'an array value is sent as repeated field lines');
      assert.equal(first.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'host').length, 1, 'one host line');

      const b = send(pool, {
        method: 'DELETE',
        path: '/items/7',
        headers: ['host', 'api.example.test:8443', 'x-list', '1', 'x-list', ['2', '3']],
      });
      await expectComplete(b);
      const second = up.requests[1]!;
      assert.equal(second.method, 'DELETE');
      assert.equal(second.url, '/items/7');
      assert.equal(second.headers.host, 'api.example.test:8443', 'a given host is sent as is');
      assert.equal(second.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'host').length, 1, 'one host line');
      const list = [];
      for (let i = 0; i < second.rawHeaders.length; i += 2) if (second.rawHeaders[i] === 'x-list') list.push(second.rawHeaders[i + 1]);
      assert.deepEqual(list, ['1', '2', '3']);
    });

    it('delivers status, reason phrase, headers exactly as received (case, repeated Set-Cookie) and the body bytes', async () => {
      const body = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x41]);
      const up = await rawUpstream((socket) => {
        socket.write(
          'HTTP/1.1 203 Fine Thanks\r\nX-Mixed-Case: Yes\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\n' +
            'content-type: application/octet-stream\r\nContent-Length: 5\r\n\r\n',
        );
        socket.write(body);
      });
      const pool = newPool(up.origin);
      const rec = await completed(pool, { path: '/' });
      assert.equal(rec.status, 203);
      assert.equal(rec.statusText, 'Fine Thanks');
      assert.deepEqual(rec.headers, [
        'X-Mixed-Case', 'Yes',
        'Set-Cookie', 'a=1; Path=/',
        'Set-Cookie', 'b=2',
        'content-type', 'application/octet-stream',
        'Content-Length', '5',
      ]);
      assert.deepEqual(rec.body(), body);
    });
  });

  describe('keep-alive and concurrency', () => {
    it('sends 10 sequential requests over one connection and keeps it idle afterwards', async () => {
      const up = await httpUpstream((req, res) => res.end(`r${req.url}`));
      const pool = newPool(up.origin);
      for (let i = 0; i < 10; i++) {
        const rec = await completed(pool, { path: `/${i}` });
        assert.equal(rec.body().toString(), `r/${i}`);
      }
      assert.equal(up.requests.length, 10);
      assert.equal(up.connections, 1, 'the server saw one connection');
      assert.equal(pool.connections, 1);
      assert.equal(pool.idle, 1);
    });

    it('runs 20 parallel requests to completion with the right bodies, then reuses the idle connections', async () => {
      const up = await httpUpstream((req, res) => setTimeout(() => res.end(`body of ${req.url}`), 20));
      const pool = newPool(up.origin);
      const recs = Array.from({ length: 20 }, (_, i) => send(pool, { path: `/p/${i}` }));
      for (const rec of recs) await expectComplete(rec);
      recs.forEach((rec, i) => assert.equal(rec.body().toString(), `body of /p/${i}`));
      assert.ok(up.connections >= 1 && up.connections <= 20, `connections: ${up.connections}`);
      assert.equal(pool.connections, up.connections, 'the pool counts every open connection');
      assert.equal(pool.idle, pool.connections, 'every connection is idle again');

      const opened = up.connections;
      for (let i = 0; i < 5; i++) await expectComplete(send(pool, { path: `/again/${i}` }));
      assert.equal(up.connections, opened, 'later requests reuse idle connections');
    });
  });

  describe('response framing', () => {
    it('content-length: reads exactly that many bytes and keeps the connection', async () => {
      const up = await httpUpstream((req, res) => {
        res.setHeader('content-length', 11);
        res.end(req.url === '/1' ? 'hello world' : 'again world');
      });
      const pool = newPool(up.origin);
      const a = await completed(pool, { path: '/1' });
      assert.equal(a.body().toString(), 'hello world');
      const b = await completed(pool, { path: '/2' });
      assert.equal(b.body().toString(), 'again world');
      assert.equal(up.connections, 1);
    });

    it('a head of 100 fields that arrives in pieces: every field, in order (the parser flushes them in batches)', async () => {
      const fields = Array.from({ length: 100 }, (_, i) => [`X-Field-${i}`, `value ${i}`] as const);
      const head = `HTTP/1.1 200 OK\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}Content-Length: 4\r\n\r\n`;
      const up = await rawUpstream(async (socket) => {
        // split inside the field list, inside a field and before the blank line, with pauses
        const cuts = [37, 700, head.length - 1];
        let at = 0;
        for (const cut of cuts) {
          socket.write(head.slice(at, cut));
          at = cut;
          await sleep(20);
        }
        socket.write(head.slice(at) + 'done');
      });
      const pool = newPool(up.origin);
      const rec = await completed(pool, { path: '/many' });
      assert.deepEqual(rec.headers, [...fields.flat(), 'Content-Length', '4']);
      assert.equal(rec.body().toString(), 'done');
    });

    it('chunked: de-chunks split chunks and extensions exactly, ignores trailers, keeps the connection', async () => {
      const up = await rawUpstream(async (socket, head) => {
        if (pathOf(head) !== '/chunked') return void socket.write(OK);
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n5\r\nhel');
        await sleep(5);
        socket.write('lo\r\n1;name=value\r\n \r\n');
        await sleep(5);
        socket.write('A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n');
      });
      const pool = newPool(up.origin);
      const rec = await completed(pool, { path: '/chunked' });
      assert.deepEqual(rec.headers, ['Transfer-Encoding', 'chunked', 'Trailer', 'X-Trailer']);
      assert.equal(rec.body().toString('latin1'), 'hello 0123456789');
      const next = await completed(pool, { path: '/after' });
      assert.equal(next.body().toString(), 'ok');
      assert.equal(up.connections, 1, 'the connection is reused after a chunked body');
    });

    for (const [name, response] of [
      ['HTTP/1.1 with Connection: close', ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n', 'part1-', 'part2']],
      ['HTTP/1.1 with neither length nor Connection: close', ['HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n', 'part1-', 'part2']],
      ['HTTP/1.0', ['HTTP/1.0 200 OK\r\nServer: old\r\n\r\n', 'part1-', 'part2']],
    ] as const) {
      it(`close-delimited body (${name}): complete body at close, connection not reused`, async () => {
        const up = await rawUpstream(async (socket) => {
          for (const part of response) {
            socket.write(part);
            await sleep(5);
          }
          socket.end();
        });
        const pool = newPool(up.origin);
        const rec = await completed(pool, { path: '/' });
        assert.equal(rec.status, 200);
        assert.equal(rec.body().toString(), 'part1-part2');
        await within(1000, () => pool.connections === 0, 'the pool drops the closed connection');
        await expectComplete(send(pool, { path: '/' }));
        assert.equal(up.connections, 2, 'the second request used a new connection');
      });
    }

    it('204 and 304 (even with Content-Length: 100) end without a body, and the connection carries on', async () => {
      const up = await rawUpstream((socket, head) => {
        const path = pathOf(head);
        if (path === '/204') socket.write('HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n');
        else if (path === '/304') socket.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 100\r\n\r\n');
        else socket.write(OK);
      });
      const pool = newPool(up.origin, { readTimeout: 2000 });
      for (const [path, status] of [['/204', 204], ['/304', 304]] as const) {
        const started = Date.now();
        const rec = send(pool, { path });
        await expectComplete(rec, 1000);
        assert.ok(Date.now() - started < 500, `${path} ended without waiting for a body`);
        assert.equal(rec.status, status);
        assert.equal(rec.body().length, 0);
      }
      const after = await completed(pool, { path: '/after' });
      assert.equal(after.body().toString(), 'ok');
      assert.equal(up.connections, 1);
    });

    it('HEAD with Content-Length: 100 ends at the headers and the next request on the connection works', async () => {
      const up = await rawUpstream((socket, head) => {
        socket.write(head.startsWith('HEAD ') ? 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' : OK);
      });
      const pool = newPool(up.origin, { readTimeout: 2000 });
      const started = Date.now();
      const rec = send(pool, { method: 'HEAD', path: '/head' });
      await expectComplete(rec, 1000);
      assert.ok(Date.now() - started < 500, 'HEAD did not wait for a body');
      assert.deepEqual(rec.headers, ['Content-Length', '100']);
      assert.equal(rec.body().length, 0);
      const next = await completed(pool, { path: '/after' });
      assert.equal(next.body().toString(), 'ok');
      assert.equal(up.connections, 1);
      assert.match(up.heads[0]!, /^HEAD \/head HTTP\/1\.1\r\n/);
    });

    it('Connection: close with a length: the pool closes that connection and does not reuse it', async () => {
      const up = await rawUpstream((socket) => {
        // the server itself leaves the socket open
        socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
      });
      const pool = newPool(up.origin);
      const rec = await completed(pool, { path: '/' });
      assert.equal(rec.body().toString(), 'ok');
      await settlesWithin(closed(up.sockets[0]!), 1000, 'the pool did not close the Connection: close connection');
      await within(1000, () => pool.connections === 0, 'the pool forgets the connection');
      await expectComplete(send(pool, { path: '/' }));
      assert.equal(up.connections, 2);
    });
  });

  describe('1xx responses', () => {
    it('skips 100 Continue: onHeaders once, with the 200', async () => {
      const up = await rawUpstream(async (socket) => {
        socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        await sleep(5);
        socket.write(OK);
      });
      const pool = newPool(up.origin);
      const rec = await completed(pool, { path: '/' });
      assert.equal(rec.calls.filter((c) => c === 'headers').length, 1);
      assert.equal(rec.status, 200);
      assert.deepEqual(rec.headers, ['Content-Length', '2']);
      assert.equal(rec.body().toString(), 'ok');
    });

    it('skips 103 Early Hints (twice) and delivers only the final response headers', async () => {
      const up = await rawUpstream(async (socket) => {
        socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n');
        await sleep(5);
        socket.write('HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nX-Final: 1\r\nContent-Length: 2\r\n\r\nok');
      });
      const pool = newPool(up.origin);
      const rec = await completed(pool, { path: '/' });
      assert.equal(rec.status, 200);
      assert.equal(rec.statusText, 'OK');
      assert.deepEqual(rec.headers, ['X-Final', '1', 'Content-Length', '2']);
      assert.equal(rec.body().toString(), 'ok');
      await expectComplete(send(pool, { path: '/' }));
      assert.equal(up.connections, 1);
    });
  });

  describe('request bodies', () => {
    it('Buffer body: the exact bytes, with content-length', async () => {
      let seen: { headers: IncomingMessage['headers']; body: Buffer } | undefined;
      const up = await httpUpstream(async (req, res) => {
        seen = { headers: req.headers, body: await readBody(req) };
        res.end('thanks');
      });
      const pool = newPool(up.origin);
      const payload = Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x0d, 0x0a, 0x30]);
      const rec = await completed(pool, { method: 'POST', path: '/upload', headers: { 'content-type': 'application/octet-stream' }, body: payload });
      assert.equal(rec.body().toString(), 'thanks');
      assert.equal(seen!.headers['content-length'], '7');
      assert.equal(seen!.headers['transfer-encoding'], undefined);
      assert.deepEqual(seen!.body, payload);
    });

    it('Readable body with content-length: streamed (the server has the first chunk before the second is written)', async () => {
      let firstArrived!: () => void;
      const firstChunk = new Promise<void>((r) => (firstArrived = r));
      let seen: { headers: IncomingMessage['headers']; body: Buffer } | undefined;
      const up = await httpUpstream((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => {
          chunks.push(c);
          if (chunks.length === 1) firstArrived();
        });
        req.on('end', () => {
          seen = { headers: req.headers, body: Buffer.concat(chunks) };
          res.end('got it');
        });
      });
      const pool = newPool(up.origin);
      const body = new PassThrough();
      const rec = send(pool, { method: 'PUT', path: '/stream', headers: { 'content-length': '10' }, body });
      body.write('first');
      await settlesWithin(firstChunk, 1000, 'the first body chunk did not reach the server before the body ended');
      body.end('-last');
      await expectComplete(rec);
      assert.equal(seen!.headers['content-length'], '10');
      assert.equal(seen!.headers['transfer-encoding'], undefined);
      assert.equal(seen!.body.toString(), 'first-last');
    });

    it('Readable body without content-length: sent chunked, exact bytes (also an empty stream)', async () => {
      const seen: Array<{ headers: IncomingMessage['headers']; body: Buffer }> = [];
      const up = await httpUpstream(async (req, res) => {
        seen.push({ headers: req.headers, body: await readBody(req) });
        res.end('ok');
      });
      const pool = newPool(up.origin);
      const body = new PassThrough();
      const rec = send(pool, { method: 'POST', path: '/chunked', body });
      body.write(Buffer.from([0x00, 0xff]));
      await sleep(5);
      body.write('abc');
      await sleep(5);
      body.end('def');
      await expectComplete(rec);
      assert.equal(seen[0]!.headers['transfer-encoding'], 'chunked');
      assert.equal(seen[0]!.headers['content-length'], undefined);
      assert.deepEqual(seen[0]!.body, Buffer.concat([Buffer.from([0x00, 0xff]), Buffer.from('abcdef')]));

      await completed(pool, { method: 'POST', path: '/empty', body: Readable.from([]) });
      assert.equal(seen[1]!.headers['transfer-encoding'], 'chunked');
      assert.equal(seen[1]!.body.length, 0);
    });

    it('a body stream that errors mid-way: onError gets that error, the request is not terminated, the socket is dropped', async () => {
      let firstArrived!: () => void;
      const firstChunk = new Promise<void>((r) => (firstArrived = r));
      let ended = false;
      const up = await httpUpstream((req, res) => {
        req.once('data', () => firstArrived());
        req.on('end', () => {
          ended = true;
          res.end('the body looked complete');
        });
        if (req.url === '/next') res.end('next');
      });
      const pool = newPool(up.origin);
      const body = new PassThrough();
      const rec = send(pool, { method: 'POST', path: '/fail', body });
      body.write('some bytes');
      await settlesWithin(firstChunk, 1000, 'the first body chunk did not reach the server');
      const boom = new Error('boom');
      body.destroy(boom);
      await settlesWithin(rec.done, 1000, 'the exchange did not end');
      assertExactlyOnce(rec);
      assert.equal(rec.outcome, 'error', `expected onError, got ${describeOutcome(rec)}`);
      assert.equal(rec.error, boom, `onError received ${rec.error?.code} ${rec.error?.message}, not the body's own error`);
      await settlesWithin(closed(up.sockets[0]!), 1000, 'the server still has the connection');
      assert.equal(ended, false, 'the server must not see a complete request (no terminating chunk)');
      await within(1000, () => pool.connections === 0, 'the pool drops the connection');
      await expectComplete(send(pool, { path: '/next' }));
      assert.equal(up.connections, 2);
    });

    it('a body shorter than its content-length → UPSTREAM_REQUEST_BODY and the connection is closed', async () => {
      const up = await rawUpstream(NOOP);
      const pool = newPool(up.origin);
      const rec = send(pool, { method: 'POST', path: '/short', headers: { 'content-length': '10' }, body: Readable.from([Buffer.from('short')]) });
      await expectError(rec, 'UPSTREAM_REQUEST_BODY');
      await settlesWithin(closed(up.sockets[0]!), 1000, 'the connection stays open');
      assert.equal(pool.connections, 0);
    });

    it('a body longer than its content-length → UPSTREAM_REQUEST_BODY and no byte beyond the length is sent', async () => {
      const up = await rawUpstream(NOOP);
      const pool = newPool(up.origin);
      const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
      const body = Readable.from([Buffer.from('abc'), Buffer.from(smuggled)]);
      const rec = send(pool, { method: 'POST', path: '/long', headers: { 'content-length': '3' }, body });
      await expectError(rec, 'UPSTREAM_REQUEST_BODY');
      await sleep(50);
      const received = up.received();
      assert.ok(!received.includes('/smuggled'), `bytes beyond content-length reached the server: ${JSON.stringify(received)}`);
      assert.equal(received.slice(received.indexOf('\r\n\r\n') + 4).length <= 3, true);
      await within(1000, () => pool.connections === 0, 'the pool drops the connection');
    });

    it('a null body with content-length: 5 → an error at once, not a request the server waits on', async () => {
      const up = await rawUpstream(NOOP);
      const pool = newPool(up.origin, { readTimeout: 500 });
      const started = Date.now();
      const rec = send(pool, { method: 'POST', path: '/', headers: { 'content-length': '5' }, body: null });
      await expectError(rec, ['UPSTREAM_REQUEST_BODY', 'UPSTREAM_INVALID_REQUEST'], 1500);
      assert.ok(Date.now() - started < 300, `ended after ${Date.now() - started} ms`);
    });

    it('POST with a null body and no content-length → the server sees content-length: 0', async () => {
      let seen: IncomingMessage['headers'] | undefined;
      const up = await httpUpstream(async (req, res) => {
        seen = req.headers;
        await readBody(req);
        res.end('ok');
      });
      const pool = newPool(up.origin);
      await expectComplete(send(pool, { method: 'POST', path: '/empty', body: null }));
      assert.equal(seen!['content-length'], '0');
      assert.equal(seen!['transfer-encoding'], undefined);
    });
  });

  describe('backpressure', () => {
    /** 8 MiB where every position matters (251 is prime, so chunk boundaries never line up). */
    const BIG = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < BIG.length; i++) BIG[i] = (i % 251) ^ ((i >>> 16) & 0xff);

    async function streamBig(res: ServerResponse): Promise<void> {
      // chunked (no content-length), honouring the socket's backpressure
      for (let at = 0; at < BIG.length && !res.destroyed; at += 64 * 1024) {
        if (!res.write(BIG.subarray(at, at + 64 * 1024))) {
          await drainOrClose(res);
        }
      }
      res.end();
    }

    it('onData returning false pauses until resume(): every byte arrives, in order, none while paused', async () => {
      const up = await httpUpstream((_req, res) => void streamBig(res));
      const pool = newPool(up.origin, { readTimeout: 2000 });
      let paused = false;
      let whilePaused = 0;
      let pauses = 0;
      const rec = send(pool, { path: '/big' }, {
        onData(_chunk, r) {
          if (paused) whilePaused++;
          paused = true;
          pauses++;
          setTimeout(() => {
            paused = false;
            r.resume!();
          }, pauses % 8 === 0 ? 1 : 0);
          return false;
        },
      });
      await expectComplete(rec, 8000);
      assert.equal(whilePaused, 0, `onData was called ${whilePaused} times while paused`);
      const got = rec.body();
      assert.equal(got.length, BIG.length);
      assert.ok(got.equals(BIG), 'the body bytes differ from what the server sent');
    });

    it('onHeaders returning false holds the body back until resume()', async () => {
      const up = await httpUpstream((_req, res) => res.end('held body'));
      const pool = newPool(up.origin);
      const rec = send(pool, { path: '/' }, { onHeaders: () => false });
      await within(1000, () => rec.calls.includes('headers'), 'onHeaders was not called');
      await sleep(100);
      assert.deepEqual(rec.calls, ['connect', 'headers'], 'nothing happens before resume()');
      rec.resume!();
      await expectComplete(rec);
      assert.equal(rec.body().toString(), 'held body');
    });

    it('onData returning false on the last bytes: onComplete still comes (no byte is held back, the connection is free again)', async () => {
      const up = await httpUpstream((_req, res) => {
        res.setHeader('content-length', 3);
        res.end('abc');
      });
      const pool = newPool(up.origin);
      const rec = await completed(pool, { path: '/' }, { onData: () => false });
      assert.deepEqual(rec.calls, ['connect', 'headers', 'data', 'complete']);
      assert.equal(rec.body().toString(), 'abc');
      assert.equal(pool.idle, 1);
    });

    it('a paused exchange stops reading the socket (the server is held back, not buffered in memory)', async () => {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const total = 64 * 1024 * 1024;
      let sent = 0;
      const up = await httpUpstream(async (_req, res) => {
        res.setHeader('content-length', total);
        while (sent < total && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            await drainOrClose(res);
          }
        }
        res.end();
      });
      const pool = newPool(up.origin, { readTimeout: 5000 });
      const rec = send(pool, { path: '/huge' }, { onData: () => false });
      await within(1000, () => rec.calls.includes('data'), 'no body arrived');
      await sleep(300);
      const received = rec.body().length;
      assert.ok(sent < 24 * 1024 * 1024, `the server could write ${sent} bytes (the handler holds ${received}) while the exchange was paused`);
      rec.abort!();
      await expectError(rec, 'UPSTREAM_ABORTED');
    });
  });

  describe('errors', () => {
    it('connection refused → ECONNREFUSED', async () => {
      const pool = newPool(`http://127.0.0.1:${await freePort()}`);
      const rec = send(pool, { path: '/' });
      await expectError(rec, 'ECONNREFUSED');
      assert.equal(rec.headers, undefined);
      assert.equal(pool.connections, 0);
    });

    it('a name that does not resolve → ENOTFOUND', async () => {
      const pool = newPool('http://upstream.invalid:8080');
      await expectError(send(pool, { path: '/' }), ['ENOTFOUND', 'EAI_AGAIN'], 5000);
    });

    it('connect timeout → UPSTREAM_CONNECT_TIMEOUT after connectTimeout', async () => {
      // (10.255.255.1 and other unroutable addresses connect at once in this sandbox, so
      // the hanging connect comes from a loopback listener whose accept queue is full)
      const port = await unacceptingListener();
      const pool = newPool(`http://127.0.0.1:${port}`, { connectTimeout: 200, readTimeout: 5000 });
      const started = Date.now();
      const rec = send(pool, { path: '/' });
      await expectError(rec, 'UPSTREAM_CONNECT_TIMEOUT', 2000);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 150 && elapsed < 1500, `ended after ${elapsed} ms`);
      assert.equal(rec.headers, undefined);
      await within(1000, () => pool.connections === 0, 'the pool drops the half-open connection');
    });

    it('no response headers within readTimeout → UPSTREAM_READ_TIMEOUT, and the connection is closed', async () => {
      const up = await httpUpstream(NOOP); // never answers
      const pool = newPool(up.origin, { readTimeout: 200 });
      const started = Date.now();
      const rec = send(pool, { path: '/silent' });
      await expectError(rec, 'UPSTREAM_READ_TIMEOUT');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 150 && elapsed < 1000, `ended after ${elapsed} ms`);
      assert.equal(rec.headers, undefined);
      await settlesWithin(closed(up.sockets[0]!), 1000, 'the timed-out connection stays open');
      assert.equal(pool.connections, 0);
    });

    it('the body stalls mid-way → onHeaders, the bytes so far, then UPSTREAM_READ_TIMEOUT', async () => {
      const { rec } = await brokenExchange((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'), 'UPSTREAM_READ_TIMEOUT', { readTimeout: 200 });
      assert.equal(rec.status, 200);
      assert.equal(rec.body().toString(), 'abc');
    });

    it('readTimeout is an idle limit: a body trickling in slower than the timeout in total completes', async () => {
      const up = await rawUpstream(async (socket) => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n');
        for (const c of 'abcdef') {
          await sleep(100);
          socket.write(c);
        }
      });
      const pool = newPool(up.origin, { readTimeout: 250 });
      const rec = send(pool, { path: '/' });
      await expectComplete(rec, 3000);
      assert.equal(rec.body().toString(), 'abcdef');
    });

    for (const [name, kill] of [
      ['closes (FIN)', (s: Socket) => s.end()],
      ['resets (RST)', (s: Socket) => s.resetAndDestroy()],
    ] as const) {
      it(`the server ${name} mid-body (content-length) → onHeaders then UPSTREAM_SOCKET_CLOSED/ECONNRESET`, async () => {
        const { rec } = await brokenExchange(async (socket) => {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
          await sleep(10);
          kill(socket);
        }, CUT);
        assert.equal(rec.status, 200);
        assert.equal(rec.body().toString(), '0123456789');
      });
    }

    it('the server closes a chunked body before the last chunk → UPSTREAM_SOCKET_CLOSED, not a complete response', async () => {
      const { rec } = await brokenExchange(async (socket) => {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        await sleep(10);
        socket.end();
      }, CUT);
      assert.equal(rec.body().toString(), 'hello');
    });

    it('the server closes after reading the request, without answering → UPSTREAM_SOCKET_CLOSED/ECONNRESET', async () => {
      const { rec, up } = await brokenExchange((socket) => socket.end(), CUT);
      assert.equal(rec.headers, undefined);
      assert.ok(up.heads.length >= 1, 'the request reached the server');
    });

    for (const [name, response] of [
      ['Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'],
      ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!'],
      ['a garbage status line', 'HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok'],
    ] as const) {
      it(`invalid response (${name}) → UPSTREAM_INVALID_RESPONSE before any headers are delivered`, async () => {
        const { rec } = await brokenExchange((socket) => socket.write(response), 'UPSTREAM_INVALID_RESPONSE');
        assert.equal(rec.headers, undefined, 'a response with ambiguous framing must not be delivered');
      });
    }

    it('a bad chunk size after the headers → onHeaders then UPSTREAM_INVALID_RESPONSE', async () => {
      const { rec } = await brokenExchange(
        (socket) => socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n'),
        'UPSTREAM_INVALID_RESPONSE',
      );
      assert.equal(rec.status, 200);
    });

    it('CR/LF/NUL in a header value or name, or a bad path → UPSTREAM_INVALID_REQUEST, nothing reaches the server', async () => {
      const up = await rawUpstream((socket) => socket.write(OK));
      const pool = newPool(up.origin);
      const invalid: Array<[string, Partial<UpstreamRequest> & { path: string }]> = [
        ['CRLF in a value', { path: '/', headers: { 'x-a': 'a\r\nx-injected: 1' } }],
        ['LF in a value', { path: '/', headers: { 'x-a': 'a\nx-injected: 1' } }],
        ['CR in a value', { path: '/', headers: { 'x-a': 'a\rb' } }],
        ['NUL in a value', { path: '/', headers: { 'x-a': 'a\0b' } }],
        ['CRLF in an array value', { path: '/', headers: { 'x-a': ['ok', 'b\r\n\r\nGET /smuggled HTTP/1.1'] } }],
        ['CRLF in a flat-list value', { path: '/', headers: ['x-a', 'b\r\nx-injected: 1'] }],
        ['CRLF in a name', { path: '/', headers: { 'x-a\r\nx-injected': '1' } }],
        ['NUL in a name', { path: '/', headers: { 'x-a\0': '1' } }],
        ['CRLF in the host', { path: '/', headers: { host: 'a\r\nx-injected: 1' } }],
        ['CRLF in the path', { path: '/a HTTP/1.1\r\nHost: x\r\n\r\nGET /smuggled' }],
        ['a space in the path', { path: '/a b' }],
        ['a path not starting with /', { path: 'relative/path' }],
        ['an empty path', { path: '' }],
        ['an absolute-form target', { path: 'http://other.example/x' }],
      ];
      const failures: string[] = [];
      for (const [name, request] of invalid) {
        const rec = send(pool, request);
        await settlesWithin(rec.done, 1000, `${name}: the exchange did not end`);
        assertExactlyOnce(rec);
        if (rec.outcome !== 'error' || rec.error?.code !== 'UPSTREAM_INVALID_REQUEST') failures.push(`${name}: ${describeOutcome(rec)}`);
      }
      await sleep(50);
      assert.deepEqual(failures, [], 'every invalid request ends in UPSTREAM_INVALID_REQUEST');
      assert.equal(up.received(), '', 'nothing reached the server');
      await completed(pool, { path: '/fine' });
      assert.equal(up.heads.length, 1, 'the pool still works afterwards');
    });

    it('CR/LF or a space in the method → UPSTREAM_INVALID_REQUEST, nothing reaches the server', async () => {
      const up = await rawUpstream((socket) => socket.write(OK));
      const pool = newPool(up.origin);
      for (const method of ['GET / HTTP/1.1\r\nHost: x\r\n\r\nGET', 'GE T', 'GET\n']) {
        const rec = send(pool, { method, path: '/' });
        await expectError(rec, 'UPSTREAM_INVALID_REQUEST', 1000);
      }
      await sleep(50);
      assert.equal(up.received(), '', 'nothing reached the server');
    });
  });

  describe('idle connections', () => {
    it('the server closes an idle connection: the pool notices, and the next request succeeds on a new one', async () => {
      // (node:http's keepAliveTimeout would do, but Node 20 adds a 1 s grace to it; a raw
      // server closes exactly 100 ms after answering)
      const up = await rawUpstream((socket) => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh');
        setTimeout(() => socket.end(), 100);
      });
      const pool = newPool(up.origin);
      await expectComplete(send(pool, { path: '/1' }));
      assert.equal(pool.idle, 1);
      await sleep(300);
      assert.equal(pool.connections, 0, 'the pool noticed the server closed its idle connection');
      assert.equal(pool.idle, 0);
      const rec = await completed(pool, { path: '/2' });
      assert.equal(rec.body().toString(), 'fresh');
      assert.equal(up.connections, 2);
    });

    it('an upstream that closes right after its response (no Connection: close): the next request still succeeds', async () => {
      // the FIN arrives with (or just after) the response: the connection must not be handed
      // to the next request, or that request fails on a socket the upstream already closed
      const up = await rawUpstream((socket) => socket.end(OK));
      const pool = newPool(up.origin);
      for (let i = 0; i < 4; i++) {
        const rec = await completed(pool, { path: `/${i}` });
        assert.equal(rec.body().toString(), 'ok');
      }
      assert.equal(up.connections, 4);
    });

    it('a reused connection closed before it answered: an idempotent request goes once more on a fresh one, a POST fails', async () => {
      // per connection: the first request is answered, the second one is read and the connection closed unanswered
      const seen = new WeakMap<Socket, number>();
      const up = await rawUpstream((socket) => {
        const n = (seen.get(socket) ?? 0) + 1;
        seen.set(socket, n);
        if (n === 1) socket.write(OK);
        else socket.destroy();
      });
      const pool = newPool(up.origin);
      await expectComplete(send(pool, { path: '/first' }));
      const get = await completed(pool, { path: '/again' });
      assert.equal(get.body().toString(), 'ok');
      assert.equal(up.connections, 2, 'retried on a fresh connection');
      assert.equal(up.heads.filter((h) => h.startsWith('GET /again ')).length, 2);

      const post = send(pool, { method: 'POST', path: '/once', body: Buffer.from('x') });
      await expectError(post, ['UPSTREAM_SOCKET_CLOSED', 'ECONNRESET']);
      assert.equal(up.heads.filter((h) => h.startsWith('POST /once ')).length, 1, 'a POST is never sent twice');
    });

    it('an idle connection is kept for keepAliveTimeout, even past a shorter readTimeout', async () => {
      const up = await httpUpstream((_req, res) => res.end('ok'));
      const pool = newPool(up.origin, { readTimeout: 100, keepAliveTimeout: 4000 });
      await expectComplete(send(pool, { path: '/1' }));
      await sleep(250);
      assert.equal(pool.idle, 1, 'the idle connection is still there');
      await expectComplete(send(pool, { path: '/2' }));
      assert.equal(up.connections, 1, 'the second request reused the idle connection');
    });

    it("the upstream's Keep-Alive: timeout=N shortens reuse to N − 1 s; timeout=1 means no reuse", async () => {
      const up = await rawUpstream((socket, head) => {
        const n = /GET \/short/.test(head) ? 1 : 2;
        socket.write(`HTTP/1.1 200 OK\r\nKeep-Alive: timeout=${n}, max=100\r\nContent-Length: 2\r\n\r\nok`);
      });
      const pool = newPool(up.origin, { readTimeout: 3000, keepAliveTimeout: 4000 });
      await expectComplete(send(pool, { path: '/two' }));
      await sleep(200);
      await expectComplete(send(pool, { path: '/two' }));
      assert.equal(up.connections, 1, 'reused within timeout − 1 s');
      await sleep(1100);
      await expectComplete(send(pool, { path: '/short' }));
      assert.equal(up.connections, 2, 'not reused after timeout − 1 s');
      await expectComplete(send(pool, { path: '/two' }));
      assert.equal(up.connections, 3, 'timeout=1 leaves nothing to reuse');
    });

    it('idle connections past keepAliveTimeout are closed by the pool, even when the upstream would keep them', async () => {
      const up = await rawUpstream((socket) => socket.write(OK)); // never closes a connection itself
      const pool = newPool(up.origin, { readTimeout: 5000, keepAliveTimeout: 200 });
      await Promise.all([0, 1, 2].map((i) => expectComplete(send(pool, { path: `/${i}` }))));
      assert.equal(pool.idle, 3);
      await settlesWithin(Promise.all(up.sockets.map(closed)), 2500, 'the pool kept idle connections past keepAliveTimeout');
      assert.equal(pool.connections, 0);
      assert.equal(pool.idle, 0);
      await expectComplete(send(pool, { path: '/after' }));
    });

    it('a connection reused after idling past readTimeout still times out its next exchange', async () => {
      const up = await rawUpstream((socket, head) => {
        if (pathOf(head) === '/first') socket.write(OK); // then silence for /second
      });
      const pool = newPool(up.origin, { readTimeout: 150, keepAliveTimeout: 4000 });
      await expectComplete(send(pool, { path: '/first' }));
      await sleep(400); // the socket's timer fires while idle: not a read timeout
      assert.equal(pool.idle, 1);
      const started = Date.now();
      await expectError(send(pool, { path: '/second' }), 'UPSTREAM_READ_TIMEOUT');
      assert.equal(up.connections, 1, 'the idle connection was reused');
      assert.ok(Date.now() - started < 1000, 'the timer was armed again by the request');
    });

    it('an idle connection older than keepAliveTimeout is not reused', async () => {
      const up = await httpUpstream((_req, res) => res.end('ok'));
      const pool = newPool(up.origin, { readTimeout: 2000, keepAliveTimeout: 100 });
      await expectComplete(send(pool, { path: '/1' }));
      await sleep(250);
      await expectComplete(send(pool, { path: '/2' }));
      assert.equal(up.connections, 2);
      await settlesWithin(closed(up.sockets[0]!), 1000, 'the expired connection was left open');
    });
  });

  describe('abort()', () => {
    it('while the server is slow → UPSTREAM_ABORTED, the server sees the socket close, no onComplete', async () => {
      const held: ServerResponse[] = [];
      const up = await httpUpstream((_req, res) => held.push(res));
      const pool = newPool(up.origin);
      const rec = send(pool, { path: '/slow' });
      await within(1000, () => up.requests.length === 1, 'the request did not reach the server');
      rec.abort!();
      await expectError(rec, 'UPSTREAM_ABORTED', 1000);
      await settlesWithin(closed(up.sockets[0]!), 1000, 'the server still has the connection');
      held[0]!.end('too late');
      await sleep(30);
      assert.equal(rec.calls.includes('complete'), false);
      assert.equal(pool.connections, 0);
    });

    it('abort(err) → onError receives that error', async () => {
      const up = await httpUpstream(NOOP);
      const pool = newPool(up.origin);
      const rec = send(pool, { path: '/slow' });
      await within(1000, () => up.requests.length === 1, 'the request did not reach the server');
      const mine = Object.assign(new Error('client went away'), { code: 'CLIENT_GONE' });
      rec.abort!(mine);
      await settlesWithin(rec.done, 1000, 'the exchange did not end');
      assertExactlyOnce(rec);
      assert.equal(rec.error, mine);
    });

    it('abort() inside onConnect → UPSTREAM_ABORTED and no request reaches the server', async () => {
      const up = await httpUpstream((_req, res) => res.end('should not happen'));
      const pool = newPool(up.origin);
      const rec = send(pool, { path: '/' }, { onConnect: (r) => r.abort!() });
      await expectError(rec, 'UPSTREAM_ABORTED', 1000);
      await sleep(100);
      assert.equal(up.requests.length, 0);
    });

    it('abort() mid-body → UPSTREAM_ABORTED and the connection is not reused', async () => {
      const up = await httpUpstream((req, res) => {
        if (req.url === '/next') return void res.end('next');
        res.setHeader('content-length', 100);
        res.write('0123456789');
      });
      const pool = newPool(up.origin);
      const rec = send(pool, { path: '/body' }, {
        onData(_chunk, r) {
          r.abort!();
          return true;
        },
      });
      await expectError(rec, 'UPSTREAM_ABORTED', 1000);
      await settlesWithin(closed(up.sockets[0]!), 1000, 'the server still has the connection');
      await expectComplete(send(pool, { path: '/next' }));
      assert.equal(up.connections, 2);
    });

    it('abort() after onComplete changes nothing', async () => {
      const up = await httpUpstream((_req, res) => res.end('done'));
      const pool = newPool(up.origin);
      const rec = await completed(pool, { path: '/' });
      rec.abort!();
      await sleep(20);
      assertExactlyOnce(rec);
      assert.equal(rec.outcome, 'complete');
      assert.equal(pool.idle, 1, 'the connection stays usable');
      await expectComplete(send(pool, { path: '/' }));
      assert.equal(up.connections, 1);
    });
  });

  describe('close() and destroy()', () => {
    it('close() waits for the exchange in flight, then closes every connection; later dispatches → UPSTREAM_CLOSED', async () => {
      const held: ServerResponse[] = [];
      const up = await httpUpstream((_req, res) => held.push(res));
      const pool = newPool(up.origin);
      const rec = send(pool, { path: '/slow' });
      await within(1000, () => held.length === 1, 'the request did not reach the server');
      let done = false;
      const closing = pool.close().then(() => (done = true));
      const refused = send(pool, { path: '/after-close' });
      await expectError(refused, 'UPSTREAM_CLOSED', 1000);
      await sleep(50);
      assert.equal(done, false, 'close() resolved with an exchange in flight');
      held[0]!.end('finished');
      await expectComplete(rec);
      assert.equal(rec.body().toString(), 'finished');
      await settlesWithin(closing, 1000, 'close() did not resolve');
      assert.equal(pool.connections, 0);
      assert.equal(pool.idle, 0);
      await settlesWithin(closed(up.sockets[0]!), 1000, 'the server still has the connection');
      await expectError(send(pool, { path: '/later' }), 'UPSTREAM_CLOSED', 1000);
      assert.equal(up.requests.length, 1);
    });

    it('close() with idle connections only: resolves and closes them', async () => {
      const up = await httpUpstream((_req, res) => res.end('ok'));
      const pool = newPool(up.origin);
      await Promise.all([expectComplete(send(pool, { path: '/1' })), expectComplete(send(pool, { path: '/2' }))]);
      await settlesWithin(pool.close(), 1000, 'close() did not resolve');
      assert.equal(pool.connections, 0);
      for (const socket of up.sockets) await settlesWithin(closed(socket), 1000, 'the server still has a connection');
    });

    it('destroy() with an exchange in flight → onError once, no connection left', async () => {
      const up = await httpUpstream(NOOP);
      const pool = newPool(up.origin);
      const rec = send(pool, { path: '/slow' });
      await within(1000, () => up.requests.length === 1, 'the request did not reach the server');
      pool.destroy();
      await settlesWithin(rec.done, 1000, 'the exchange did not end');
      assertExactlyOnce(rec);
      assert.equal(rec.outcome, 'error');
      await within(1000, () => pool.connections === 0, 'connections left after destroy()');
      await expectError(send(pool, { path: '/later' }), 'UPSTREAM_CLOSED', 1000);
    });
  });
});

describe('UpstreamPool over TLS', () => {
  afterEach(runCleanups);

  /** an https upstream with a fresh self-signed certificate for localhost and 127.0.0.1 */
  async function httpsUpstream(): Promise<{ origin: string; cert: Buffer; connections: () => number }> {
    const dir = mkdtempSync(join(tmpdir(), 'drawbridge-pool-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const pair = selfSigned(dir, 'localhost');
    const cert = readFileSync(pair.cert);
    let connections = 0;
    const server = createHttpsServer({ cert, key: readFileSync(pair.key) }, (req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`tls ${req.method} ${req.url} ${req.headers.host}`);
    });
    server.on('secureConnection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(() => server.closeAllConnections());
    const port = (server.address() as { port: number }).port;
    return { origin: `https://localhost:${port}`, cert, connections: () => connections };
  }

  it('an https origin: verified against the given CA by its name, kept alive', async () => {
    const up = await httpsUpstream();
    const pool = newPool(up.origin, { tls: { ca: up.cert } });
    for (let i = 0; i < 3; i++) {
      const rec = await completed(pool, { path: `/t/${i}` });
      assert.equal(rec.body().toString(), `tls GET /t/${i} ${new URL(up.origin).host}`);
    }
    assert.equal(up.connections(), 1, 'one TLS connection for all three');
  });

  it('a certificate nobody vouches for is refused: nothing is sent', async () => {
    const up = await httpsUpstream();
    const pool = newPool(up.origin); // Node's bundled CAs only
    const err = await expectError(send(pool, { path: '/secret' }), ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
    assert.ok(err);
  });
});
