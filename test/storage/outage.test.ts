// PostgreSQL failing under a running Drawbridge, through a TCP proxy that cuts or silences
// the real database (fault-proxy.ts). Expected, as for a Redis outage: the storage layer
// reports UnavailableError, every endpoint answers 503 temporarily_unavailable with
// Retry-After (never a 500, never a request left hanging), and everything works again as
// soon as the database is back, without a restart.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { toAppError, UnavailableError } from '../../src/core/errors.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { basic, freePort, postForm, TEST_SECRET } from '../helpers/auth-server.js';
import { spawnCli, waitForReady } from '../cli/spawn.js';
import { startStack, type Stack } from '../helpers/gateway.js';
import { retried, settlesWithin } from '../helpers/poll.js';
import { postgresUrl } from '../helpers/services.js';
import { faultyDatabase, type FaultProxy, type FaultyDatabase } from './fault-proxy.js';

const base = await postgresUrl();
const CLIENT = { client_id: 'outage', client_secret: 'outage-secret-0123456789abcdef', grant_types: ['client_credentials'], scopes: ['orders:read', 'introspect'] };
const ADMIN_TOKEN = 'outage-admin-token-0123456789abcdefghij';
/** how often a call is retried once the database is back (a pool may hold several broken connections to get rid of) */
const ATTEMPTS = { attempts: 20 };

function isUnavailable(err: unknown): boolean {
  if (!(err instanceof UnavailableError)) return false;
  const app = toAppError(err);
  return app.status === 503 && app.code === 'temporarily_unavailable' && app.headers['retry-after'] !== undefined;
}

describe('PostgreSQL outage: the storage layer', { skip: base === undefined }, () => {
  let db: FaultyDatabase;
  let proxy: FaultProxy;
  let storage: Storage;

  before(async () => {
    db = await faultyDatabase(base!);
    proxy = db.proxy;
    // short timeouts so that the hung case ends quickly; the defaults are seconds
    storage = await openStorage(db.url({ connect: 1, query: 400 }));
  });
  afterEach(() => proxy.up());
  after(async () => {
    await storage?.close();
    await db?.close();
  });

  const calls: Array<[string, () => Promise<unknown>]> = [
    ['clients.get', () => storage.clients.get('nobody')],
    ['tokens.findByDigest', () => storage.tokens.findByDigest('nothing')],
    ['jtis.remember', () => storage.jtis.remember('ns', `jti-${Math.random()}`, 2_000_000_000)],
    ['keys.list', () => storage.keys.list()],
    ['ping', () => storage.ping()],
  ];

  it('a stopped database: every call rejects with UnavailableError (503 + Retry-After), and works again once it is back', async () => {
    for (const [, call] of calls) await call();
    await proxy.down();
    for (const [name, call] of calls) {
      await assert.rejects(settlesWithin(call(), 15_000, name), isUnavailable, name);
    }
    await proxy.up();
    for (const [name, call] of calls) await settlesWithin(retried(call, ATTEMPTS), 15_000, name);
  });

  it('a database that stopped answering: calls fail (UnavailableError) instead of hanging, and the silent connections are dropped', async () => {
    for (const [, call] of calls) await call();
    proxy.hang();
    for (const [name, call] of calls) {
      await assert.rejects(settlesWithin(call(), 15_000, name), isUnavailable, name);
    }
    // More callers than the pool has connections: waiting for one fails too, within bounds.
    const crowd = Array.from({ length: 25 }, () => settlesWithin(storage.clients.get('nobody'), 20_000, 'a crowded call'));
    for (const r of await Promise.allSettled(crowd)) {
      assert.equal(r.status, 'rejected');
      assert.ok(isUnavailable(r.reason), String(r.reason));
    }
    // The old connections stay silent for good; new ones work.
    await proxy.up();
    for (const [name, call] of calls) await settlesWithin(retried(call, ATTEMPTS), 15_000, name);
  });
});

