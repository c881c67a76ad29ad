// scopes: required for every method plus per method; 403 insufficient_scope with the
// RFC 6750 challenge; config errors naming the key.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/index.js';
import { createScopes } from '../../src/gateway/authz/scopes.js';
import { PLUGINS } from '../../src/gateway/plugins.js';
import type { Identity } from '../../src/gateway/types.js';
import { gatewayRequest, identity, refusal } from './limits-harness.js';

const PATH = 'gateway.plugins[2].config';

function configError(config: Record<string, unknown>): ConfigError {
  try {
    createScopes(config, PATH);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('scopes config', () => {
  it('is registered as an authorize-stage plugin', async () => {
    const instance = await PLUGINS.get('scopes')!.create({ required: ['a'] }, undefined as never, PATH);
    assert.equal(instance.stage, 'authorize');
    assert.equal(instance.impl.name, 'scopes');
  });

  it('names the offending key', () => {
    assert.equal(configError({}).message, `${PATH}.required: name at least one scope in required or methods`);
    assert.equal(configError({ required: ['a'], method: {} }).path, `${PATH}.method`);
    assert.equal(configError({ required: 'orders' }).message, `${PATH}.required: expected a list, got "orders"`);
    assert.equal(
      configError({ required: ['orders read'] }).message,
      `${PATH}.required[0]: expected a scope (non-empty, no spaces or quotes), got "orders read"`,
    );
    assert.equal(configError({ methods: { 'GET!': ['a'] } }).path, `${PATH}.methods["GET!"]`);
    assert.equal(configError({ methods: { get: ['a'], GET: ['b'] } }).message, `${PATH}.methods.GET: method listed twice`);
    assert.equal(configError({ methods: { POST: 'write' } }).path, `${PATH}.methods.POST`);
  });
});

describe('scopes', () => {
  const scopes = createScopes(
    { required: ['orders'], methods: { post: ['orders:write'], DELETE: ['orders:write', 'orders:admin'] } },
    PATH,
  );
  const call = (method: string, granted: string[], authMethod: Identity['auth_method'] = 'jwt') =>
    scopes.authorize(gatewayRequest({ method, identity: identity({ scope: granted, auth_method: authMethod }) }));

  it('lets a request through with every scope its method needs', async () => {
    await call('GET', ['orders']);
    await call('PATCH', ['orders', 'other']);
    await call('POST', ['orders:write', 'orders']);
    await call('DELETE', ['orders', 'orders:admin', 'orders:write']);
  });

  it('refuses a missing scope with 403 insufficient_scope naming everything the method needs', async () => {
    const get = await refusal(() => call('GET', ['orders:write']));
    assert.equal(get.status, 403);
    assert.equal(get.code, 'insufficient_scope');
    assert.equal(get.message, 'requires scope: orders');
    assert.deepEqual(get.headers, { 'www-authenticate': 'Bearer realm="drawbridge", error="insufficient_scope", scope="orders"' });
    const post = await refusal(() => call('POST', ['orders']));
    assert.equal(post.headers['www-authenticate'], 'Bearer realm="drawbridge", error="insufficient_scope", scope="orders orders:write"');
    const del = await refusal(() => call('DELETE', ['orders', 'orders:write']));
    assert.equal(del.message, 'requires scope: orders orders:write orders:admin');
    assert.ok((await refusal(() => call('GET', [], 'oauth2'))).headers['www-authenticate']?.startsWith('Bearer '));
  });

  it('gives the RFC 6750 challenge to Bearer-token callers (jwt, oauth2) only: the same 403 without it for the others', async () => {
    for (const method of ['key-auth', 'basic-auth', 'hmac-auth', 'session', 'anonymous'] as const) {
      const err = await refusal(() => call('POST', ['orders'], method));
      assert.equal(err.status, 403, method);
      assert.equal(err.code, 'insufficient_scope', method);
      assert.equal(err.message, 'requires scope: orders orders:write', method);
      assert.deepEqual(err.headers, {}, method);
    }
  });

  it('refuses a request nobody authenticated with 403 forbidden', async () => {
    const err = await refusal(() => scopes.authorize(gatewayRequest({ method: 'GET' })));
    assert.equal(err.status, 403);
    assert.equal(err.code, 'forbidden');
    assert.equal(err.message, 'no consumer identified');
  });

  it('uses GET for HEAD unless HEAD has its own entry; methods without requirements pass', async () => {
    const perMethod = createScopes({ methods: { GET: ['read'], PUT: ['write'] } }, PATH);
    const head = await refusal(() => perMethod.authorize(gatewayRequest({ method: 'HEAD', identity: identity({ auth_method: 'jwt' }) })));
    assert.equal(head.headers['www-authenticate'], 'Bearer realm="drawbridge", error="insufficient_scope", scope="read"');
    await perMethod.authorize(gatewayRequest({ method: 'HEAD', identity: identity({ scope: ['read'] }) }));
    await perMethod.authorize(gatewayRequest({ method: 'POST' })); // nothing required, not even an identity
    const ownHead = createScopes({ methods: { GET: ['read'], HEAD: [] } }, PATH);
    await ownHead.authorize(gatewayRequest({ method: 'HEAD', identity: identity() }));
  });
});
