// A client_id longer than any client can have (MAX_CLIENT_ID, config/formats.ts) is "no such
// client" wherever one is looked up: the client cache answers it so itself (auth/clients.ts),
// without a storage read or a cache entry, instead of each caller checking the length first
// (client authentication and the authorization endpoint did; a caller that forgot would have
// read storage and cached an unknown id of any size). Client authentication still makes no
// throttle key of it: it is refused as an unknown id is, its failure counted against the
// sending address only (it was refused before the throttle was asked, and not counted).
//
// Deterministic: storage.clients.get and the throttle's counters are watched by hooks.
import * as assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { MAX_CLIENT_ID } from '../../src/config/formats.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const SECRET = 'app-secret-0123456789-abcdefghijklmnop';
const CB = 'https://app.example/cb';
const LONG = 'c'.repeat(MAX_CLIENT_ID + 1);

describe('a client_id longer than any client can have', () => {
  let server: TestServer;
  /** client_ids storage was asked for */
  let read: string[] = [];
  /** throttle keys looked at or counted */
  let keys: string[] = [];
  /** throttle keys counted */
  let hits: string[] = [];

  before(async () => {
    server = await startAuth({
      clients: [
        { client_id: 'app', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['a'] },
        { client_id: 'web', redirect_uris: [CB], grant_types: ['authorization_code'], scopes: ['openid'] },
      ],
    });
    const clients = server.running.storage.clients;
    const get = clients.get.bind(clients);
    clients.get = async (id) => {
      read.push(id);
      return get(id);
    };
    const failures = server.running.auth!.ctx.failures;
    const firstAtLimit = failures.firstAtLimit.bind(failures);
    failures.firstAtLimit = (k, limit) => {
      keys.push(...k);
      return firstAtLimit(k, limit);
    };
    const hit = failures.hit.bind(failures);
    failures.hit = async (key, window) => {
      keys.push(key);
      hits.push(key);
      return hit(key, window);
    };
  });
  after(() => server?.close());
  beforeEach(() => {
    read = [];
    keys = [];
    hits = [];
  });

  const token = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials', ...form }, headers);

  function noLookupNorKey(): void {
    assert.deepEqual(read.filter((id) => id.length > MAX_CLIENT_ID).map((id) => id.length), [], 'storage read for the long id');
    assert.deepEqual(keys.filter((k) => k.includes(LONG)).map((k) => k.length), [], 'a throttle key made of the long id');
  }

  it('the client cache answers "no such client" at once, from peek, get and load alike', async () => {
    const cache = server.running.auth!.ctx.clients;
    assert.equal(cache.peek(LONG), null);
    assert.equal(await cache.get(LONG), null);
    assert.equal(await cache.load(LONG), null);
    assert.equal(cache.peek(LONG), null);
    noLookupNorKey();
    // the longest possible id is still looked up
    assert.equal(await cache.get('c'.repeat(MAX_CLIENT_ID)), null);
    assert.deepEqual(read, ['c'.repeat(MAX_CLIENT_ID)]);
  });

  for (const [name, send] of [
    ['client_secret_post', () => token({ client_id: LONG, client_secret: SECRET })],
    ['client_secret_basic', () => token({}, { authorization: basic(LONG, SECRET) })],
    ['a public client', () => postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', code: 'x', client_id: LONG })],
  ] as const) {
    it(`token endpoint, ${name}: invalid_client, counted against the address only`, async () => {
      const res = await send();
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, 401, JSON.stringify(body));
      assert.equal(body.error, 'invalid_client');
      noLookupNorKey();
      assert.deepEqual(hits, ['ip:127.0.0.1']);
    });
  }

  it('authorization endpoint: the unknown-application page, never a redirect', async () => {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    for (const [k, v] of Object.entries({ client_id: LONG, redirect_uri: CB, response_type: 'code', scope: 'openid' })) u.searchParams.set(k, v);
    const res = await fetch(u, { redirect: 'manual' });
    assert.equal(res.headers.get('location'), null);
    assert.match(await res.text(), /not known/);
    noLookupNorKey();
  });
});