describe('PostgreSQL outage: the auth server and the gateway', { skip: base === undefined }, () => {
  let db: FaultyDatabase;
  let proxy: FaultProxy;
  let stack: Stack;

  before(async () => {
    db = await faultyDatabase(base!);
    proxy = db.proxy;
    stack = await startStack({
      top: { storage: proxy.url },
      auth: { clients: [CLIENT] },
      gateway: {
        admin_listen: '127.0.0.1:0',
        admin_token: ADMIN_TOKEN,
        services: [{ name: 'orders', url: 'http://127.0.0.1:9', routes: [{ paths: ['/orders'] }], plugins: [{ name: 'key-auth' }] }],
      },
    });
  });
  after(async () => {
    await stack?.close();
    await db?.close();
  });

  const token = () => postForm(`${stack.issuer}/oauth2/token`, { grant_type: 'client_credentials', scope: 'orders:read' }, { authorization: basic(CLIENT.client_id, CLIENT.client_secret) });
  const introspect = () => postForm(`${stack.issuer}/oauth2/introspect`, { token: 'x' }, { authorization: basic(CLIENT.client_id, CLIENT.client_secret) });
  const authorize = () => fetch(`${stack.issuer}/oauth2/authorize?response_type=code&client_id=not-cached-yet&redirect_uri=https%3A%2F%2Fa.test%2Fcb`, { redirect: 'manual' });
  const consumers = () => fetch(`${stack.adminUrl}/consumers`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

  it('answers 503 temporarily_unavailable with Retry-After while the database is down, and serves again once it is back', async () => {
    assert.equal((await token()).status, 200);
    await proxy.down();
    for (const [name, call] of [['token', token], ['introspect', introspect]] as const) {
      const res = await call();
      assert.equal(res.status, 503, name);
      assert.ok(res.headers.get('retry-after'), `${name}: Retry-After`);
      assert.equal(((await res.json()) as { error: string }).error, 'temporarily_unavailable', name);
    }
    // a browser's request: an error page, not JSON (test/auth/authorize-outage.test.ts)
    const page = await authorize();
    assert.equal(page.status, 503, 'authorize');
    assert.ok(page.headers.get('retry-after'), 'authorize: Retry-After');
    assert.match(page.headers.get('content-type') ?? '', /^text\/html\b/, 'authorize: an HTML page');
    await page.body?.cancel();
    const admin = await consumers();
    assert.equal(admin.status, 503, 'admin API');
    assert.ok(admin.headers.get('retry-after'), 'admin API: Retry-After');
    await admin.body?.cancel();
    await proxy.up();
    const again = await retried(async () => {
      const res = await token();
      if (res.status !== 200) throw new Error(`token: ${res.status}`);
      return res;
    }, ATTEMPTS);
    assert.equal(again.status, 200);
    assert.equal((await consumers()).status, 200);
  });
});

describe('PostgreSQL outage: `drawbridge start` keeps running', { skip: base === undefined }, () => {
  let db: FaultyDatabase;
  let proxy: FaultProxy;
  let dir: string;

  before(async () => {
    db = await faultyDatabase(base!);
    proxy = db.proxy;
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-outage-'));
  });
  after(async () => {
    await db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('connections cut while queries are in flight: 503s, no crash, and 200 again once the database is back', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const file = join(dir, 'drawbridge.yaml');
    await writeFile(file, JSON.stringify({ issuer, storage: proxy.url, secret: TEST_SECRET, log: { level: 'warn' }, auth: { listen: `127.0.0.1:${port}`, clients: [CLIENT] } }));
    const proc = spawnCli(['start', '--config', file], { timeoutMs: 90_000 });
    try {
      await waitForReady(`${issuer}/readyz`, proc);
      const token = () => postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials', scope: 'orders:read' }, { authorization: basic(CLIENT.client_id, CLIENT.client_secret) });
      assert.equal((await token()).status, 200);
      // queries on their way when the connections die (the server crashed, a failover)
      proxy.hang();
      const inFlight = [token(), token(), token()];
      await sleep(300);
      await proxy.down();
      for (const res of await Promise.all(inFlight)) {
        assert.equal(res.status, 503);
        assert.ok(res.headers.get('retry-after'));
      }
      assert.equal(proc.child.exitCode, null, `drawbridge exited:\n${proc.stderr}`);
      await proxy.up();
      const again = await retried(async () => {
        const res = await token();
        if (res.status !== 200) throw new Error(`token: ${res.status}`);
        return res;
      }, ATTEMPTS);
      assert.equal(again.status, 200);
    } finally {
      const result = await proc.stop();
      assert.equal(result.code, 0, result.stderr);
    }
  });
});
