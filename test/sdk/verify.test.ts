// drawbridge/sdk on the receiving side: a microservice protected by `authenticate` behind
// the real gateway (key-auth and oauth2-introspection routes), then called directly with
// every kind of bad token. Each bad token is cross-checked: jose refuses it too.
import * as assert from 'node:assert/strict';
import { generateKeyPairSync, createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import {
  authenticate,
  bearerToken,
  createVerifier,
  DrawbridgeAuthError,
  requireGroups,
  requireScopes,
  type AuthenticatedRequest,
  type Verifier,
} from '../../src/sdk/index.js';
import { freePort, type Stack } from '../helpers/gateway.js';
import { basic, postForm } from '../helpers/auth-server.js';
import { challenges, send } from '../gateway/authn-support.js';
import {
  internalClaims,
  introspectionPlugin,
  readJson,
  sendJson,
  signingKey,
  signToken,
  startSdkStack,
  startService,
  SVC_SECRET,
  type Service,
} from './support.js';

const PARTNER_KEY = 'k3y-partner-a-0123456789abcdefghij';
const OPS_KEY = 'k3y-ops-user-0123456789abcdefghijk';

const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe('sdk: verifying the internal token behind the real gateway', () => {
  let stack: Stack;
  let issuer: string;
  let verifier: Verifier;
  let orders: Service;
  let connectStyle: Service;
  let jwksUri: string;

  before(async () => {
    // the service exists before the stack: its verifier discovers the issuer lazily
    const authPort = await freePort();
    issuer = `http://127.0.0.1:${authPort}`;
    verifier = createVerifier({ issuer, audience: ['orders', 'orders-oauth'] });
    orders = await startService(
      authenticate(verifier)(async function ordersHandler(req, res) {
        const path = req.url ?? '/';
        if (path.includes('/write')) requireScopes(req.auth, 'orders:write');
        if (path.includes('/admin')) requireGroups(req.auth, 'admins', 'ops');
        sendJson(res, 200, { claims: req.auth });
      }),
    );
    // the Express/Connect form, driven by a minimal connect-like chain
    const mw = authenticate(verifier, { scopes: ['orders:read'], groups: ['partners'] });
    connectStyle = await startService(function chain(req: IncomingMessage, res: ServerResponse) {
      mw(req, res, (err?: unknown) => {
        if (err) return sendJson(res, 500, { error: 'next(err)' });
        sendJson(res, 200, { via: 'next', sub: (req as AuthenticatedRequest).auth.sub, scopes: (req as AuthenticatedRequest).auth.scopes });
      });
    });
    ({ stack } = await startSdkStack(
      [{ client_id: 'svc', client_secret: SVC_SECRET, grant_types: ['client_credentials'], scopes: ['orders:read', 'orders:write'] }],
      (iss) => ({
        consumers: [
          { username: 'partner-a', groups: ['partners'], credentials: { 'key-auth': [{ key: PARTNER_KEY }] } },
          { username: 'ops-user', groups: ['ops'], credentials: { 'key-auth': [{ key: OPS_KEY }] } },
        ],
        services: [
          { name: 'orders', url: orders.url, routes: [{ paths: ['/orders'], strip_path: false }], plugins: [{ name: 'key-auth' }] },
          { name: 'orders-oauth', url: orders.url, routes: [{ paths: ['/oauth'], strip_path: false }], plugins: [introspectionPlugin(iss)] },
        ],
      }),
      authPort,
    ));
    jwksUri = `${issuer}/.well-known/jwks.json`;
  });

  after(async () => {
    await stack?.close();
    await orders?.close();
    await connectStyle?.close();
  });

  async function opaqueToken(scope: string): Promise<string> {
    const res = await postForm(`${issuer}/oauth2/token`, { grant_type: 'client_credentials', scope }, { authorization: basic('svc', SVC_SECRET) });
    const body = await readJson(res);
    assert.equal(res.status, 200, JSON.stringify(body));
    return body.access_token as string;
  }

  it('a key-auth call through the gateway reaches the service with verified, typed claims', async () => {
    const reply = await send(stack.gatewayUrl, '/orders/42', { headers: { apikey: PARTNER_KEY } });
    assert.equal(reply.status, 200, reply.text);
    const claims = reply.json.claims as Record<string, unknown>;
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, 'orders');
    assert.equal(claims.sub, 'consumer:partner-a');
    assert.equal(claims.consumer, 'partner-a');
    assert.equal(claims.auth_method, 'key-auth');
    assert.equal(claims.client_id, 'partner-a');
    assert.deepEqual(claims.groups, ['partners']);
    assert.equal(claims.scope, '');
    assert.deepEqual(claims.scopes, []);
    assert.equal(typeof claims.exp, 'number');
  });

  it('a scope the token lacks → 403 insufficient_scope with the RFC 6750 challenge, passed through the gateway', async () => {
    const reply = await send(stack.gatewayUrl, '/orders/write', { headers: { apikey: PARTNER_KEY } });
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.json.error, 'insufficient_scope');
    assert.equal(reply.json.error_description, 'missing scope: orders:write');
    // the gateway's request id reached the service and came back in the body (ARCHITECTURE §6 shape)
    assert.equal(typeof reply.json.request_id, 'string');
    assert.equal(reply.headers['x-request-id'] ?? reply.json.request_id, reply.json.request_id);
    assert.deepEqual(challenges(reply), [
      'Bearer realm="orders", error="insufficient_scope", error_description="missing scope: orders:write", scope="orders:write"',
    ]);
    assert.ok(!reply.text.includes('    at '), 'no stack trace');
  });

  it('scopes from an OAuth token (phantom route): orders:write passes the guard, orders:read alone does not', async () => {
    const writer = await send(stack.gatewayUrl, '/oauth/write', { headers: { authorization: `Bearer ${await opaqueToken('orders:read orders:write')}` } });
    assert.equal(writer.status, 200, writer.text);
    const claims = writer.json.claims as Record<string, unknown>;
    assert.equal(claims.aud, 'orders-oauth');
    assert.equal(claims.auth_method, 'oauth2');
    assert.deepEqual(claims.scopes, ['orders:read', 'orders:write']);
    const reader = await send(stack.gatewayUrl, '/oauth/write', { headers: { authorization: `Bearer ${await opaqueToken('orders:read')}` } });
    assert.equal(reader.status, 403, reader.text);
    assert.equal(reader.json.error, 'insufficient_scope');
  });

  it('requireGroups is any-of: ops passes (admins or ops), partners do not', async () => {
    const ops = await send(stack.gatewayUrl, '/orders/admin', { headers: { apikey: OPS_KEY } });
    assert.equal(ops.status, 200, ops.text);
    const partner = await send(stack.gatewayUrl, '/orders/admin', { headers: { apikey: PARTNER_KEY } });
    assert.equal(partner.status, 403, partner.text);
    assert.equal(partner.json.error, 'insufficient_scope');
    assert.match(partner.json.error_description as string, /admins, ops/);
    assert.deepEqual(challenges(partner), [
      'Bearer realm="orders", error="insufficient_scope", error_description="requires membership in one of: admins, ops"',
    ]);
  });

  it('a valid token signed with the issuer key is accepted directly, by us and by jose', async () => {
    const token = await signToken(signingKey(stack), internalClaims(issuer, 'orders'));
    const reply = await send(orders.url, '/orders/1', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(reply.status, 200, reply.text);
    await jwtVerify(token, createRemoteJWKSet(new URL(jwksUri)), { issuer, audience: 'orders', typ: 'at+jwt' });
    // the scheme name is case-insensitive (RFC 9110 §11.1)
    assert.equal((await send(orders.url, '/orders/1', { headers: { authorization: `bEaReR ${token}` } })).status, 200);
  });

  it('no token → 401 with a bare challenge (RFC 6750 §3.1: no error code); another scheme counts as none', async () => {
    for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }] as Record<string, string>[]) {
      const reply = await send(orders.url, '/orders/1', { headers });
      assert.equal(reply.status, 401, reply.text);
      assert.deepEqual(challenges(reply), ['Bearer realm="orders"']);
      // the body says what the gateway's and userinfo's say when no credential came
      assert.equal(reply.json.error, 'unauthorized');
      assert.equal(reply.headers['cache-control'], 'no-store');
    }
    assert.equal(orders.hits > 0, true);
  });

  it('a malformed Bearer header → 400 invalid_request', async () => {
    for (const authorization of ['Bearer', 'Bearer two tokens', 'Bearer "quoted"', 'Bearer a,b']) {
      const reply = await send(orders.url, '/orders/1', { headers: { authorization } });
      assert.equal(reply.status, 400, `${authorization}: ${reply.text}`);
      assert.equal(reply.json.error, 'invalid_request');
      assert.match(challenges(reply)[0]!, /^Bearer realm="orders", error="invalid_request"/);
    }
  });

  describe('bad tokens: 401 invalid_token from us, and jose refuses each too', () => {
    const cases: Array<[string, () => Promise<string>]> = [];
    const now = () => Math.floor(Date.now() / 1000);
    const realKey = () => signingKey(stack);
    cases.push(['garbage', async () => 'not-a-jwt']);
    cases.push(['three garbage segments', async () => 'aaa.bbb.ccc']);
    cases.push(['expired', async () => signToken(realKey(), internalClaims(issuer, 'orders', { iat: now() - 300, exp: now() - 60 }))]);
    cases.push(['not yet valid (nbf)', async () => signToken(realKey(), internalClaims(issuer, 'orders', { nbf: now() + 300 }))]);
    cases.push(['wrong audience', async () => signToken(realKey(), internalClaims(issuer, 'billing'))]);
    cases.push(['wrong issuer', async () => signToken(realKey(), internalClaims('http://evil.example', 'orders'))]);
    cases.push(['wrong typ (JWT)', async () => signToken(realKey(), internalClaims(issuer, 'orders'), { typ: 'JWT' })]);
    cases.push(['no typ (an ID token shape)', async () => signToken(realKey(), internalClaims(issuer, 'orders'), { typ: undefined })]);
    cases.push([
      'alg none',
      async () => `${b64url({ alg: 'none', typ: 'at+jwt', kid: realKey().kid })}.${b64url(internalClaims(issuer, 'orders'))}.`,
    ]);
    for (const [label, secret] of [
      ['PEM', () => realKey().publicKey.export({ type: 'spki', format: 'pem' }) as string],
      ['JWK', () => JSON.stringify(realKey().publicJwk)],
    ] as const) {
      cases.push([
        `HS256 signed with the public key (${label})`,
        async () => {
          const input = `${b64url({ alg: 'HS256', typ: 'at+jwt', kid: realKey().kid })}.${b64url(internalClaims(issuer, 'orders'))}`;
          return `${input}.${createHmac('sha256', secret()).update(input).digest('base64url')}`;
        },
      ]);
    }
    cases.push([
      'signed by another key under the real kid',
      async () => {
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        return new SignJWT(internalClaims(issuer, 'orders')).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: realKey().kid }).sign(privateKey);
      },
    ]);
    cases.push([
      'signed by an unknown key',
      async () => {
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        return new SignJWT(internalClaims(issuer, 'orders')).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'attacker' }).sign(privateKey);
      },
    ]);
    cases.push([
      'tampered payload',
      async () => {
        const [h, , s] = (await signToken(realKey(), internalClaims(issuer, 'orders'))).split('.');
        return `${h}.${b64url(internalClaims(issuer, 'orders', { groups: ['admins'] }))}.${s}`;
      },
    ]);

    for (const [label, make] of cases) {
      it(label, async () => {
        const token = await make();
        await assert.rejects(jwtVerify(token, createRemoteJWKSet(new URL(jwksUri)), { issuer, audience: 'orders', typ: 'at+jwt' }), `jose accepts "${label}"`);
        await assert.rejects(verifier.verify(token), (err: unknown) => {
          assert.ok(err instanceof DrawbridgeAuthError, String(err));
          assert.equal(err.status, 401);
          assert.equal(err.code, 'invalid_token');
          assert.ok(!err.message.includes(token), 'the message never carries the token');
          return true;
        });
        const reply = await send(orders.url, '/orders/1', { headers: { authorization: `Bearer ${token}` } });
        assert.equal(reply.status, 401, reply.text);
        assert.equal(reply.json.error, 'invalid_token');
        assert.match(challenges(reply)[0]!, /^Bearer realm="orders", error="invalid_token", error_description="[^"]+"$/);
        assert.ok(!reply.text.includes(token), 'the answer never carries the token');
      });
    }
  });

  it('claims a service relies on must have their types (jose alone would accept these)', async () => {
    const key = signingKey(stack);
    for (const extra of [{ scope: 42 }, { groups: 'admins' }, { groups: ['ok', 7] }, { sub: undefined }, { client_id: undefined }, { exp: undefined }, { act: { sub: 5 } }]) {
      const token = await signToken(key, internalClaims(issuer, 'orders', extra));
      await assert.rejects(verifier.verify(token), (err: unknown) => err instanceof DrawbridgeAuthError && err.status === 401, JSON.stringify(extra));
    }
    const delegated = await verifier.verify(await signToken(key, internalClaims(issuer, 'orders', { act: { sub: 'orders', act: { sub: 'web' } } })));
    assert.deepEqual(delegated.act, { sub: 'orders', act: { sub: 'web' } });
  });

  it('Express/Connect form: next() with req.auth on success; refusals answered without calling next', async () => {
    const key = signingKey(stack);
    const ok = await send(connectStyle.url, '/', { headers: { authorization: `Bearer ${await signToken(key, internalClaims(issuer, 'orders'))}` } });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { via: 'next', sub: 'consumer:partner-a', scopes: ['orders:read'] });
    const noScope = await send(connectStyle.url, '/', { headers: { authorization: `Bearer ${await signToken(key, internalClaims(issuer, 'orders', { scope: 'other' }))}` } });
    assert.equal(noScope.status, 403, noScope.text);
    assert.deepEqual(challenges(noScope), [
      'Bearer realm="orders", error="insufficient_scope", error_description="missing scope: orders:read", scope="orders:read"',
    ]);
    const noGroup = await send(connectStyle.url, '/', { headers: { authorization: `Bearer ${await signToken(key, internalClaims(issuer, 'orders', { groups: [] }))}` } });
    assert.equal(noGroup.status, 403, noGroup.text);
    const none = await send(connectStyle.url, '/');
    assert.equal(none.status, 401);
  });
});

