// The phantom-token pattern (issue #5): an opaque access token at the edge, a JWT upstream.
// Real auth server, real gateway, recording upstream; auth and gateway share this process
// and so its event bus (no Redis here: see revocation-redis.test.ts for two instances).
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { ConfigError } from '../../src/config/index.js';
import { PLUGINS } from '../../src/gateway/plugins.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { assertNoCredential, assertUnauthorized, send, unitDeps, type UnitDeps } from './authn-support.js';
import {
  CHALLENGE,
  clientCredentialsToken,
  inactiveChallenge,
  jwtAccessToken,
  introspectionPlugin,
  passwordTokens,
  revoke,
  startForeignIntrospection,
  startPhantomStack,
  type ForeignServer,
} from './phantom-support.js';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('oauth2-introspection: phantom tokens against our auth server', () => {
  let upstream: Upstream;
  let stack: Stack;
  let issuer: string;

  before(async () => {
    upstream = await startUpstream();
    ({ stack, issuer } = await startPhantomStack((iss) => ({
      services: [
        { name: 'api', url: upstream.url, routes: [{ paths: ['/api'] }], plugins: [introspectionPlugin(iss)] },
        {
          name: 'api-json',
          url: upstream.url,
          routes: [{ paths: ['/json'] }],
          plugins: [introspectionPlugin(iss, { jwt_response: false })],
        },
        {
          name: 'writes',
          url: upstream.url,
          routes: [{ paths: ['/writes'] }],
          plugins: [introspectionPlugin(iss, { required_scopes: ['orders:write'] })],
        },
        {
          name: 'mixed',
          url: upstream.url,
          routes: [{ paths: ['/mixed'] }],
          plugins: [{ name: 'jwt', config: { issuers: [{ issuer: iss, jwks_uri: `${iss}/.well-known/jwks.json` }] } }, introspectionPlugin(iss)],
        },
      ],
    })));
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  async function verifiedUpstreamJwt(audience: string) {
    const header = upstream.last().headers.authorization;
    assert.ok(typeof header === 'string' && header.startsWith('Bearer '), `upstream Authorization: ${String(header)}`);
    const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(header.slice(7), jwks, { issuer, audience, typ: 'at+jwt' });
    assert.equal(protectedHeader.typ, 'at+jwt');
    return payload;
  }

  it('refuses a refresh token at the edge (introspected as active, with token_use refresh_token), in both response forms', async () => {
    const { access_token, refresh_token } = await passwordTokens(issuer);
    for (const path of ['/api/orders', '/json/orders']) {
      assertUnauthorized(await send(stack.gatewayUrl, path, bearer(refresh_token)), [inactiveChallenge()], 'invalid_token');
      assert.equal((await send(stack.gatewayUrl, path, bearer(access_token))).status, 200, path);
    }
  });

  it('swaps an opaque token for an internal JWT that jose verifies with the JWKS; the opaque token never reaches upstream', async () => {
    const token = await clientCredentialsToken(issuer);
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/api/orders', bearer(token));
    assert.equal(reply.status, 200, reply.text);
    const claims = await verifiedUpstreamJwt('api');
    assert.equal(claims.auth_method, 'oauth2');
    assert.equal(claims.client_id, 'svc');
    assert.equal(claims.sub, 'svc');
    assert.equal(claims.scope, 'orders:read');
    assertNoCredential(upstream.last(), token);
  });

  it('works with plain RFC 7662 JSON responses (jwt_response: false)', async () => {
    const token = await clientCredentialsToken(issuer, 'orders:read orders:write');
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/json/x', bearer(token));
    assert.equal(reply.status, 200, reply.text);
    const claims = await verifiedUpstreamJwt('api-json');
    assert.equal(claims.auth_method, 'oauth2');
    assert.equal(claims.client_id, 'svc');
    assert.equal(claims.scope, 'orders:read orders:write');
    assertNoCredential(upstream.last(), token);
  });

  it('refuses unknown tokens with 401 invalid_token, skips JWTs and answers 401 without a token', async () => {
    assertUnauthorized(await send(stack.gatewayUrl, '/api/x', bearer('not-a-token-we-issued')), [inactiveChallenge()], 'invalid_token');
    // a JWT is the jwt plugin's: with no other authenticator it is simply not a credential here
    assertUnauthorized(await send(stack.gatewayUrl, '/api/x', bearer('aaa.bbb.ccc')), [CHALLENGE]);
    assertUnauthorized(await send(stack.gatewayUrl, '/api/x'), [CHALLENGE]);
  });

  it('a route with jwt and oauth2-introspection answers a malformed Bearer value with 400 invalid_request', async () => {
    for (const value of ['Bearer a.b c', 'Bearer']) {
      const reply = await send(stack.gatewayUrl, '/mixed/x', { headers: { authorization: value } });
      assert.equal(reply.status, 400, `${value}: ${reply.text}`);
      assert.equal(reply.json.error, 'invalid_request', value);
    }
  });

  it('enforces required_scopes with 403 insufficient_scope', async () => {
    const token = await clientCredentialsToken(issuer, 'orders:read');
    const reply = await send(stack.gatewayUrl, '/writes/x', bearer(token));
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.json.error, 'insufficient_scope');
  });

  it('rejects a revoked token within 1 s although its answer is cached (in-process bus)', async () => {
    const token = await clientCredentialsToken(issuer);
    assert.equal((await send(stack.gatewayUrl, '/api/x', bearer(token))).status, 200);
    assert.equal((await send(stack.gatewayUrl, '/api/x', bearer(token))).status, 200); // cache hit
    const start = performance.now();
    await revoke(issuer, token);
    let reply = await send(stack.gatewayUrl, '/api/x', bearer(token));
    while (reply.status === 200 && performance.now() - start < 2000) {
      await new Promise((r) => setTimeout(r, 5));
      reply = await send(stack.gatewayUrl, '/api/x', bearer(token));
    }
    const delay = performance.now() - start;
    process.stdout.write(`# phantom token: revocation took effect after ${delay.toFixed(1)} ms (in-process bus)\n`);
    assertUnauthorized(reply, [inactiveChallenge()], 'invalid_token');
    assert.ok(delay < 1000, `revocation took ${delay} ms`);
  });

  it('a route with jwt and oauth2-introspection takes both kinds; a revoked JWT access token is refused too (by jti)', async () => {
    const opaque = await clientCredentialsToken(issuer);
    const jwtToken = await jwtAccessToken(issuer);
    assert.equal((await send(stack.gatewayUrl, '/mixed/x', bearer(opaque))).status, 200);
    assert.equal((await verifiedUpstreamJwt('mixed')).auth_method, 'oauth2');
    assert.equal((await send(stack.gatewayUrl, '/mixed/x', bearer(jwtToken))).status, 200);
    assert.equal((await verifiedUpstreamJwt('mixed')).auth_method, 'jwt');
    const start = performance.now();
    await revoke(issuer, jwtToken, 'svc-jwt');
    let reply = await send(stack.gatewayUrl, '/mixed/x', bearer(jwtToken));
    while (reply.status === 200 && performance.now() - start < 2000) {
      await new Promise((r) => setTimeout(r, 5));
      reply = await send(stack.gatewayUrl, '/mixed/x', bearer(jwtToken));
    }
    assert.equal(reply.status, 401, reply.text);
    assert.equal(reply.json.error, 'invalid_token');
    assert.ok(performance.now() - start < 1000);
  });
});

describe('oauth2-introspection: a foreign RFC 7662 server', () => {
  let upstream: Upstream;
  let foreign: ForeignServer;
  let stack: Stack;

  before(async () => {
    upstream = await startUpstream();
    foreign = await startForeignIntrospection();
    const plugin = (config: Record<string, unknown>) => ({
      name: 'oauth2-introspection',
      config: { issuer: foreign.url, introspection_endpoint: foreign.endpoint, client_id: 'rs', client_secret: 'rs-secret', jwt_response: false, ...config },
    });
    stack = await startStack({
      gateway: {
        services: [
          { name: 'svc', url: upstream.url, routes: [{ paths: ['/svc'] }], plugins: [plugin({})] },
          { name: 'nocache', url: upstream.url, routes: [{ paths: ['/nocache'] }], plugins: [plugin({ negative_cache_ttl: '0s', token_endpoint_auth_method: 'client_secret_post' })] },
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await foreign?.close();
    await upstream?.close();
  });

  it('accepts an active token: identity from the response (sub, scope, groups, client_id) in the internal JWT', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    foreign.tokens.set('foreign-good', { active: true, sub: 'user-7', client_id: 'app', scope: 'a b', groups: ['staff'], exp });
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/svc/x', bearer('foreign-good'));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(foreign.lastAuth, 'basic');
    const header = upstream.last().headers.authorization!;
    // the gateway minted it itself (the foreign server signs nothing): check the claims
    const payload = JSON.parse(Buffer.from(header.slice(7).split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    assert.equal(payload.sub, 'user-7');
    assert.equal(payload.client_id, 'app');
    assert.equal(payload.scope, 'a b');
    assert.deepEqual(payload.groups, ['staff']);
    assert.equal(payload.auth_method, 'oauth2');
    assert.equal(payload.aud, 'svc');
    assertNoCredential(upstream.last(), 'foreign-good');
    // cached: no second call
    assert.equal((await send(stack.gatewayUrl, '/svc/x', bearer('foreign-good'))).status, 200);
    assert.equal(foreign.calls.get('foreign-good'), 1);
  });

  it('refuses a token revoked by an event at once, without asking the issuer again', async () => {
    foreign.tokens.set('foreign-revoked', { active: true, sub: 'user-9', client_id: 'app', exp: Math.floor(Date.now() / 1000) + 600 });
    assert.equal((await send(stack.gatewayUrl, '/svc/x', bearer('foreign-revoked'))).status, 200);
    assert.equal(foreign.calls.get('foreign-revoked'), 1);
    const digest = createHash('sha256').update('foreign-revoked').digest('base64url');
    await stack.gateway.deps.events.publish({ type: 'token.revoked', digest });
    await new Promise((r) => setTimeout(r, 20));
    // the issuer still says active (a lagging replica, say): the event wins, and no call is made
    for (let i = 0; i < 3; i++) {
      assertUnauthorized(await send(stack.gatewayUrl, '/svc/x', bearer('foreign-revoked')), [inactiveChallenge()], 'invalid_token');
    }
    assert.equal(foreign.calls.get('foreign-revoked'), 1);
  });

  // RFC 6750 §3.1: a malformed request is 400 invalid_request. A value that is no b64token
  // (a space inside, or nothing at all) is never a token: it is not sent to the issuer either.
  it('a malformed Bearer value is a 400 invalid_request, never introspected', async () => {
    const before = foreign.total();
    for (const value of ['Bearer a b', 'Bearer', 'Bearer  ', 'Bearer tok"en', 'Bearer é']) {
      const reply = await send(stack.gatewayUrl, '/svc/x', { headers: { authorization: value } });
      assert.equal(reply.status, 400, `${value}: ${reply.text}`);
      assert.equal(reply.json.error, 'invalid_request', value);
      assert.match(reply.headers['www-authenticate'] as string, /^Bearer realm="drawbridge", error="invalid_request"/, value);
    }
    assert.equal(foreign.total(), before);
  });

  it('remembers inactive tokens for negative_cache_ttl (and not at all with 0s)', async () => {
    for (let i = 0; i < 3; i++) {
      assertUnauthorized(await send(stack.gatewayUrl, '/svc/x', bearer('foreign-bad')), [inactiveChallenge()], 'invalid_token');
    }
    assert.equal(foreign.calls.get('foreign-bad'), 1);
    for (let i = 0; i < 3; i++) {
      assertUnauthorized(await send(stack.gatewayUrl, '/nocache/x', bearer('foreign-worse')), [inactiveChallenge()], 'invalid_token');
    }
    assert.equal(foreign.calls.get('foreign-worse'), 3);
    assert.equal(foreign.lastAuth, 'post');
  });

  it('treats expired and refresh tokens as inactive', async () => {
    const now = Math.floor(Date.now() / 1000);
    foreign.tokens.set('foreign-expired', { active: true, sub: 'u', exp: now - 5 });
    foreign.tokens.set('foreign-refresh', { active: true, sub: 'u', exp: now + 600, token_type: 'refresh_token' });
    assertUnauthorized(await send(stack.gatewayUrl, '/svc/x', bearer('foreign-expired')), [inactiveChallenge()], 'invalid_token');
    assertUnauthorized(await send(stack.gatewayUrl, '/svc/x', bearer('foreign-refresh')), [inactiveChallenge()], 'invalid_token');
    // as ORY Hydra (and Drawbridge's own server) say it: token_use, with no token_type
    foreign.tokens.set('hydra-refresh', { active: true, sub: 'u', exp: now + 600, token_use: 'refresh_token' });
    assertUnauthorized(await send(stack.gatewayUrl, '/svc/x', bearer('hydra-refresh')), [inactiveChallenge()], 'invalid_token');
  });

  it('shares one introspection call between concurrent misses for the same token', async () => {
    foreign.tokens.set('foreign-busy', { active: true, sub: 'u', exp: Math.floor(Date.now() / 1000) + 600 });
    foreign.delayMs = 150;
    try {
      const replies = await Promise.all(Array.from({ length: 10 }, () => send(stack.gatewayUrl, '/svc/x', bearer('foreign-busy'))));
      assert.deepEqual(replies.map((r) => r.status), Array(10).fill(200));
    } finally {
      foreign.delayMs = 0;
    }
    assert.equal(foreign.calls.get('foreign-busy'), 1);
  });

  it('answers 503 (not cached) when the introspection endpoint fails', async () => {
    const broken = await startStack({
      gateway: {
        services: [
          {
            name: 'svc',
            url: upstream.url,
            routes: [{ paths: ['/svc'] }],
            plugins: [{ name: 'oauth2-introspection', config: { issuer: foreign.url, introspection_endpoint: foreign.endpoint, client_id: 'rs', client_secret: 'wrong', jwt_response: false } }],
          },
        ],
      },
    });
    try {
      const reply = await send(broken.gatewayUrl, '/svc/x', bearer('foreign-good'));
      assert.equal(reply.status, 503, reply.text);
      assert.equal(reply.json.error, 'service_unavailable');
    } finally {
      await broken.close();
    }
  });
});

describe('oauth2-introspection: config errors name the key', () => {
  let deps: UnitDeps;
  before(async () => {
    deps = await unitDeps();
  });
  after(async () => {
    await deps?.close();
  });

  async function configError(config: Record<string, unknown>): Promise<ConfigError> {
    try {
      await PLUGINS.get('oauth2-introspection')!.create(config, deps, 'gateway.plugins[0].config');
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err;
    }
    assert.fail(`expected a ConfigError for ${JSON.stringify(config)}`);
  }

  const good = { issuer: 'http://127.0.0.1:1', client_id: 'gw', client_secret: 's' };

  it('refuses missing, unknown and malformed keys', async () => {
    assert.match((await configError({ client_id: 'gw', client_secret: 's' })).message, /gateway\.plugins\[0\]\.config\.issuer/);
    assert.match((await configError({ issuer: 'http://127.0.0.1:1', client_secret: 's' })).message, /config\.client_id/);
    assert.match((await configError({ ...good, client_secret: '' })).message, /config\.client_secret/);
    assert.match((await configError({ ...good, issuer: 'ftp://x' })).message, /config\.issuer/);
    assert.match((await configError({ ...good, introspection_endpoint: 'nope' })).message, /config\.introspection_endpoint/);
    assert.match((await configError({ ...good, token_endpoint_auth_method: 'private_key_jwt' })).message, /config\.token_endpoint_auth_method/);
    assert.match((await configError({ ...good, negative_cache_ttl: 'soon' })).message, /config\.negative_cache_ttl/);
    assert.match((await configError({ ...good, cache: true })).message, /config\.cache/);
  });

  it('builds an authenticate-stage instance with a Bearer challenge', async () => {
    const instance = await PLUGINS.get('oauth2-introspection')!.create({ ...good, introspection_endpoint: 'http://127.0.0.1:1/i', jwt_response: false }, deps, 'p');
    assert.equal(instance.stage, 'authenticate');
    assert.ok(instance.stage === 'authenticate');
    assert.equal(instance.impl.name, 'oauth2-introspection');
    assert.equal(instance.impl.challenge, CHALLENGE);
  });
});
