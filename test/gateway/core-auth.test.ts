// The pipeline with real authenticators: the internal JWT upstream gets (verified with jose
// against the auth server's JWKS, exactly the ARCHITECTURE §5 claims), OR-ed
// authenticators with every challenge on 401, `anonymous`, the most specific plugin
// configuration winning, and plugin config errors naming their key path.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { validateConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/config/schema.js';
import { unauthorized } from '../../src/gateway/errors.js';
import { PLUGINS } from '../../src/gateway/plugins.js';
import { SKIP, type Identity, type PluginFactory } from '../../src/gateway/types.js';
import { startStack, startUpstream, TEST_SECRET, type Stack, type Upstream } from '../helpers/gateway.js';
import { headerValues, send } from './core-http.js';

const KEY_A = 'key-a-0123456789abcdefghijklmnop';
const KEY_ROUTE = 'key-route-0123456789abcdefghij';

/** Test-only authenticator: `x-test-identity: <json>` → that identity; `x-test-fail` → 401. */
const testAuth: PluginFactory = {
  name: 'test-auth',
  create(config) {
    return {
      stage: 'authenticate',
      impl: {
        name: 'test-auth',
        challenge: `Test realm="${String(config.realm ?? 'test')}"`,
        authenticate(gr) {
          if (gr.req.headers['x-test-fail'] !== undefined) return { kind: 'fail', error: unauthorized('bad test credential', 'Test error="invalid"') };
          const raw = gr.req.headers['x-test-identity'];
          if (typeof raw !== 'string') return SKIP;
          gr.stripHeaders.add('x-test-identity');
          return { kind: 'ok', identity: JSON.parse(raw) as Identity };
        },
      },
    };
  },
};

const plugins = new Map<string, PluginFactory>([...PLUGINS, ['test-auth', testAuth]]);

async function verify(stack: Stack, token: string, audience: string): Promise<JWTPayload> {
  const jwks = createRemoteJWKSet(new URL(stack.jwksUri!));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: stack.issuer, audience, typ: 'at+jwt' });
  assert.equal(typeof protectedHeader.kid, 'string');
  return payload;
}

function bearer(up: Upstream): string {
  const auth = up.last().headers.authorization;
  assert.ok(typeof auth === 'string' && auth.startsWith('Bearer '), `upstream got ${String(auth)}`);
  return auth.slice(7);
}