describe('sdk: verifier configuration and an unreachable issuer', () => {
  it('refuses symmetric and `none` algorithms and a missing audience at construction; middleware without next is a usage error', () => {
    const mw = authenticate(createVerifier({ issuer: 'http://127.0.0.1:9', audience: 'x' }));
    assert.throws(() => (mw as unknown as (a: unknown, b: unknown) => void)({ headers: {} }, {}), TypeError);
    for (const algorithms of [['HS256'], ['none'], ['ES256', 'HS512'], []]) {
      assert.throws(() => createVerifier({ issuer: 'http://127.0.0.1:9', audience: 'x', algorithms }), TypeError, JSON.stringify(algorithms));
    }
    assert.throws(() => createVerifier({ issuer: 'http://127.0.0.1:9', audience: [] }), TypeError);
  });

  it('keys unreachable → 503 temporarily_unavailable (not "invalid token"); discovery is retried and then works', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const verifier = createVerifier({ issuer, audience: 'orders', timeoutMs: 2000 });
    const logged: DrawbridgeAuthError[] = [];
    const service = await startService(authenticate(verifier, { onError: (err) => logged.push(err) })((req, res) => sendJson(res, 200, { sub: req.auth.sub })));
    let stack: Stack | undefined;
    try {
      await assert.rejects(verifier.verify('aaa.bbb.ccc'), (err: unknown) => err instanceof DrawbridgeAuthError && err.status === 503 && err.code === 'temporarily_unavailable');
      // something that is not even a JWT is refused without the keys
      await assert.rejects(verifier.verify('not-a-jwt'), (err: unknown) => err instanceof DrawbridgeAuthError && err.status === 401);
      const down = await send(service.url, '/', { headers: { authorization: 'Bearer aaa.bbb.ccc' } });
      assert.equal(down.status, 503, down.text);
      assert.equal(down.json.error, 'temporarily_unavailable');
      assert.deepEqual(challenges(down), []);
      assert.ok(!down.text.includes(String(port)), 'no internal URL in the answer');
      assert.equal(logged.at(-1)?.status, 503);
      assert.match(String((logged.at(-1)?.cause as Error).message), /ECONNREFUSED/);
      // the auth server comes up on that issuer: the next request discovers it
      ({ stack } = await startSdkStack([], () => ({}), port));
      const token = await signToken(signingKey(stack), internalClaims(issuer, 'orders'));
      const up = await send(service.url, '/', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(up.status, 200, up.text);
      assert.equal(up.json.sub, 'consumer:partner-a');
    } finally {
      await stack?.close();
      await service.close();
    }
  });

  it('an explicit jwksUri that is down → 503; a discovery document naming another issuer is refused', async () => {
    const deadPort = await freePort();
    const v = createVerifier({ issuer: 'http://127.0.0.1:1', audience: 'orders', jwksUri: `http://127.0.0.1:${deadPort}/jwks.json`, timeoutMs: 2000 });
    // a well-formed token: a malformed one is refused before any key is needed
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const wellFormed = await new SignJWT(internalClaims('http://127.0.0.1:1', 'orders')).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k' }).sign(privateKey);
    await assert.rejects(v.verify(wellFormed), (err: unknown) => err instanceof DrawbridgeAuthError && err.status === 503);
    await assert.rejects(v.verify('aaa.bbb.ccc'), (err: unknown) => err instanceof DrawbridgeAuthError && err.status === 401);
    // a "proxy" whose discovery document names someone else
    const liar = await startService((_req, res) => sendJson(res, 200, { issuer: 'http://elsewhere.example', jwks_uri: 'http://elsewhere.example/jwks' }));
    try {
      const w = createVerifier({ issuer: liar.url, audience: 'orders' });
      await assert.rejects(w.verify('aaa.bbb.ccc'), (err: unknown) => {
        assert.ok(err instanceof DrawbridgeAuthError && err.status === 503);
        // the caller is told nothing internal; the cause says why, for the service's log
        assert.ok(!err.message.includes(liar.url));
        assert.match((err.cause as Error).message, /names issuer "http:\/\/elsewhere.example"/);
        return true;
      });
    } finally {
      await liar.close();
    }
  });
});

