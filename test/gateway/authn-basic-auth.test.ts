// basic-auth (RFC 7617) through the real gateway: right, wrong and unknown credentials,
// malformed headers (401, never 500), the exact challenge, Proxy-Authorization, the
// cached success and its eviction, nothing of the password upstream.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../../src/gateway/credentials.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { assertNoCredential, assertNotSpoofed, assertUnauthorized, internalClaims, send, SPOOFED } from './authn-support.js';

const CHALLENGE = 'Basic realm="drawbridge", charset="UTF-8"';
const PASSWORD = 'correct horse battery staple';

function basic(userPass: string): string {
  return `Basic ${Buffer.from(userPass, 'utf8').toString('base64')}`;
}

describe('basic-auth', () => {
  let upstream: Upstream;
  let stack: Stack;

  before(async () => {
    upstream = await startUpstream();
    stack = await startStack({
      gateway: {
        consumers: [
          {
            username: 'alice',
            groups: ['staff'],
            credentials: { 'basic-auth': [{ username: 'alice', password: PASSWORD }, { username: 'zoë', password: 'pässwörd:with:colons' }] },
          },
        ],
        services: [
          { name: 'files', url: upstream.url, routes: [{ paths: ['/files'], strip_path: false }], plugins: [{ name: 'basic-auth' }] },
          {
            name: 'vault',
            url: upstream.url,
            routes: [{ paths: ['/vault'], strip_path: false }],
            plugins: [{ name: 'basic-auth', config: { realm: 'vault', cache_ttl: 0 } }],
          },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  it('accepts the right password and sends the internal token upstream, not the password', async () => {
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/files/a.txt', { headers: { authorization: basic(`alice:${PASSWORD}`), ...SPOOFED } });
    assert.equal(reply.status, 200, reply.text);
    const rec = upstream.last();
    assertNoCredential(rec, Buffer.from(`alice:${PASSWORD}`).toString('base64'));
    assertNotSpoofed(rec);
    const claims = await internalClaims(stack, rec, 'files');
    assert.equal(claims.auth_method, 'basic-auth');
    assert.equal(claims.consumer, 'alice');
    assert.deepEqual(claims.groups, ['staff']);
  });

  it('decodes UTF-8 user-ids and splits at the first colon only', async () => {
    const reply = await send(stack.gatewayUrl, '/files', { headers: { authorization: basic('zoë:pässwörd:with:colons') } });
    assert.equal(reply.status, 200, reply.text);
  });

  it('accepts the scheme name in any case, and Proxy-Authorization', async () => {
    const lower = await send(stack.gatewayUrl, '/files', { headers: { authorization: `basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}` } });
    assert.equal(lower.status, 200, lower.text);
    upstream.reset();
    const proxy = await send(stack.gatewayUrl, '/files', { headers: { 'proxy-authorization': basic(`alice:${PASSWORD}`) } });
    assert.equal(proxy.status, 200, proxy.text);
    assert.equal(upstream.last().headers['proxy-authorization'], undefined);
  });

  it('refuses a wrong password and an unknown user alike, with the exact challenge', async () => {
    const wrong = await send(stack.gatewayUrl, '/files', { headers: { authorization: basic('alice:wrong') } });
    assertUnauthorized(wrong, [CHALLENGE]);
    assert.equal(wrong.json.error_description, 'invalid username or password');
    const unknown = await send(stack.gatewayUrl, '/files', { headers: { authorization: basic(`mallory:${PASSWORD}`) } });
    assertUnauthorized(unknown, [CHALLENGE]);
    assert.equal(unknown.json.error_description, 'invalid username or password');
  });

  it('never remembers a failure as a success', async () => {
    for (let i = 0; i < 2; i++) {
      assertUnauthorized(await send(stack.gatewayUrl, '/files', { headers: { authorization: basic('alice:nope') } }), [CHALLENGE]);
    }
    assert.equal((await send(stack.gatewayUrl, '/files', { headers: { authorization: basic(`alice:${PASSWORD}`) } })).status, 200);
    assertUnauthorized(await send(stack.gatewayUrl, '/files', { headers: { authorization: basic('alice:nope') } }), [CHALLENGE]);
  });

  it('answers malformed credentials with 401, not 500', async () => {
    const cases = [
      'Basic !!!notbase64!!!',
      'Basic YWxpY2U', // bad padding
      `Basic ${Buffer.from('alice-without-colon').toString('base64')}`,
      `Basic ${Buffer.from(':nouser').toString('base64')}`,
      `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`, // not UTF-8
      `Basic ${Buffer.from('al\u0001ice:x').toString('base64')}`, // control character
      'Basic',
      `Basic\t${Buffer.from('alice:x').toString('base64')}`, // RFC 9110 §11.4: SP only after the scheme
    ];
    for (const authorization of cases) {
      const reply = await send(stack.gatewayUrl, '/files', { headers: { authorization } });
      assertUnauthorized(reply, [CHALLENGE]);
      assert.equal(reply.json.error_description, 'malformed Basic credentials', authorization);
    }
  });

  it('answers a request without credentials, or with another scheme, with the challenge', async () => {
    assertUnauthorized(await send(stack.gatewayUrl, '/files'), [CHALLENGE]);
    assertUnauthorized(await send(stack.gatewayUrl, '/files', { headers: { authorization: 'Bearer abc.def.ghi' } }), [CHALLENGE]);
    assertUnauthorized(await send(stack.gatewayUrl, '/vault'), ['Basic realm="vault", charset="UTF-8"']);
  });

  it('remembers a success for cache_ttl, until the credentials change', async () => {
    const deps = stack.gateway.deps;
    const creds = { authorization: basic(`alice:${PASSWORD}`) };
    assert.equal((await send(stack.gatewayUrl, '/files', { headers: creds })).status, 200);
    assert.equal((await send(stack.gatewayUrl, '/vault', { headers: creds })).status, 200);
    // change the password behind the gateway's back
    const consumer = await deps.storage.consumers.getByUsername('alice');
    assert.ok(consumer);
    const [cred] = (await deps.storage.credentials.listByConsumer(consumer.id, 'basic-auth')).filter((c) => c.lookup === 'alice');
    assert.ok(cred);
    assert.ok(await deps.storage.credentials.updateSecret(cred.id, await hashPassword('new password'), null));
    // the consumer store has a cache of its own: drop it, so only the plugin's success cache stands between
    (deps.consumers as unknown as { invalidate(): void }).invalidate();
    // /files remembered the success (cache_ttl 60s); /vault (cache_ttl 0) checks every time
    assert.equal((await send(stack.gatewayUrl, '/files', { headers: creds })).status, 200);
    assertUnauthorized(await send(stack.gatewayUrl, '/vault', { headers: creds }), ['Basic realm="vault", charset="UTF-8"']);
    await deps.events.publish({ type: 'credentials.changed', consumer: 'alice' });
    assertUnauthorized(await send(stack.gatewayUrl, '/files', { headers: creds }), [CHALLENGE]);
    assert.equal((await send(stack.gatewayUrl, '/files', { headers: { authorization: basic('alice:new password') } })).status, 200);
  });
});
