// Upstream failures and load balancing through a real gateway: 502 for a dead target, 504
// for a slow one, 503 + Retry-After when every target is ejected; round-robin, passive
// ejection and its cooldown; retries only for idempotent methods; streamed bodies.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';
import { send } from './core-http.js';

/** A loopback URL nothing listens on (connection refused). */
async function deadUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('gateway upstream: failures', () => {
  let slow: Upstream;
  let stack: Stack;
  const pending: Array<() => void> = [];

  before(async () => {
    slow = await startUpstream({
      name: 'slow',
      handler(req, res) {
        req.resume();
        // answers only when the test lets it (after the gateway gave up)
        pending.push(() => res.end('late'));
      },
    });
    stack = await startStack({
      auth: false,
      gateway: {
        services: [
          { name: 'dead', url: await deadUrl(), retries: 0, routes: [{ paths: ['/dead'] }] },
          { name: 'slow', url: slow.url, read_timeout: '300ms', routes: [{ paths: ['/slow'] }] },
          {
            name: 'ejected',
            url: await deadUrl(),
            retries: 0,
            healthchecks: { passive: { unhealthy_failures: 1, cooldown: '30s' } },
            routes: [{ paths: ['/ejected'] }],
          },
        ],
      },
    });
  });

  after(async () => {
    for (const answer of pending) answer();
    await stack?.close();
    await slow?.close();
  });

  it('connection refused → 502 bad_gateway, no internals in the body', async () => {
    const res = await send(`${stack.gatewayUrl}/dead/x`, { headers: { 'x-request-id': 'r-502' } });
    assert.equal(res.status, 502);
    assert.deepEqual(res.json(), { error: 'bad_gateway', error_description: 'service dead is unreachable', request_id: 'r-502' });
    assert.doesNotMatch(res.text, /ECONNREFUSED|at |127\.0\.0\.1/);
  });

  it('no response within read_timeout → 504 gateway_timeout', async () => {
    const res = await send(`${stack.gatewayUrl}/slow/x`, { headers: { 'x-request-id': 'r-504' } });
    assert.equal(res.status, 504);
    assert.deepEqual(res.json(), { error: 'gateway_timeout', error_description: 'service slow did not answer in time', request_id: 'r-504' });
    assert.equal(slow.requests.length, 1, 'a GET that timed out is not retried');
  });

  it('every target ejected → 503 with Retry-After', async () => {
    const first = await send(`${stack.gatewayUrl}/ejected`);
    assert.equal(first.status, 502);
    const res = await send(`${stack.gatewayUrl}/ejected`, { headers: { 'x-request-id': 'r-503' } });
    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '30');
    assert.deepEqual(res.json(), {
      error: 'service_unavailable',
      error_description: 'no healthy target for service ejected',
      request_id: 'r-503',
    });
  });
});