describe('sdk: signing key rotation', () => {
  let stack: Stack | undefined;
  let service: Service;
  let authPort: number;
  const gatewaySection = (): Record<string, unknown> => ({
    consumers: [{ username: 'partner-a', groups: ['partners'], credentials: { 'key-auth': [{ key: PARTNER_KEY }] } }],
    services: [{ name: 'orders', url: service.url, routes: [{ paths: ['/orders'], strip_path: false }], plugins: [{ name: 'key-auth' }] }],
  });

  before(async () => {
    authPort = await freePort();
    const issuer = `http://127.0.0.1:${authPort}`;
    // a short cooldown: the new key is fetched as soon as a token names it
    const verifier = createVerifier({ issuer, audience: 'orders', jwksCooldownMs: 100 });
    service = await startService(
      authenticate(verifier)((req, res) => {
        const header = decodeProtectedHeader(bearerToken(req.headers)!);
        sendJson(res, 200, { kid: header.kid, alg: header.alg, sub: req.auth.sub });
      }),
    );
  });

  after(async () => {
    await stack?.close();
    await service?.close();
  });

  it('after `key rotate`, and after keys.algorithm changes (ES256 → RS256 → EdDSA), the service accepts tokens under each new kid', async () => {
    const seen: string[] = [];
    const kids = new Set<string>();
    for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
      // the operator changes keys.algorithm and restarts the issuer on the same URL
      await stack?.close();
      ({ stack } = await startSdkStack([], gatewaySection, authPort, { keys: { algorithm: alg } }));
      await new Promise((r) => setTimeout(r, 150)); // past the cooldown of the last fetch
      const fresh = await send(stack.gatewayUrl, '/orders/1', { headers: { apikey: PARTNER_KEY } });
      assert.equal(fresh.status, 200, fresh.text);
      assert.equal(fresh.json.alg, alg);
      kids.add(String(fresh.json.kid));
      // and `key rotate` within the algorithm: a new kid the service has never seen
      await new Promise((r) => setTimeout(r, 150));
      const rec = await stack.running.keyring.rotate(3600, alg);
      const rotated = await send(stack.gatewayUrl, '/orders/1', { headers: { apikey: PARTNER_KEY } });
      assert.equal(rotated.status, 200, rotated.text);
      assert.equal(rotated.json.kid, rec.kid);
      kids.add(rec.kid);
      seen.push(`${fresh.json.alg}/${rotated.json.alg}`);
    }
    assert.deepEqual(seen, ['ES256/ES256', 'RS256/RS256', 'EdDSA/EdDSA']);
    assert.equal(kids.size, 6);
  });
});
