// key-auth through the real gateway: header (any case) and, only when enabled, query keys;
// wrong, empty and missing keys; the internal token upstream; nothing of the key upstream.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { assertNoCredential, assertNotSpoofed, assertUnauthorized, internalClaims, send, SPOOFED } from './authn-support.js';

const KEY = 'k3y-partner-a-0123456789abcdefghij';
const CHALLENGE = 'Key realm="drawbridge"';

describe('key-auth', () => {
  let upstream: Upstream;
  let stack: Stack;

  before(async () => {
    upstream = await startUpstream();
    stack = await startStack({
      gateway: {
        consumers: [
          { username: 'partner-a', groups: ['partners', 'beta'], credentials: { 'key-auth': [{ key: KEY }] } },
          { username: 'guest', groups: ['anonymous'] },
        ],
        services: [
          {
            name: 'orders',
            url: upstream.url,
            routes: [{ paths: ['/orders'], strip_path: false }],
            plugins: [{ name: 'key-auth' }],
          },
          {
            name: 'search',
            url: upstream.url,
            routes: [{ paths: ['/search'], strip_path: false }],
            plugins: [{ name: 'key-auth', config: { key_names: ['x-api-key', 'apikey'], key_in_query: true, realm: 'search' } }],
          },
          {
            name: 'visible',
            url: upstream.url,
            routes: [{ paths: ['/visible'], strip_path: false }],
            plugins: [{ name: 'key-auth', config: { hide_credentials: false, key_in_query: true } }],
          },
          {
            name: 'open',
            url: upstream.url,
            routes: [{ paths: ['/open'], strip_path: false }],
            plugins: [{ name: 'key-auth', config: { anonymous: 'guest' } }],
          },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  it('accepts a valid key in the header and sends upstream the internal token, not the key', async () => {
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/orders/42?x=1', { headers: { apikey: KEY, ...SPOOFED } });
    assert.equal(reply.status, 200, reply.text);
    const rec = upstream.last();
    assert.equal(rec.url, '/orders/42?x=1');
    assert.equal(rec.headers.apikey, undefined);
    assertNoCredential(rec, KEY);
    assertNotSpoofed(rec);
    const claims = await internalClaims(stack, rec, 'orders');
    assert.equal(claims.auth_method, 'key-auth');
    assert.equal(claims.consumer, 'partner-a');
    assert.equal(claims.sub, 'consumer:partner-a');
    assert.deepEqual(claims.groups, ['partners', 'beta']);
    assert.equal(rec.headers['x-consumer-username'], 'partner-a');
  });

  it('reads the header name case-insensitively', async () => {
    const reply = await send(stack.gatewayUrl, '/orders', { headers: { ApiKey: KEY } });
    assert.equal(reply.status, 200, reply.text);
  });

  it('refuses an unknown key with 401 and the Key challenge', async () => {
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/orders', { headers: { apikey: 'not-a-key' } });
    assertUnauthorized(reply, [CHALLENGE]);
    assert.equal(reply.json.error_description, 'invalid API key');
    assert.equal(upstream.requests.length, 0);
  });

  it('refuses an empty key as malformed', async () => {
    const reply = await send(stack.gatewayUrl, '/orders', { headers: { apikey: '' } });
    assertUnauthorized(reply, [CHALLENGE]);
    assert.equal(reply.json.error_description, 'malformed API key');
  });

  it('answers a request without a key with 401 and the challenge', async () => {
    const reply = await send(stack.gatewayUrl, '/orders');
    assertUnauthorized(reply, [CHALLENGE]);
  });

  it('ignores a key in the query string unless key_in_query is set', async () => {
    const reply = await send(stack.gatewayUrl, `/orders?apikey=${KEY}`);
    assertUnauthorized(reply, [CHALLENGE]);
  });

  it('takes the key from the query when enabled, and strips it before proxying', async () => {
    upstream.reset();
    const reply = await send(stack.gatewayUrl, `/search?q=shoes&apikey=${encodeURIComponent(KEY)}&page=2`);
    assert.equal(reply.status, 200, reply.text);
    const rec = upstream.last();
    assert.equal(rec.url, '/search?q=shoes&page=2');
    assertNoCredential(rec, KEY);
    const claims = await internalClaims(stack, rec, 'search');
    assert.equal(claims.consumer, 'partner-a');
  });

  it('uses the configured key names and realm', async () => {
    upstream.reset();
    const ok = await send(stack.gatewayUrl, '/search', { headers: { 'X-API-Key': KEY } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(upstream.last().headers['x-api-key'], undefined);
    const wrong = await send(stack.gatewayUrl, '/search?apikey=nope');
    assertUnauthorized(wrong, ['Key realm="search"']);
  });

  it('refuses a repeated or badly encoded query key as malformed', async () => {
    const twice = await send(stack.gatewayUrl, `/search?apikey=${KEY}&apikey=${KEY}`);
    assertUnauthorized(twice, ['Key realm="search"']);
    assert.equal(twice.json.error_description, 'malformed API key');
    const bad = await send(stack.gatewayUrl, '/search?apikey=%E0%A4%A');
    assertUnauthorized(bad, ['Key realm="search"']);
    assert.equal(bad.json.error_description, 'malformed API key');
  });

  it('forwards the key when hide_credentials is false', async () => {
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/visible', { headers: { apikey: KEY } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(upstream.last().headers.apikey, KEY);
  });

  it('lets a request without a key through as the anonymous consumer, but not a wrong key', async () => {
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/open');
    assert.equal(reply.status, 200, reply.text);
    const claims = await internalClaims(stack, upstream.last(), 'open');
    assert.equal(claims.consumer, 'guest');
    assert.equal(claims.auth_method, 'anonymous');
    const wrong = await send(stack.gatewayUrl, '/open', { headers: { apikey: 'wrong' } });
    assertUnauthorized(wrong, [CHALLENGE]);
  });

  it('forgets a cached key once its credentials change', async () => {
    const deps = stack.gateway.deps;
    const first = await send(stack.gatewayUrl, '/orders', { headers: { apikey: KEY } });
    assert.equal(first.status, 200);
    // delete the credential behind the gateway's back: the cached key still works…
    const consumer = await deps.storage.consumers.getByUsername('partner-a');
    assert.ok(consumer);
    for (const cred of await deps.storage.credentials.listByConsumer(consumer.id, 'key-auth')) {
      assert.ok(await deps.storage.credentials.delete(cred.id));
    }
    const cached = await send(stack.gatewayUrl, '/orders', { headers: { apikey: KEY } });
    assert.equal(cached.status, 200);
    // …until the change is announced
    await deps.events.publish({ type: 'credentials.changed', consumer: 'partner-a' });
    const gone = await send(stack.gatewayUrl, '/orders', { headers: { apikey: KEY } });
    assertUnauthorized(gone, [CHALLENGE]);
  });
});
