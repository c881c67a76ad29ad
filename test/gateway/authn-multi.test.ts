// Several authenticators on one route are OR-ed: each credential works on its own; with
// none the answer carries every challenge; a recognised but wrong credential is refused
// by the authenticator that recognised it; `anonymous` lets credential-less requests in.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { assertNoCredential, assertUnauthorized, internalClaims, send } from './authn-support.js';

const KEY = 'multi-key-0123456789abcdefghijklmnop';
const PASSWORD = 'multi password';
const KEY_CHALLENGE = 'Key realm="drawbridge"';
const BASIC_CHALLENGE = 'Basic realm="drawbridge", charset="UTF-8"';
const BASIC = `Basic ${Buffer.from(`bob:${PASSWORD}`).toString('base64')}`;

describe('several authenticators on one route', () => {
  let upstream: Upstream;
  let stack: Stack;

  before(async () => {
    upstream = await startUpstream();
    stack = await startStack({
      gateway: {
        consumers: [
          { username: 'partner', groups: ['partners'], credentials: { 'key-auth': [{ key: KEY }] } },
          { username: 'bob', groups: ['staff'], credentials: { 'basic-auth': [{ username: 'bob', password: PASSWORD }] } },
          { username: 'guest', groups: ['public'] },
        ],
        services: [
          {
            name: 'both',
            url: upstream.url,
            routes: [{ paths: ['/both'], strip_path: false }],
            plugins: [{ name: 'key-auth' }, { name: 'basic-auth' }],
          },
          {
            name: 'all',
            url: upstream.url,
            routes: [{ paths: ['/all'], strip_path: false }],
            // tried in this order: the first that recognises its credential decides
            plugins: [{ name: 'basic-auth' }, { name: 'key-auth', config: { key_in_query: true } }, { name: 'hmac-auth' }],
          },
          {
            name: 'public',
            url: upstream.url,
            routes: [{ paths: ['/public'], strip_path: false }],
            plugins: [{ name: 'key-auth', config: { anonymous: 'guest' } }, { name: 'basic-auth' }],
          },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  it('accepts each credential on its own', async () => {
    upstream.reset();
    assert.equal((await send(stack.gatewayUrl, '/both', { headers: { apikey: KEY } })).status, 200);
    const byKey = await internalClaims(stack, upstream.last(), 'both');
    assert.equal(byKey.auth_method, 'key-auth');
    assert.equal(byKey.consumer, 'partner');
    assert.equal((await send(stack.gatewayUrl, '/both', { headers: { authorization: BASIC } })).status, 200);
    const byPassword = await internalClaims(stack, upstream.last(), 'both');
    assert.equal(byPassword.auth_method, 'basic-auth');
    assert.equal(byPassword.consumer, 'bob');
    assertNoCredential(upstream.last(), BASIC.slice(6));
  });

  it('answers no credential with 401 and every challenge, one field each', async () => {
    const reply = await send(stack.gatewayUrl, '/both');
    assertUnauthorized(reply, [KEY_CHALLENGE, BASIC_CHALLENGE]);
    assert.equal(reply.json.error_description, 'authentication required');
  });

  it('lets the authenticator that recognised a wrong credential refuse it', async () => {
    const wrongKey = await send(stack.gatewayUrl, '/both', { headers: { apikey: 'wrong', authorization: BASIC } });
    assertUnauthorized(wrongKey, [KEY_CHALLENGE]);
    assert.equal(wrongKey.json.error_description, 'invalid API key');
    const wrongPassword = await send(stack.gatewayUrl, '/both', { headers: { authorization: `Basic ${Buffer.from('bob:nope').toString('base64')}` } });
    assertUnauthorized(wrongPassword, [BASIC_CHALLENGE]);
  });

  it("keeps the credentials of the authenticators that did not decide from upstream too (an unspent HMAC signature could be replayed)", async () => {
    const signature = { 'signature-input': 'sig1=("@method");created=1;keyid="k1";alg="hmac-sha256";nonce="n1"', signature: 'sig1=:c2lnbmF0dXJl:' };
    upstream.reset();
    // Basic decides; a second API key (header and query) and an HMAC signature ride along
    const byPassword = await send(stack.gatewayUrl, '/all?apikey=query-key-never-checked&x=1', {
      headers: { authorization: BASIC, apikey: 'header-key-never-checked', ...signature },
    });
    assert.equal(byPassword.status, 200, byPassword.text);
    const seen = upstream.last();
    assert.equal((await internalClaims(stack, seen, 'all')).auth_method, 'basic-auth');
    assert.equal(seen.url, '/all?x=1');
    for (const name of ['apikey', 'signature', 'signature-input', 'proxy-authorization']) assert.equal(seen.headers[name], undefined, name);
    assertNoCredential(seen, 'never-checked');
    // the key decides; the signature stays behind
    upstream.reset();
    const byKey = await send(stack.gatewayUrl, '/all', { headers: { apikey: KEY, ...signature } });
    assert.equal(byKey.status, 200, byKey.text);
    assert.equal((await internalClaims(stack, upstream.last(), 'all')).auth_method, 'key-auth');
    for (const name of ['apikey', 'signature', 'signature-input']) assert.equal(upstream.last().headers[name], undefined, name);
  });

  it('uses the anonymous consumer only when no credential is presented', async () => {
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/public');
    assert.equal(reply.status, 200, reply.text);
    const claims = await internalClaims(stack, upstream.last(), 'public');
    assert.equal(claims.consumer, 'guest');
    assert.equal(claims.auth_method, 'anonymous');
    assert.deepEqual(claims.groups, ['public']);
    assert.equal((await send(stack.gatewayUrl, '/public', { headers: { authorization: BASIC } })).status, 200);
    assert.equal((await internalClaims(stack, upstream.last(), 'public')).consumer, 'bob');
    assertUnauthorized(await send(stack.gatewayUrl, '/public', { headers: { apikey: 'wrong' } }), [KEY_CHALLENGE]);
    assertUnauthorized(
      await send(stack.gatewayUrl, '/public', { headers: { authorization: `Basic ${Buffer.from('bob:nope').toString('base64')}` } }),
      [BASIC_CHALLENGE],
    );
  });
});
