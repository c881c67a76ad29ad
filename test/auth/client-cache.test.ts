// The in-process client cache (src/auth/clients.ts) and its staleness bound: a cached client
// is used for at most the TTL (≤ 2 s, README "Production"); this process's own writes apply at
// once; on SQLite a commit by another connection (another process) applies within 50 ms; on
// PostgreSQL, within the TTL. Unknown client_ids are cached too, in bounded number.
import * as assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClientCache } from '../../src/auth/clients.js';
import { CLIENT_CACHE_MAX_TTL_MS } from '../../src/auth/start.js';
import { openStorage } from '../../src/storage/open.js';
import type { ClientRecord, ClientRepo, Storage } from '../../src/storage/types.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { postgresTarget } from '../storage/targets.js';

const SECRET = 'client-cache-tests-secret-0123456789abcdef';

function record(client_id: string, over: Partial<ClientRecord> = {}): ClientRecord {
  return {
    client_id,
    client_name: null,
    secret_hash: 'ab'.repeat(32),
    redirect_uris: [],
    grant_types: ['client_credentials'],
    scopes: ['a', 'b'],
    default_scopes: ['a'],
    token_endpoint_auth_method: 'client_secret_basic',
    jwks: null,
    jwks_uri: null,
    access_token_format: 'opaque',
    access_token_ttl: null,
    audiences: ['https://ok.example', 'not a uri'],
    post_logout_redirect_uris: [],
    backchannel_logout_uri: null,
    backchannel_logout_session_required: false,
    source: 'config',
    created_at: 0,
    updated_at: 0,
    ...over,
  };
}

/** A ClientRepo over a Map that counts get() calls. */
function fakeRepo(records: ClientRecord[] = []): ClientRepo & { rows: Map<string, ClientRecord>; gets: number; fail: boolean } {
  const rows = new Map(records.map((r) => [r.client_id, r]));
  const repo = {
    rows,
    gets: 0,
    fail: false,
    async get(id: string) {
      repo.gets++;
      await new Promise((r) => setImmediate(r)); // a real query answers later
      if (repo.fail) throw new Error('database down');
      return rows.get(id);
    },
    async list() {
      return [...rows.values()];
    },
    async upsert(rec: ClientRecord) {
      rows.set(rec.client_id, rec);
    },
    async insert(rec: ClientRecord) {
      if (rows.has(rec.client_id)) return false;
      rows.set(rec.client_id, rec);
      return true;
    },
    async update(rec: ClientRecord) {
      if (!rows.has(rec.client_id)) return false;
      rows.set(rec.client_id, rec);
      return true;
    },
    async delete(id: string) {
      return rows.delete(id);
    },
    async prune() {
      return [];
    },
  };
  return repo;
}