describe('gateway upstream: round-robin and passive health checks', () => {
  let a: Upstream;
  let b: Upstream;
  let live: Upstream;
  let stack: Stack;

  before(async () => {
    a = await startUpstream({ name: 'a' });
    b = await startUpstream({ name: 'b' });
    live = await startUpstream({ name: 'live' });
    stack = await startStack({
      auth: false,
      gateway: {
        services: [
          { name: 'pair', targets: [a.url, b.url], routes: [{ paths: ['/pair'] }] },
          {
            name: 'flaky',
            targets: [await deadUrl(), live.url],
            retries: 0,
            healthchecks: { passive: { unhealthy_failures: 2, cooldown: '1s' } },
            routes: [{ paths: ['/flaky'] }],
          },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await Promise.all([a?.close(), b?.close(), live?.close()]);
  });

  it('spreads requests over targets in turn', async () => {
    const names: string[] = [];
    for (let i = 0; i < 6; i++) names.push((await send(`${stack.gatewayUrl}/pair`)).json().name);
    assert.deepEqual(names, ['a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('ejects a target after unhealthy_failures in a row, and tries it again after the cooldown', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await send(`${stack.gatewayUrl}/flaky`)).status);
    // dead, live, dead (second failure: ejected), then only live
    assert.deepEqual(statuses, [502, 200, 502, 200, 200, 200]);
    await sleep(1100);
    const after: number[] = [];
    for (let i = 0; i < 4; i++) after.push((await send(`${stack.gatewayUrl}/flaky`)).status);
    // back in rotation once; one more failure ejects it again at once
    assert.deepEqual(after.filter((s) => s === 502).length, 1);
    assert.deepEqual(after.slice(-2), [200, 200]);
  });
});

const PROBE_ADMIN_TOKEN = 'probe-admin-token-0123456789abcdef';

describe('gateway upstream: active health checks', () => {
  let steady: Upstream;
  let sick: Upstream;
  let stack: Stack;
  let sickness = false;
  const probes: string[] = [];

  before(async () => {
    const answer = (name: string, unwell: () => boolean) => (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      if (req.url === '/health') {
        probes.push(`${name} ${String(req.headers['user-agent'])}`);
        res.writeHead(unwell() ? 503 : 200).end();
        return;
      }
      // live traffic always works: only the probes can tell
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name }));
    };
    steady = await startUpstream({ name: 'steady', handler: answer('steady', () => false) });
    sick = await startUpstream({ name: 'sick', handler: answer('sick', () => sickness) });
    stack = await startStack({
      auth: false,
      gateway: {
        admin_listen: '127.0.0.1:0',
        admin_token: PROBE_ADMIN_TOKEN,
        services: [
          {
            name: 'probed',
            targets: [steady.url, sick.url],
            healthchecks: { active: { http_path: '/health', interval: '50ms', timeout: '500ms', unhealthy_failures: 2, healthy_successes: 2 } },
            routes: [{ paths: ['/probed'] }],
          },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await Promise.all([steady?.close(), sick?.close()]);
  });

  async function names(n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await send(`${stack.gatewayUrl}/probed/x`)).json().name);
    return out;
  }

  it('probes every target; failed probes take a target out of rotation, good ones bring it back', async () => {
    await within(5_000, () => probes.some((p) => p.startsWith('sick ')) && probes.some((p) => p.startsWith('steady ')), 'both targets probed');
    assert.ok(probes.every((p) => p.endsWith(' drawbridge-healthcheck')));
    assert.deepEqual(new Set(await names(4)), new Set(['steady', 'sick']));

    sickness = true;
    const outAt = probes.length;
    await within(5_000, async () => (await names(4)).every((name) => name === 'steady'), 'the sick target out of rotation');
    assert.ok(probes.length - outAt >= 2, 'taken out after failed probes, not before');
    const metrics = await fetch(`${stack.adminUrl!}/metrics`, { headers: { authorization: `Bearer ${PROBE_ADMIN_TOKEN}` } }).then((r) => r.text());
    assert.ok(metrics.includes(`drawbridge_upstream_target_healthy{service="probed",target="${new URL(sick.url).origin}"} 0`), metrics);

    sickness = false;
    await within(5_000, async () => (await names(4)).includes('sick'), 'the recovered target back in rotation');
  });
});

describe('gateway upstream: retries', () => {
  let live: Upstream;
  let stacks: Stack[] = [];

  before(async () => {
    live = await startUpstream({ name: 'live' });
  });

  after(async () => {
    await Promise.all(stacks.map((s) => s.close()));
    await live?.close();
  });

  async function flaky(retries: number): Promise<Stack> {
    const stack = await startStack({
      auth: false,
      gateway: { services: [{ name: 'flaky', targets: [await deadUrl(), live.url], retries, routes: [{ paths: ['/'] }] }] },
    });
    stacks.push(stack);
    return stack;
  }

  it('idempotent methods are retried on another target after a connection failure', async () => {
    const stack = await flaky(1);
    live.reset();
    const get = await send(`${stack.gatewayUrl}/g`);
    assert.equal(get.status, 200);
    // the next round-robin turn is the dead target again: a PUT with a body is retried too
    const put = await send(`${stack.gatewayUrl}/p`, { method: 'PUT', body: 'payload' });
    assert.equal(put.status, 200);
    assert.deepEqual(
      live.requests.map((r) => [r.method, r.url, r.body.toString()]),
      [
        ['GET', '/g', ''],
        ['PUT', '/p', 'payload'],
      ],
    );
  });

  it('POST and PATCH are never retried', async () => {
    const stack = await flaky(3);
    live.reset();
    const post = await send(`${stack.gatewayUrl}/x`, { method: 'POST', body: 'once' });
    assert.equal(post.status, 502);
    await send(`${stack.gatewayUrl}/y`); // live's turn
    const patch = await send(`${stack.gatewayUrl}/z`, { method: 'PATCH' });
    assert.equal(patch.status, 502);
    assert.deepEqual(
      live.requests.map((r) => r.url),
      ['/y'],
    );
  });

  it('retries: 0 means one attempt', async () => {
    const stack = await flaky(0);
    const res = await send(`${stack.gatewayUrl}/g`);
    assert.equal(res.status, 502);
  });
});

describe('gateway upstream: streaming', () => {
  const MB = 1024 * 1024;
  const TOTAL = 50 * MB;
  let up: Upstream;
  let stack: Stack;
  let firstUploadChunk: () => void;
  const uploadSeen = new Promise<void>((r) => (firstUploadChunk = r));
  let releaseDownload: () => void;
  const downloadStarted = new Promise<void>((r) => (releaseDownload = r));
  let uploaded = 0;

  before(async () => {
    up = await startUpstream({
      name: 'stream',
      handler(req, res) {
        if (req.method === 'POST') {
          req.on('data', (chunk: Buffer) => {
            if (uploaded === 0) firstUploadChunk();
            uploaded += chunk.length;
          });
          req.on('end', () => res.end(String(uploaded)));
          return;
        }
        // download: 1 MB first, the rest only once the client has seen bytes
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': TOTAL });
        res.write(Buffer.alloc(MB, 1));
        void downloadStarted.then(async () => {
          const chunk = Buffer.alloc(MB, 2);
          for (let sent = MB; sent < TOTAL; sent += MB) {
            if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
          }
          res.end();
        });
      },
    });
    stack = await startStack({ auth: false, gateway: { services: [{ name: 'stream', url: up.url, routes: [{ paths: ['/'] }] }] } });
  });

  after(async () => {
    await stack?.close();
    await up?.close();
  });

  /** Fails instead of hanging when the gateway holds the bytes back. */
  function withDeadline<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: the gateway buffered instead of streaming`)), 10_000);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  it('uploads: the upstream gets the first chunk before the client has sent the rest', async () => {
    const answer = new Promise<string>((resolve, reject) => {
      const req = request(`${stack.gatewayUrl}/up`, { method: 'POST', headers: { 'content-length': TOTAL }, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${text}`));
      });
      req.on('error', reject);
      req.write(Buffer.alloc(MB, 7));
      // the remaining 49 MB are written only after the upstream saw bytes
      void withDeadline(uploadSeen, 'upload').then(
        async () => {
          const chunk = Buffer.alloc(MB, 8);
          for (let sent = MB; sent < TOTAL; sent += MB) {
            if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          }
          req.end();
        },
        (err: unknown) => {
          req.destroy();
          reject(err);
        },
      );
    });
    assert.equal(await answer, `200 ${TOTAL}`);
  });

  it('downloads: the client gets the first chunk before the upstream has sent the rest', async () => {
    const received = await new Promise<number>((resolve, reject) => {
      const req = request(`${stack.gatewayUrl}/down`, { agent: false }, (res) => {
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-length'], String(TOTAL));
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          if (bytes === 0) releaseDownload();
          bytes += c.length;
        });
        res.on('end', () => resolve(bytes));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
      void withDeadline(downloadStarted, 'download').catch((err: unknown) => {
        req.destroy();
        reject(err);
      });
    });
    assert.equal(received, TOTAL);
  });
});
