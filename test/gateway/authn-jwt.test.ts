// jwt through the real gateway: tokens signed with jose by a test issuer whose JWKS a
// local server publishes (and rotates), an issuer with inline keys, and our own auth
// server's RFC 9068 access tokens. Attacks: alg none, HS256 keyed with the public key,
// foreign issuer, wrong audience, expired, not yet valid, issued in the future, forged
// signature, and tokens of another type (an ID token, a logout token: the JOSE `typ`).
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { basic, postForm, startAuth, tokenAnswer, type TestServer } from '../helpers/auth-server.js';
import { Browser, signInIfAsked } from '../helpers/browser.js';
import { startStack, startUpstream, type Stack, type Upstream } from '../helpers/gateway.js';
import { assertNoCredential, assertNotSpoofed, assertUnauthorized, challenges, internalClaims, send, SPOOFED } from './authn-support.js';

const IDP = 'https://idp.test';
const STATIC = 'https://static.test';
const AUDIENCE = 'api://orders';
const CLIENT_SECRET = 'jwt-tests-client-secret-0123456789';
const CHALLENGE = 'Bearer realm="drawbridge"';
const PASSWORD = 'jwt-tests-alice-password-0123456789';
const CB = 'https://ledger-app.example/cb';

function invalid(description: string): string {
  return `Bearer realm="drawbridge", error="invalid_token", error_description="${description}"`;
}

interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function testKey(kid: string, alg: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A JWKS server whose key list tests can change; counts fetches. */
async function startJwksServer(): Promise<{ url: string; keys: JWK[]; hits: number; server: Server; close(): Promise<void> }> {
  const state = { keys: [] as JWK[], hits: 0 };
  const server = createServer((req, res) => {
    state.hits++;
    const body = JSON.stringify({ keys: state.keys });
    res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/jwks`,
    get keys() {
      return state.keys;
    },
    set keys(value) {
      state.keys = value;
    },
    get hits() {
      return state.hits;
    },
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  } as never;
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

async function sign(key: TestKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: IDP, aud: AUDIENCE, sub: 'user-1', iat: now(), exp: now() + 300, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header })
    .sign(key.privateKey);
}

function unsigned(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc(header)}.${enc(payload)}.`;
}

describe('jwt', () => {
  let upstream: Upstream;
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  let own: TestServer;
  let stack: Stack;
  let es: TestKey;
  let rs: TestKey;
  let ps: TestKey;
  let ed: TestKey;
  let inline: TestKey;

  before(async () => {
    [es, rs, ps, ed, inline] = await Promise.all([
      testKey('es-1', 'ES256'),
      testKey('rs-1', 'RS256'),
      testKey('ps-1', 'PS256'),
      testKey('ed-1', 'EdDSA'),
      testKey('inline-1', 'ES384'),
    ]);
    jwks = await startJwksServer();
    jwks.keys = [es.publicJwk, rs.publicJwk, ps.publicJwk, ed.publicJwk];
    upstream = await startUpstream();
    own = await startAuth({
      brute_force: { enabled: false },
      users: [{ username: 'alice', password: PASSWORD }],
      clients: [
        { client_id: 'svc-jwt', client_secret: CLIENT_SECRET, scopes: ['orders:read'], access_token_format: 'jwt' },
        // a client named like the `ledger` service (as the README suggests for token exchange): its ID tokens have aud ledger
        { client_id: 'ledger', redirect_uris: [CB], grant_types: ['authorization_code'], scopes: ['openid', 'profile'], consent: 'skip' },
      ],
    });
    const issuers = [
      { issuer: IDP, jwks_uri: jwks.url },
      { issuer: STATIC, keys: [inline.publicJwk], algorithms: ['ES384'] },
      { issuer: own.issuer, jwks_uri: `${own.issuer}/.well-known/jwks.json` },
    ];
    const route = (name: string, config: Record<string, unknown>) => ({
      name,
      url: upstream.url,
      routes: [{ paths: [`/${name}`], strip_path: false }],
      plugins: [{ name: 'jwt', config: { issuers, ...config } }],
    });
    stack = await startStack({
      gateway: {
        services: [
          route('orders', { audience: [AUDIENCE, 'https://orders.example'] }),
          route('writes', { audience: AUDIENCE, required_scopes: ['orders:write'] }),
          route('web', { audience: AUDIENCE, cookie_names: ['at'], uri_param_names: ['access_token'] }),
          route('anyaud', {}),
          // our own issuer's default audience rule: aud must name the issuer or `ledger`
          route('ledger', {}),
          // an issuer whose access tokens are typed JWT (or not at all), as Keycloak's are
          route('legacy', { audience: AUDIENCE, issuers: [{ issuer: IDP, jwks_uri: jwks.url, typ: ['JWT'] }] }),
        ],
      },
    });
  });

  after(async () => {
    await stack?.close();
    await own?.close();
    await upstream?.close();
    await jwks?.close();
  });

  it('accepts a valid token and sends the internal token upstream with its claims, not the edge token', async () => {
    upstream.reset();
    const token = await sign(es, { scope: 'orders:read orders:write', groups: ['buyers', 7], client_id: 'shop', sid: 's-1' });
    const reply = await send(stack.gatewayUrl, '/orders/1', { headers: { authorization: `Bearer ${token}`, ...SPOOFED } });
    assert.equal(reply.status, 200, reply.text);
    const rec = upstream.last();
    assertNoCredential(rec, token);
    assertNoCredential(rec, token.split('.')[2]!);
    assertNotSpoofed(rec);
    const claims = await internalClaims(stack, rec, 'orders');
    assert.equal(claims.iss, stack.issuer);
    assert.equal(claims.auth_method, 'jwt');
    assert.equal(claims.sub, 'user-1');
    assert.equal(claims.client_id, 'shop');
    assert.equal(claims.scope, 'orders:read orders:write');
    assert.deepEqual(claims.groups, ['buyers']);
    assert.equal(claims.sid, 's-1');
    assert.equal(claims.consumer, undefined);
  });

  it('accepts RS256, PS256, EdDSA and inline ES384 keys; scp and azp stand in for scope and client_id', async () => {
    for (const key of [rs, ps, ed]) {
      const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${await sign(key, {})}` } });
      assert.equal(reply.status, 200, `${key.alg}: ${reply.text}`);
    }
    upstream.reset();
    const token = await sign(inline, { iss: STATIC, scp: ['a', 'b'], azp: 'spa' });
    const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `bearer ${token}` } });
    assert.equal(reply.status, 200, reply.text);
    const claims = await internalClaims(stack, upstream.last(), 'orders');
    assert.equal(claims.scope, 'a b');
    assert.equal(claims.client_id, 'spa');
    // client_id first, then azp, and only without either the subject (RFC 9068 requires a client_id)
    for (const [extra, clientId] of [[{ client_id: 'shop', azp: 'spa' }, 'shop'], [{}, 'user-1']] as const) {
      upstream.reset();
      const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${await sign(es, extra)}` } });
      assert.equal(reply.status, 200, reply.text);
      assert.equal((await internalClaims(stack, upstream.last(), 'orders')).client_id, clientId);
    }
  });

  it('answers a request without a token, or with an opaque one, with the bare Bearer challenge', async () => {
    assertUnauthorized(await send(stack.gatewayUrl, '/orders'), [CHALLENGE]);
    assertUnauthorized(await send(stack.gatewayUrl, '/orders', { headers: { authorization: 'Bearer opaque-token-abc' } }), [CHALLENGE]);
    assertUnauthorized(await send(stack.gatewayUrl, '/orders', { headers: { authorization: 'Basic dXNlcjpwYXNz' } }), [CHALLENGE]);
  });

  it('refuses alg none', async () => {
    const token = unsigned({ alg: 'none', typ: 'JWT' }, { iss: IDP, aud: AUDIENCE, sub: 'admin', exp: now() + 300 });
    const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${token}` } });
    assertUnauthorized(reply, [invalid('token algorithm not accepted')], 'invalid_token');
  });

  it('refuses HS256 keyed with the issuer public key (algorithm confusion)', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const confused = { ...(await exportJWK(publicKey)), kid: 'rs-conf', alg: 'RS256', use: 'sig' };
    jwks.keys = [...jwks.keys, confused];
    const pem = await exportSPKI(publicKey);
    for (const secret of [Buffer.from(pem), Buffer.from(JSON.stringify(confused))]) {
      const token = await new SignJWT({ iss: IDP, aud: AUDIENCE, sub: 'admin', exp: now() + 300 })
        .setProtectedHeader({ alg: 'HS256', kid: 'rs-conf' })
        .sign(new Uint8Array(secret));
      const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${token}` } });
      assertUnauthorized(reply, [invalid('token algorithm not accepted')], 'invalid_token');
    }
  });

  it('refuses a token whose algorithm does not fit the key (ES256 header on an RSA kid)', async () => {
    const token = await new SignJWT({ iss: IDP, aud: AUDIENCE, sub: 'x', exp: now() + 300 })
      .setProtectedHeader({ alg: 'ES256', kid: 'rs-1' })
      .sign(es.privateKey);
    const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(reply.status, 401);
    assert.equal(reply.json.error, 'invalid_token');
  });

  it('refuses a foreign issuer, a wrong audience and a forged signature', async () => {
    const foreign = await sign(es, { iss: 'https://evil.test' });
    assertUnauthorized(await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${foreign}` } }), [invalid('untrusted issuer')], 'invalid_token');
    const wrongAud = await sign(es, { aud: 'api://billing' });
    assertUnauthorized(await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${wrongAud}` } }), [invalid('token audience (aud) not accepted here')], 'invalid_token');
    // without `audience` configured, aud is not checked
    assert.equal((await send(stack.gatewayUrl, '/anyaud', { headers: { authorization: `Bearer ${wrongAud}` } })).status, 200);
    const good = await sign(es, {});
    const [h, p] = good.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ iss: IDP, aud: AUDIENCE, sub: 'admin', exp: now() + 300 })).toString('base64url');
    const forged = `${h}.${forgedPayload}.${good.split('.')[2]}`;
    assertUnauthorized(await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${forged}` } }), [invalid('invalid signature')], 'invalid_token');
    // a b64token that is no JWT (its payload is not JSON): a bad token, 401
    const malformed = `${h}.eA.abc`;
    assertUnauthorized(await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${malformed}` } }), [invalid('malformed token')], 'invalid_token');
    // no b64token at all: a malformed request (RFC 6750 §3.1), 400
    const notToken = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${h}.${p}!.abc` } });
    assert.equal(notToken.status, 400, notToken.text);
    assert.equal(notToken.json.error, 'invalid_request');
    // the scheme followed by a TAB (RFC 9110 §11.4: SP only) is a broken Bearer credential, not none: 400 as in the SDK
    for (const authorization of [`Bearer\t${good}`, 'Bearer\topaque-token-abc']) {
      const tab = await send(stack.gatewayUrl, '/orders', { headers: { authorization } });
      assert.equal(tab.status, 400, tab.text);
      assert.equal(tab.json.error, 'invalid_request');
    }
  });

  it('checks exp and nbf with the leeway (30 s) and requires exp', async () => {
    const expired = await sign(es, { iat: now() - 600, exp: now() - 60 });
    assertUnauthorized(await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${expired}` } }), [invalid('token expired')], 'invalid_token');
    const justExpired = await sign(es, { exp: now() - 10 });
    assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${justExpired}` } })).status, 200);
    const early = await sign(es, { nbf: now() + 120 });
    assertUnauthorized(await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${early}` } }), [invalid('token not yet valid')], 'invalid_token');
    const almost = await sign(es, { nbf: now() + 10 });
    assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${almost}` } })).status, 200);
    const forever = await new SignJWT({ iss: IDP, aud: AUDIENCE, sub: 'x' }).setProtectedHeader({ alg: 'ES256', kid: 'es-1' }).sign(es.privateKey);
    assertUnauthorized(await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${forever}` } }), [invalid('token has no expiry')], 'invalid_token');
  });

  it('refuses iat later than now plus the leeway (30 s), as the SDK does', async () => {
    const future = await sign(es, { iat: now() + 3600, exp: now() + 7200 });
    assertUnauthorized(await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${future}` } }), [invalid('token issued in the future')], 'invalid_token');
    const skewed = await sign(es, { iat: now() + 10 });
    assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${skewed}` } })).status, 200);
  });

  it('accepts only the typ configured for the issuer (default at+jwt), compared as media types', async () => {
    const typed = (typ: unknown) => sign(es, { scope: 'orders:read' }, { typ });
    const untyped = await new SignJWT({ iss: IDP, aud: AUDIENCE, sub: 'user-1', iat: now(), exp: now() + 300 })
      .setProtectedHeader({ alg: 'ES256', kid: 'es-1' })
      .sign(es.privateKey);
    // shaped like an OpenID Connect ID token (typ JWT, aud the client, azp, nonce, auth_time)
    const idToken = await sign(es, { aud: AUDIENCE, azp: 'orders', nonce: 'n-1', auth_time: now() - 5, email: 'a@example.com' }, { typ: 'JWT' });
    const refusedTyp = invalid('token type (typ) not accepted');
    for (const [what, token] of [
      ['typ JWT (an ID token)', idToken],
      ['no typ (counts as JWT)', untyped],
      ['typ logout+jwt', await typed('logout+jwt')],
      ['typ application/logout+jwt', await typed('application/logout+jwt')],
      ['typ token-introspection+jwt', await typed('token-introspection+jwt')],
      ['typ text/at+jwt (another media type)', await typed('text/at+jwt')],
      ['typ at+jwt with a parameter', await typed('at+jwt; charset=utf-8')],
      ['typ that is no string', await typed(['at+jwt'])],
    ] as const) {
      const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${token}` } });
      assertUnauthorized(reply, [refusedTyp], 'invalid_token');
      assert.ok(!JSON.stringify({ headers: reply.headers, text: reply.text }).includes(token.split('.')[1]!), `${what}: the token is not echoed`);
    }
    for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt', 'Application/At+JWT']) {
      const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${await typed(typ)}` } });
      assert.equal(reply.status, 200, `${typ}: ${reply.text}`);
    }
    // typ: [JWT] for an issuer of untyped access tokens: JWT and none accepted, at+jwt no longer
    for (const token of [untyped, idToken, await typed('jwt'), await typed('application/JWT')]) {
      const reply = await send(stack.gatewayUrl, '/legacy', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(reply.status, 200, reply.text);
    }
    assertUnauthorized(await send(stack.gatewayUrl, '/legacy', { headers: { authorization: `Bearer ${await typed('at+jwt')}` } }), [refusedTyp], 'invalid_token');
  });

  it('refuses a real ID token of our own auth server, issued to a client named like the service', async () => {
    const browser = new Browser();
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(`${own.issuer}/oauth2/authorize`);
    url.search = new URLSearchParams({
      client_id: 'ledger', response_type: 'code', scope: 'openid profile', redirect_uri: CB, state: 'st-1', nonce: 'nonce-1',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    }).toString();
    const back = await signInIfAsked(browser, await browser.fetch(url.href), 'alice', PASSWORD);
    assert.ok(back.status === 302 || back.status === 303, `a redirect to the client, got ${back.status}`);
    const code = new URL(back.headers.get('location')!).searchParams.get('code');
    assert.ok(code, back.headers.get('location')!);
    const tokens = await tokenAnswer(own.issuer, { grant_type: 'authorization_code', client_id: 'ledger', code, code_verifier: verifier, redirect_uri: CB });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const idToken = String(tokens.body.id_token);
    const header = JSON.parse(Buffer.from(idToken.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
    const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(header.typ, 'JWT');
    assert.equal(claims.aud, 'ledger', 'the default audience rule alone would let it through on the ledger service');
    const reply = await send(stack.gatewayUrl, '/ledger', { headers: { authorization: `Bearer ${idToken}` } });
    assertUnauthorized(reply, [invalid('token type (typ) not accepted')], 'invalid_token');
    assert.ok(!reply.text.includes(idToken.split('.')[1]!));
  });

  it('refetches the JWKS once for an unknown kid, and not again within the interval', async () => {
    // let the first fetch (started at plugin creation) be done
    assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${await sign(es, {})}` } })).status, 200);
    const rotated = await testKey('es-2', 'ES256');
    jwks.keys = [rotated.publicJwk, ...jwks.keys];
    const before = jwks.hits;
    const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${await sign(rotated, {})}` } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(jwks.hits, before + 1);
    const unknown = await testKey('es-3', 'ES256');
    const refused = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${await sign(unknown, {})}` } });
    assertUnauthorized(refused, [invalid('no key of the issuer fits the token')], 'invalid_token');
    assert.equal(jwks.hits, before + 1);
  });

  it('answers 403 insufficient_scope when required scopes are missing', async () => {
    const token = await sign(es, { scope: 'orders:read' });
    const reply = await send(stack.gatewayUrl, '/writes', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.json.error, 'insufficient_scope');
    assert.deepEqual(challenges(reply), ['Bearer realm="drawbridge", error="insufficient_scope", scope="orders:write"']);
    const ok = await send(stack.gatewayUrl, '/writes', { headers: { authorization: `Bearer ${await sign(es, { scope: 'orders:write' })}` } });
    assert.equal(ok.status, 200, ok.text);
  });

  it('takes tokens from configured cookies and query parameters, and hides them', async () => {
    const token = await sign(es, {});
    upstream.reset();
    const fromCookie = await send(stack.gatewayUrl, '/web', { headers: { cookie: `theme=dark; at=${token}; lang=en` } });
    assert.equal(fromCookie.status, 200, fromCookie.text);
    assert.equal(upstream.last().headers.cookie, 'theme=dark; lang=en');
    assertNoCredential(upstream.last(), token);
    const fromQuery = await send(stack.gatewayUrl, `/web/x?access_token=${token}&page=1`);
    assert.equal(fromQuery.status, 200, fromQuery.text);
    assert.equal(upstream.last().url, '/web/x?page=1');
    // not on routes that do not name them
    assertUnauthorized(await send(stack.gatewayUrl, `/orders?access_token=${token}`), [CHALLENGE]);
  });

  it('accepts JWT access tokens from our own auth server', async () => {
    const res = await postForm(
      `${own.issuer}/oauth2/token`,
      { grant_type: 'client_credentials', scope: 'orders:read', resource: 'https://orders.example' },
      { authorization: basic('svc-jwt', CLIENT_SECRET) },
    );
    const body = (await res.json()) as { access_token: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    upstream.reset();
    const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${body.access_token}` } });
    assert.equal(reply.status, 200, reply.text);
    const claims = await internalClaims(stack, upstream.last(), 'orders');
    assert.equal(claims.auth_method, 'jwt');
    assert.equal(claims.client_id, 'svc-jwt');
    assert.equal(claims.sub, 'svc-jwt');
    assert.equal(claims.scope, 'orders:read');
    assertNoCredential(upstream.last(), body.access_token);
  });

  it('refuses a cached token once its revocation is announced', async () => {
    const token = await sign(es, { jti: 'revoke-me' });
    assert.equal((await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${token}` } })).status, 200);
    await stack.gateway.deps.events.publish({ type: 'token.revoked', jti: 'revoke-me' });
    const reply = await send(stack.gatewayUrl, '/orders', { headers: { authorization: `Bearer ${token}` } });
    assertUnauthorized(reply, [invalid('token revoked')], 'invalid_token');
  });
});