describe('ClientCache', () => {
  it('prepares a client once and answers later lookups synchronously, without storage', async () => {
    const repo = fakeRepo([record('c1')]);
    const cache = new ClientCache(repo, { ttlMs: 1000, nowMs: () => 0 });
    assert.equal(cache.peek('c1'), undefined, 'nothing cached yet');
    const client = await cache.load('c1');
    assert.ok(client);
    assert.equal(cache.peek('c1'), client);
    assert.equal(await cache.get('c1'), client);
    assert.equal(repo.gets, 1);
    // ready-built lookups, and frozen because every request shares them
    assert.ok(client.scopeSet.has('b'));
    assert.ok(client.grantSet.has('client_credentials'));
    assert.deepEqual(client.secretDigest, Buffer.from('ab'.repeat(32), 'hex'));
    assert.deepEqual([...client.resourceSet!], ['https://ok.example'], 'only audiences that are valid resource indicators');
    assert.ok(Object.isFrozen(client));
  });

  it('uses an entry for at most ttlMs: a deleted client is unknown once it has expired', async () => {
    let now = 0;
    const repo = fakeRepo([record('c1')]);
    const cache = new ClientCache(repo, { ttlMs: 1000, nowMs: () => now });
    await cache.get('c1');
    repo.rows.delete('c1'); // as another process would
    now = 999;
    assert.ok(cache.peek('c1'), 'still within the TTL');
    now = 1000;
    assert.equal(cache.peek('c1'), undefined, 'expired: must be read again');
    assert.equal(await cache.get('c1'), null);
    assert.equal(repo.gets, 2);
  });

  it('remembers unknown client_ids, but only so many', async () => {
    const repo = fakeRepo();
    const cache = new ClientCache(repo, { ttlMs: 1000, nowMs: () => 0, maxUnknown: 3 });
    assert.equal(await cache.get('nobody'), null);
    assert.equal(cache.peek('nobody'), null, 'known to be unknown');
    assert.equal(await cache.get('nobody'), null);
    assert.equal(repo.gets, 1, 'a repeated unknown id does not reach storage');
    for (const id of ['x1', 'x2', 'x3']) await cache.get(id);
    assert.equal(cache.peek('nobody'), undefined, 'the oldest unknown id was dropped');
    assert.equal(cache.peek('x3'), null);
  });

  it('keeps at most maxClients clients', async () => {
    const repo = fakeRepo([record('c1'), record('c2'), record('c3')]);
    const cache = new ClientCache(repo, { ttlMs: 1000, nowMs: () => 0, maxClients: 2 });
    for (const id of ['c1', 'c2', 'c3']) await cache.get(id);
    assert.equal(cache.peek('c1'), undefined);
    assert.ok(cache.peek('c2'));
    assert.ok(cache.peek('c3'));
  });

  it('a new change stamp makes every entry stale at once', async () => {
    let stamp = 0;
    const repo = fakeRepo([record('c1')]);
    const cache = new ClientCache(repo, { ttlMs: 60_000, nowMs: () => 0, changeStamp: () => stamp });
    await cache.get('c1');
    await cache.get('unknown');
    repo.rows.set('unknown', record('unknown'));
    repo.rows.delete('c1');
    stamp++;
    assert.equal(cache.peek('c1'), undefined);
    assert.equal(cache.peek('unknown'), undefined);
    assert.equal(await cache.get('c1'), null);
    assert.ok(await cache.get('unknown'));
  });

  it('a change during a load leaves the loaded entry stale', async () => {
    let stamp = 0;
    const repo = fakeRepo([record('c1')]);
    const cache = new ClientCache(repo, { ttlMs: 60_000, nowMs: () => 0, changeStamp: () => stamp });
    const loading = cache.load('c1');
    stamp++; // committed while the query ran
    assert.ok(await loading);
    assert.equal(cache.peek('c1'), undefined);
  });

  it('concurrent lookups of one id share one query; a failed one is not cached', async () => {
    const repo = fakeRepo([record('c1')]);
    const cache = new ClientCache(repo, { ttlMs: 1000, nowMs: () => 0 });
    const [a, b, c] = await Promise.all([cache.get('c1'), cache.get('c1'), cache.load('c1')]);
    assert.equal(repo.gets, 1);
    assert.ok(a && a === b && b === c);

    repo.fail = true;
    await assert.rejects(cache.get('c2'), /database down/);
    repo.fail = false;
    repo.rows.set('c2', record('c2'));
    assert.ok(await cache.get('c2'));
  });

  it('the auth server never trusts an entry longer than 2 s', () => {
    assert.equal(CLIENT_CACHE_MAX_TTL_MS, 2000);
  });
});

const CLIENT = { client_id: 'svc', client_secret: SECRET, scopes: ['orders:read'] };

async function tokenStatus(server: TestServer): Promise<number> {
  const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic('svc', SECRET) });
  await res.arrayBuffer();
  return res.status;
}

describe('client changes reach a running auth server', () => {
  it('memory: a change through this process’s storage applies to the next request', async () => {
    const server = await startAuth({ clients: [CLIENT] });
    try {
      assert.equal(await tokenStatus(server), 200);
      assert.equal(await server.running.storage.clients.delete('svc'), true);
      assert.equal(await tokenStatus(server), 401);
    } finally {
      await server.close();
    }
  });

  describe('sqlite file: a commit by another connection (as by another process)', () => {
    let dir: string;
    let server: TestServer;
    let other: Storage;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'drawbridge-client-cache-'));
      const url = `sqlite:${join(dir, 'drawbridge.db')}`;
      server = await startAuth({ clients: [CLIENT] }, { storage: url });
      other = await openStorage(url);
    });

    after(async () => {
      await other?.close();
      await server?.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('applies within 50 ms, well inside the TTL', async () => {
      assert.equal(await tokenStatus(server), 200);
      const cached = server.running.auth!.ctx.clients.peek('svc');
      assert.ok(cached, 'the client is cached');
      assert.equal(await other.clients.delete('svc'), true);
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(await tokenStatus(server), 401);
      await other.clients.upsert({ ...cached, source: 'cli' });
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(await tokenStatus(server), 200, 'and a client created elsewhere is found as soon');
    });
  });

  describe('postgres: a change by another instance', async () => {
    const target = await postgresTarget();

    it('applies within the TTL (keys.refresh_interval, at most 2 s)', { skip: target.skip }, async () => {
      const place = await target.prepare();
      const first = await openStorage(place.url, { autoMigrate: true });
      await first.close();
      const server = await startAuth({ clients: [CLIENT] }, { storage: place.url, keys: { refresh_interval: '1s' } });
      const other = await openStorage(place.url);
      try {
        assert.equal(await tokenStatus(server), 200);
        assert.equal(await other.clients.delete('svc'), true);
        const deleted = Date.now();
        let status = await tokenStatus(server);
        while (status === 200 && Date.now() - deleted < 3000) {
          await new Promise((r) => setTimeout(r, 50));
          status = await tokenStatus(server);
        }
        assert.equal(status, 401);
        assert.ok(Date.now() - deleted <= 1000 + 750, `stale for ${Date.now() - deleted} ms`);
      } finally {
        await other.close();
        await server.close();
        await place.cleanup();
      }
    });
  });
});