describe('gateway pipeline: internal token and authenticators', () => {
  let orders: Upstream;
  let billing: Upstream;
  let stack: Stack;

  before(async () => {
    orders = await startUpstream({ name: 'orders' });
    billing = await startUpstream({ name: 'billing' });
    stack = await startStack({
      plugins,
      gateway: {
        internal_token_ttl: '90s',
        consumers: [
          { username: 'partner-a', groups: ['partners', 'eu'], credentials: { 'key-auth': [{ key: KEY_A }] } },
          { username: 'route-user', credentials: { 'key-auth': [{ key: KEY_ROUTE }] } },
          { username: 'guest', groups: ['anonymous'] },
        ],
        plugins: [{ name: 'key-auth', config: { key_names: ['apikey'] } }],
        services: [
          {
            name: 'orders',
            url: orders.url,
            plugins: [{ name: 'basic-auth' }, { name: 'test-auth' }],
            routes: [
              { name: 'orders', paths: ['/orders'] },
              {
                name: 'orders-route-key',
                paths: ['/special'],
                plugins: [{ name: 'key-auth', config: { key_names: ['x-route-key'] } }],
              },
            ],
          },
          {
            name: 'billing',
            url: billing.url,
            routes: [
              { name: 'billing', paths: ['/billing'] },
              { name: 'billing-open', paths: ['/open'], plugins: [{ name: 'key-auth', config: { anonymous: 'guest' } }] },
            ],
          },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await Promise.all([orders?.close(), billing?.close()]);
  });

  it('a key-auth consumer reaches upstream with exactly the §5 claims, verifiable with the JWKS', async () => {
    const res = await send(`${stack.gatewayUrl}/billing/1`, { headers: { apikey: KEY_A, authorization: 'Basic bm90OnVzZWQ=' } });
    assert.equal(res.status, 200);
    const token = bearer(billing);
    assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
    const claims = await verify(stack, token, 'billing');
    assert.deepEqual(Object.keys(claims).sort(), ['aud', 'auth_method', 'client_id', 'consumer', 'exp', 'groups', 'iat', 'iss', 'jti', 'scope', 'sub']);
    assert.equal(claims.iss, stack.issuer);
    assert.equal(claims.sub, 'consumer:partner-a');
    assert.equal(claims.aud, 'billing');
    assert.equal(claims.exp! - claims.iat!, 90);
    assert.equal(claims.client_id, 'partner-a');
    assert.equal(claims.scope, '');
    assert.deepEqual(claims.groups, ['partners', 'eu']);
    assert.equal(claims.auth_method, 'key-auth');
    assert.equal(claims.consumer, 'partner-a');
    const h = billing.last().headers;
    assert.equal(h.apikey, undefined, 'the edge credential never reaches upstream');
    assert.equal(h['x-consumer-username'], 'partner-a');
    assert.equal(h['x-consumer-groups'], 'partners, eu');
    assert.equal(typeof h['x-consumer-id'], 'string');
  });

  it('tokens are cached per credential and service', async () => {
    await send(`${stack.gatewayUrl}/billing/2`, { headers: { apikey: KEY_A } });
    const first = bearer(billing);
    await send(`${stack.gatewayUrl}/billing/3`, { headers: { apikey: KEY_A } });
    assert.equal(bearer(billing), first);
    await send(`${stack.gatewayUrl}/orders/3`, { headers: { apikey: KEY_A } });
    const other = bearer(orders);
    assert.notEqual(other, first);
    assert.equal((await verify(stack, other, 'orders')).aud, 'orders');
  });

  it('sid, act, scope, client_id and extra claims come from the identity; exp never passes expires_at', async () => {
    const now = Math.floor(Date.now() / 1000);
    const identity: Identity = {
      auth_method: 'oauth2',
      sub: 'user-7',
      client_id: 'web',
      scope: ['openid', 'orders:read'],
      groups: ['admin'],
      credential_id: 'cred-test-1',
      sid: 'session-1',
      act: { sub: 'svc-a' },
      expires_at: now + 20,
      claims: { email: 'u7@example.test', iss: 'https://forged.example' },
    };
    const res = await send(`${stack.gatewayUrl}/orders/me`, { headers: { 'x-test-identity': JSON.stringify(identity) } });
    assert.equal(res.status, 200);
    assert.equal(orders.last().headers['x-test-identity'], undefined);
    const claims = await verify(stack, bearer(orders), 'orders');
    assert.deepEqual(Object.keys(claims).sort(), ['act', 'aud', 'auth_method', 'client_id', 'email', 'exp', 'groups', 'iat', 'iss', 'jti', 'scope', 'sid', 'sub']);
    assert.equal(claims.iss, stack.issuer);
    assert.equal(claims.sub, 'user-7');
    assert.equal(claims.client_id, 'web');
    assert.equal(claims.scope, 'openid orders:read');
    assert.equal(claims.sid, 'session-1');
    assert.deepEqual(claims.act, { sub: 'svc-a' });
    assert.equal(claims.auth_method, 'oauth2');
    assert.equal(claims.email, 'u7@example.test');
    assert.equal(claims.exp, now + 20);
    assert.equal(orders.last().headers['x-consumer-username'], undefined);
  });

  it('no recognised credential → 401 with every configured challenge, one field each', async () => {
    const res = await send(`${stack.gatewayUrl}/orders/1`, { headers: { 'x-request-id': 'r-401' } });
    assert.equal(res.status, 401);
    assert.deepEqual(headerValues(res, 'www-authenticate'), ['Key realm="drawbridge"', 'Basic realm="drawbridge", charset="UTF-8"', 'Test realm="test"']);
    assert.deepEqual(res.json(), { error: 'unauthorized', error_description: 'authentication required', request_id: 'r-401' });
    assert.equal(orders.requests.filter((r) => r.url === '/1').length, 0);
  });

  it('the first authenticator that recognises its credential decides', async () => {
    const wrongKey = await send(`${stack.gatewayUrl}/orders/1`, {
      headers: { apikey: 'wrong-key-0123456789', 'x-test-identity': JSON.stringify({ sub: 'x' }) },
    });
    assert.equal(wrongKey.status, 401);
    assert.deepEqual(headerValues(wrongKey, 'www-authenticate'), ['Key realm="drawbridge"']);
    const failing = await send(`${stack.gatewayUrl}/orders/1`, { headers: { 'x-test-fail': '1' } });
    assert.equal(failing.status, 401);
    assert.deepEqual(headerValues(failing, 'www-authenticate'), ['Test error="invalid"']);
    assert.equal(failing.json().error_description, 'bad test credential');
  });

  it('a route-level plugin overrides the global one of the same name', async () => {
    const global = await send(`${stack.gatewayUrl}/special/x`, { headers: { apikey: KEY_A } });
    assert.equal(global.status, 401, 'apikey is not a key name on this route');
    const res = await send(`${stack.gatewayUrl}/special/x`, { headers: { 'x-route-key': KEY_ROUTE } });
    assert.equal(res.status, 200);
    assert.equal(orders.last().headers['x-route-key'], undefined);
    assert.equal((await verify(stack, bearer(orders), 'orders')).consumer, 'route-user');
  });

  it('anonymous: no credential proceeds as the named consumer; a wrong one is still 401', async () => {
    const res = await send(`${stack.gatewayUrl}/open/x`);
    assert.equal(res.status, 200);
    const h = billing.last().headers;
    assert.equal(h['x-consumer-username'], 'guest');
    assert.equal(h['x-anonymous-consumer'], 'true');
    const claims = await verify(stack, bearer(billing), 'billing');
    assert.equal(claims.auth_method, 'anonymous');
    assert.equal(claims.sub, 'consumer:guest');
    assert.equal(claims.consumer, 'guest');
    assert.deepEqual(claims.groups, ['anonymous']);
    const wrong = await send(`${stack.gatewayUrl}/open/x`, { headers: { apikey: 'wrong-key-0123456789' } });
    assert.equal(wrong.status, 401);
    const known = await send(`${stack.gatewayUrl}/open/x`, { headers: { apikey: KEY_A } });
    assert.equal(known.status, 200);
    assert.equal(billing.last().headers['x-consumer-username'], 'partner-a');
  });
});

describe('gateway compile: config errors name the key path', () => {
  async function startError(gateway: Record<string, unknown>): Promise<ConfigError> {
    try {
      const stack = await startStack({ auth: false, plugins, gateway });
      await stack.close();
    } catch (err) {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      return err;
    }
    assert.fail('the gateway started');
  }

  it('an unknown plugin', async () => {
    const err = await startError({
      services: [{ name: 's', url: 'http://127.0.0.1:9', plugins: [{ name: 'key-auth' }, { name: 'nope' }] }],
    });
    assert.equal(err.path, 'gateway.services[0].plugins[1].name');
    assert.match(err.message, /unknown plugin "nope" \(known: .*key-auth.*\)/);
  });

  it("a plugin's own config", async () => {
    const err = await startError({
      services: [{ name: 's', url: 'http://127.0.0.1:9', routes: [{ paths: ['/'], plugins: [{ name: 'key-auth', config: { key_names: 'apikey' } }] }] }],
    });
    assert.equal(err.path, 'gateway.services[0].routes[0].plugins[0].config.key_names');
  });

  it('the same plugin twice at one level, and an anonymous consumer that does not exist', async () => {
    const twice = await startError({ plugins: [{ name: 'key-auth' }, { name: 'key-auth' }] });
    assert.equal(twice.path, 'gateway.plugins[1].name');
    const missing = await startError({
      plugins: [{ name: 'key-auth', config: { anonymous: 'nobody' } }],
      services: [{ name: 's', url: 'http://127.0.0.1:9', routes: [{ paths: ['/'] }] }],
    });
    assert.equal(missing.path, 'gateway.plugins[0].config.anonymous');
    assert.match(missing.message, /no consumer named "nobody"/);
  });

  it('schema: regex paths must compile, route names are unique, workers need shared storage', () => {
    const base = { issuer: 'http://127.0.0.1:9000', secret: TEST_SECRET, storage: 'memory:' };
    assert.throws(
      () => validateConfig({ ...base, gateway: { services: [{ name: 's', url: 'http://127.0.0.1:9', routes: [{ paths: ['~/a(b'] }] }] } }),
      (err: unknown) => err instanceof ConfigError && err.path === 'gateway.services[0].routes[0].paths[0]',
    );
    assert.throws(
      () =>
        validateConfig({
          ...base,
          gateway: {
            services: [
              { name: 's', url: 'http://127.0.0.1:9', routes: [{ name: 'r', paths: ['/a'] }] },
              { name: 't', url: 'http://127.0.0.1:9', routes: [{ name: 'r', paths: ['/b'] }] },
            ],
          },
        }),
      (err: unknown) => err instanceof ConfigError && err.path === 'gateway.services[1].routes[0].name',
    );
    assert.throws(
      () => validateConfig({ ...base, gateway: { workers: 2 } }),
      (err: unknown) => err instanceof ConfigError && err.path === 'gateway.workers',
    );
    const ok = validateConfig({ ...base, storage: 'sqlite:/tmp/x.db', gateway: { workers: 'auto', services: [{ name: 's', url: 'http://127.0.0.1:9', connect_timeout: '250ms' }] } });
    assert.equal(ok.gateway?.workers, 'auto');
    assert.equal(ok.gateway?.services[0]?.connect_timeout, 250);
    assert.equal(ok.gateway?.services[0]?.read_timeout, 60_000);
    assert.deepEqual(ok.gateway?.forward_auth, {
      enabled: true,
      path: '/_drawbridge/authz',
      allow: ['127.0.0.0/8', '::1', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
    });
  });
});
