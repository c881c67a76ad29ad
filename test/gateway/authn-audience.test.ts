// Regression: a token narrowed to one audience (RFC 8693 `audience`, RFC 8707 `resource`)
// was accepted by `jwt` and `oauth2-introspection` at routes of any other service, and the
// gateway re-minted the internal JWT with that service as `aud`, so the service behind it
// could not see the misuse. Now (src/gateway/authn/audience.ts):
//   - `audience` configured: one of its values must be in `aud` (both plugins);
//   - none configured, the token's issuer is ours (the top-level `issuer`): `aud` must
//     name the issuer or the route's service, also on a cache hit from another service;
//   - none configured, a foreign issuer: `aud` is not checked;
//   - a token without `aud` is refused whenever an audience is configured or defaulted.
// Part one drives both plugins with tokens we make (a foreign RFC 7662 server standing in as
// our own issuer); part two is the misuse end to end, with our auth server's token exchange.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { basic, postForm } from '../helpers/auth-server.js';
import { freePort, startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { assertUnauthorized, send } from './authn-support.js';
import { startForeignIntrospection, type ForeignServer } from './phantom-support.js';

const FOREIGN = 'https://idp.test';
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

function invalid(description: string): string {
  return `Bearer realm="drawbridge", error="invalid_token", error_description="${description}"`;
}

function notFor(service: string): string {
  return invalid(`token audience (aud) names neither this service (${service}) nor the issuer`);
}

const NO_AUD = invalid('token has no audience (aud)');
const NOT_ACCEPTED = invalid('token audience (aud) not accepted here');

function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** The claims of the internal JWT upstream received (minted by the gateway; here only its aud matters). */
function upstreamAud(upstream: Upstream): unknown {
  const header = String(upstream.last().headers.authorization);
  return (JSON.parse(Buffer.from(header.slice(7).split('.')[1]!, 'base64url').toString('utf8')) as JWTPayload).aud;
}

describe('audience: jwt and oauth2-introspection refuse tokens meant for another service', () => {
  let upstream: Upstream;
  let foreign: ForeignServer;
  let stack: Stack;
  let own: { key: CryptoKey; jwk: JWK };
  let other: { key: CryptoKey; jwk: JWK };
  /** our issuer: the foreign server's URL, named as the top-level issuer */
  let issuer: string;

  async function keyPair(kid: string): Promise<{ key: CryptoKey; jwk: JWK }> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    return { key: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
  }

  async function jwt(claims: JWTPayload, from = own, iss = issuer): Promise<string> {
    return new SignJWT({ iss, sub: 'alice', exp: now() + 300, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: from.jwk.kid!, typ: 'at+jwt' })
      .sign(from.key);
  }

  let opaqueCount = 0;
  function opaque(claims: Record<string, unknown>): string {
    const token = `opaque-${++opaqueCount}`;
    foreign.tokens.set(token, { active: true, sub: 'alice', client_id: 'orders', exp: now() + 300, ...claims });
    return token;
  }

  before(async () => {
    upstream = await startUpstream();
    foreign = await startForeignIntrospection();
    issuer = foreign.url;
    [own, other] = await Promise.all([keyPair('own-1'), keyPair('other-1')]);
    const jwtPlugin = (config: Record<string, unknown> = {}) => ({
      name: 'jwt',
      config: { issuers: [{ issuer, keys: [own.jwk] }, { issuer: FOREIGN, keys: [other.jwk] }], ...config },
    });
    const introspection = (config: Record<string, unknown> = {}) => ({
      name: 'oauth2-introspection',
      config: { issuer, introspection_endpoint: foreign.endpoint, client_id: 'rs', client_secret: 'rs-secret', jwt_response: false, ...config },
    });
    const service = (name: string, plugins: unknown[] = []) => ({ name, url: upstream.url, routes: [{ paths: [`/${name}`] }], plugins });
    stack = await startStack({
      auth: false,
      top: { issuer },
      gateway: {
        // one instance of each for both services: the verification cache is shared by them
        plugins: [jwtPlugin(), introspection()],
        services: [
          service('inventory'),
          service('billing'),
          service('strict', [jwtPlugin({ audience: ['urn:strict', 'https://strict.example/'] }), introspection({ audience: 'urn:strict' })]),
          service('scoped', [jwtPlugin({ required_scopes: ['orders:write'] }), introspection({ required_scopes: ['orders:write'] })]),
          // another issuer's introspection: no audience configured, none defaulted
          service('elsewhere', [introspection({ issuer: `${issuer}/tenant-b` })]),
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await foreign?.close();
    await upstream?.close();
  });

  it('jwt, our issuer, no audience configured: aud must name the route\'s service or the issuer (also on a cache hit)', async () => {
    const forInventory = await jwt({ aud: 'inventory' });
    upstream.reset();
    assert.equal((await send(stack.gatewayUrl, '/inventory/x', bearer(forInventory))).status, 200);
    assert.equal(upstreamAud(upstream), 'inventory');
    // the same token, verified and cached above, at another service
    for (let i = 0; i < 2; i++) {
      assertUnauthorized(await send(stack.gatewayUrl, '/billing/x', bearer(forInventory)), [notFor('billing')], 'invalid_token');
    }
    assert.equal(upstream.requests.length, 1, 'nothing reached billing');

    const forBoth = await jwt({ aud: ['inventory', 'billing'] });
    assert.equal((await send(stack.gatewayUrl, '/billing/x', bearer(forBoth))).status, 200);
    assert.equal(upstreamAud(upstream), 'billing');
    // the auth server's own default audience (no audience or resource asked for) is the issuer
    const forIssuer = await jwt({ aud: issuer });
    assert.equal((await send(stack.gatewayUrl, '/billing/x', bearer(forIssuer))).status, 200);
    assert.equal((await send(stack.gatewayUrl, '/inventory/x', bearer(forIssuer))).status, 200);

    assertUnauthorized(await send(stack.gatewayUrl, '/billing/x', bearer(await jwt({}))), [NO_AUD], 'invalid_token');
    assertUnauthorized(await send(stack.gatewayUrl, '/billing/x', bearer(await jwt({ aud: [] }))), [NO_AUD], 'invalid_token');
  });

  it('jwt, a foreign issuer without audience configured: aud is not checked', async () => {
    assert.equal((await send(stack.gatewayUrl, '/billing/x', bearer(await jwt({ aud: 'somewhere-else' }, other, FOREIGN)))).status, 200);
    assert.equal((await send(stack.gatewayUrl, '/billing/x', bearer(await jwt({}, other, FOREIGN)))).status, 200);
  });

  it('jwt with audience configured: one of its values, for every issuer; the defaults no longer apply', async () => {
    assert.equal((await send(stack.gatewayUrl, '/strict/x', bearer(await jwt({ aud: ['x', 'https://strict.example/'] })))).status, 200);
    assert.equal((await send(stack.gatewayUrl, '/strict/x', bearer(await jwt({ aud: 'urn:strict' }, other, FOREIGN)))).status, 200);
    for (const aud of [issuer, 'strict']) {
      assertUnauthorized(await send(stack.gatewayUrl, '/strict/x', bearer(await jwt({ aud }))), [NOT_ACCEPTED], 'invalid_token');
    }
    assertUnauthorized(await send(stack.gatewayUrl, '/strict/x', bearer(await jwt({ aud: 'billing' }, other, FOREIGN))), [NOT_ACCEPTED], 'invalid_token');
    assertUnauthorized(await send(stack.gatewayUrl, '/strict/x', bearer(await jwt({}, other, FOREIGN))), [NO_AUD], 'invalid_token');
  });

  it('oauth2-introspection, our issuer, no audience configured: the introspected aud must name the service or the issuer', async () => {
    const forInventory = opaque({ aud: 'inventory' });
    upstream.reset();
    assert.equal((await send(stack.gatewayUrl, '/inventory/x', bearer(forInventory))).status, 200);
    assert.equal(upstreamAud(upstream), 'inventory');
    for (let i = 0; i < 2; i++) {
      assertUnauthorized(await send(stack.gatewayUrl, '/billing/x', bearer(forInventory)), [notFor('billing')], 'invalid_token');
    }
    assert.equal(foreign.calls.get(forInventory), 1, 'one introspection, the answer cached');
    assert.equal(upstream.requests.length, 1, 'nothing reached billing');

    assert.equal((await send(stack.gatewayUrl, '/billing/x', bearer(opaque({ aud: ['inventory', 'billing'] })))).status, 200);
    assert.equal((await send(stack.gatewayUrl, '/billing/x', bearer(opaque({ aud: issuer })))).status, 200);
    assertUnauthorized(await send(stack.gatewayUrl, '/billing/x', bearer(opaque({}))), [NO_AUD], 'invalid_token');
  });

  it('oauth2-introspection with audience configured, and for a foreign issuer without it', async () => {
    assert.equal((await send(stack.gatewayUrl, '/strict/x', bearer(opaque({ aud: ['urn:strict'] })))).status, 200);
    assertUnauthorized(await send(stack.gatewayUrl, '/strict/x', bearer(opaque({ aud: issuer }))), [NOT_ACCEPTED], 'invalid_token');
    assertUnauthorized(await send(stack.gatewayUrl, '/strict/x', bearer(opaque({}))), [NO_AUD], 'invalid_token');
    // another issuer: today's behaviour, no check
    assert.equal((await send(stack.gatewayUrl, '/elsewhere/x', bearer(opaque({ aud: 'inventory' })))).status, 200);
    assert.equal((await send(stack.gatewayUrl, '/elsewhere/x', bearer(opaque({})))).status, 200);
  });

  it('a wrong audience is refused before required scopes are looked at (401, not 403)', async () => {
    assertUnauthorized(await send(stack.gatewayUrl, '/scoped/x', bearer(await jwt({ aud: 'inventory' }))), [notFor('scoped')], 'invalid_token');
    assertUnauthorized(await send(stack.gatewayUrl, '/scoped/x', bearer(opaque({ aud: 'inventory' }))), [notFor('scoped')], 'invalid_token');
    assert.equal((await send(stack.gatewayUrl, '/scoped/x', bearer(await jwt({ aud: 'scoped' })))).status, 403);
  });
});

describe('audience: a token exchanged for one service is refused at another (our auth server, RFC 8693)', () => {
  const ORDERS_SECRET = 'orders-secret-0123456789-abcdefghij';
  const GATEWAY_SECRET = 'gateway-secret-0123456789-abcdefghij';
  const WEB_SECRET = 'web-secret-0123456789-abcdefghijkl';
  let upstream: Upstream;
  let stack: Stack;
  let issuer: string;

  before(async () => {
    upstream = await startUpstream();
    ({ stack, issuer } = await startAudienceStack(upstream, { ORDERS_SECRET, GATEWAY_SECRET, WEB_SECRET }));
  });

  async function internalClaims(): Promise<JWTPayload> {
    const header = String(upstream.last().headers.authorization);
    const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    return (await jwtVerify(header.slice(7), jwks, { issuer, typ: 'at+jwt' })).payload;
  }

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  async function token(body: Record<string, string>, client: string, secret: string): Promise<string> {
    const res = await postForm(`${issuer}/oauth2/token`, body, { authorization: basic(client, secret) });
    const json = (await res.json()) as { access_token?: string };
    assert.equal(res.status, 200, JSON.stringify(json));
    return json.access_token!;
  }

  it('orders exchanges the user\'s token for inventory; billing refuses it (jwt and oauth2-introspection), inventory takes it', async () => {
    // alice's token, as the web app holds it (opaque), through the gateway to orders
    const userToken = await token({ grant_type: 'client_credentials', scope: 'orders:read' }, 'web', WEB_SECRET);
    upstream.reset();
    assert.equal((await send(stack.gatewayUrl, '/orders/1', bearer(userToken))).status, 200);
    const internal = String(upstream.last().headers.authorization).slice(7);
    assert.equal((await internalClaims()).aud, 'orders');

    for (const requested of ['urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:token-type:access_token']) {
      const exchanged = await token(
        {
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          audience: 'inventory',
          subject_token: internal,
          subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
          requested_token_type: requested,
        },
        'orders',
        ORDERS_SECRET,
      );
      const kind = exchanged.split('.').length === 3 ? 'jwt' : 'opaque';
      assert.equal(kind, requested.endsWith(':jwt') ? 'jwt' : 'opaque');
      upstream.reset();
      assertUnauthorized(await send(stack.gatewayUrl, '/billing/1', bearer(exchanged)), [notFor('billing')], 'invalid_token');
      assert.equal(upstream.requests.length, 0, `${kind}: nothing reached billing`);
      assert.equal((await send(stack.gatewayUrl, '/inventory/1', bearer(exchanged))).status, 200, kind);
      const claims = await internalClaims();
      assert.equal(claims.aud, 'inventory');
      assert.deepEqual(claims.act, { sub: 'orders' }, `${kind}: the delegation reaches inventory`);
      // and the internal JWT of one service is no credential at another
      assertUnauthorized(await send(stack.gatewayUrl, '/billing/1', bearer(internal)), [notFor('billing')], 'invalid_token');
    }
    // a token for the issuer itself (no audience asked for) is good everywhere, as before
    const plain = await token({ grant_type: 'client_credentials', scope: 'orders:read' }, 'web', WEB_SECRET);
    assert.equal((await send(stack.gatewayUrl, '/billing/1', bearer(plain))).status, 200);
  });
});

/** Auth server and gateway: services orders, inventory and billing, each with jwt and oauth2-introspection trusting our issuer. */
async function startAudienceStack(
  upstream: Upstream,
  secrets: { ORDERS_SECRET: string; GATEWAY_SECRET: string; WEB_SECRET: string },
): Promise<{ stack: Stack; issuer: string }> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const plugins = [
    { name: 'jwt', config: { issuers: [{ issuer, jwks_uri: `${issuer}/.well-known/jwks.json` }] } },
    { name: 'oauth2-introspection', config: { issuer, client_id: 'gateway', client_secret: secrets.GATEWAY_SECRET } },
  ];
  const service = (name: string) => ({ name, url: upstream.url, routes: [{ paths: [`/${name}`] }], plugins });
  const stack = await startStack({
    top: { issuer },
    auth: {
      listen: `127.0.0.1:${port}`,
      clients: [
        { client_id: 'web', client_secret: secrets.WEB_SECRET, grant_types: ['client_credentials'], scopes: ['orders:read'] },
        // introspect: allowed to introspect every token (RFC 7662 §4)
        { client_id: 'gateway', client_secret: secrets.GATEWAY_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
        {
          client_id: 'orders',
          client_secret: secrets.ORDERS_SECRET,
          grant_types: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
          scopes: ['orders:read'],
          audiences: ['inventory'],
        },
      ],
    },
    gateway: { services: [service('orders'), service('inventory'), service('billing')] },
  });
  return { stack, issuer };
}
