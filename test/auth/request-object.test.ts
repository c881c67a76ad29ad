// Request objects by value (RFC 9101 JAR, OIDC Core §6.1 `request`) at the authorization
// endpoint and the PAR endpoint, against a real server: objects made with jose's SignJWT, with
// openid-client v6 (buildAuthorizationUrlWithJAR) and with oauth4webapi (issueRequestObject).
// Only the object's parameters count; the pages carry a request_uri of ours, never them; the
// code is redeemed and the ID token verified. Refused with an error page (never a redirect)
// while nothing in the object can be trusted (alg none, HMAC, another key, JWE, no keys, an
// alg other than the client's request_object_signing_alg) or when its redirect_uri is not
// registered; once it verified, a claim out of bounds (iss, aud, client_id, exp, nbf, lifetime,
// nested request_uri) is invalid_request_object at its redirect URI. A client with
// require_signed_request_object gets only requests sent as an object (by value, or pushed as
// one) through; its plain requests and plain pushes are invalid_request.
import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { validateClientConfig } from '../../src/config/client.js';
import { ConfigError } from '../../src/config/schema.js';
import { postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://rp.example/cb';
const PREFIX = 'urn:ietf:params:oauth:request_uri:';
const CHALLENGE = 'a'.repeat(43);

interface Key {
  privateKey: jose.CryptoKey;
  publicJwk: jose.JWK;
  kid: string;
}

async function makeKey(alg: 'ES256' | 'PS256' | 'EdDSA'): Promise<Key> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const publicJwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(publicJwk);
  return { privateKey, publicJwk: { ...publicJwk, kid, use: 'sig' }, kid };
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function location(res: Response): URL {
  assert.ok(res.status === 302 || res.status === 303, `a redirect, got ${res.status}`);
  return new URL(res.headers.get('location')!);
}

/** An error page: 400, no redirect, naming `why`. */
async function assertPage(res: Response, why: RegExp): Promise<void> {
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('location'), null);
  const html = await res.text();
  assert.match(html, /invalid_request_object|request_uri|client_id|redirect URI/);
  assert.match(html, why);
}

describe('request objects (RFC 9101)', () => {
  let server: TestServer;
  let issuer: string;
  let es: Key;
  let rsa: Key;
  let ed: Key;
  let other: Key;
  let jwksServer: Server;

  before(async () => {
    [es, rsa, ed, other] = await Promise.all([makeKey('ES256'), makeKey('PS256'), makeKey('EdDSA'), makeKey('ES256')]);
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [ed.publicJwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const jwksPort = (jwksServer.address() as { port: number }).port;
    const common = { redirect_uris: [CB], grant_types: ['authorization_code'], scopes: ['openid', 'email', 'profile'], consent: 'skip' };
    server = await startAuth({
      brute_force: { enabled: false },
      users: [{ username: 'alice', password: PASSWORD, claims: { email: 'alice@example.com', name: 'Alice' } }],
      clients: [
        { client_id: 'rp', jwks: { keys: [es.publicJwk] }, ...common },
        { client_id: 'pinned', jwks: { keys: [rsa.publicJwk] }, request_object_signing_alg: 'PS256', ...common },
        { client_id: 'remote', jwks_uri: `http://127.0.0.1:${jwksPort}/jwks.json`, ...common },
        { client_id: 'nokeys', client_secret: 'nokeys-secret-0123456789abcdef0123', ...common },
        { client_id: 'strict', jwks: { keys: [es.publicJwk] }, require_signed_request_object: true, ...common },
      ],
    });
    issuer = server.issuer;
  });

  after(async () => {
    await server.close();
    await new Promise((resolve) => jwksServer.close(resolve));
  });

  /** A signed request object of `rp` (ES256, its key) with these claims over sound defaults; `null` leaves a claim out. */
  function sign(claims: Record<string, unknown>, opts: { key?: Key; alg?: string; typ?: string } = {}): Promise<string> {
    const t = now();
    const all: Record<string, unknown> = {
      iss: 'rp', aud: issuer, client_id: 'rp', exp: t + 300, iat: t, nbf: t,
      response_type: 'code', redirect_uri: CB, scope: 'openid email', state: 'st', nonce: 'n-0', code_challenge: CHALLENGE, code_challenge_method: 'S256',
      ...claims,
    };
    for (const [name, value] of Object.entries(all)) if (value === null) delete all[name];
    const key = opts.key ?? es;
    return new jose.SignJWT(all as jose.JWTPayload).setProtectedHeader({ alg: opts.alg ?? 'ES256', kid: key.kid, typ: opts.typ ?? 'oauth-authz-req+jwt' }).sign(key.privateKey);
  }

  function authorize(query: Record<string, string>): Promise<Response> {
    return fetch(`${issuer}/oauth2/authorize?${new URLSearchParams(query)}`, { redirect: 'manual' });
  }

  /** Signs alice in from the first answer to an authorization request; every page carries only client_id and a request_uri. */
  async function signIn(browser: Browser, first: Response): Promise<URL> {
    assert.equal(first.status, 200, 'the login page');
    const login = parseForm(await first.text());
    const names = login.fields.map(([name]) => name).filter((n) => n !== 'action' && n !== 'csrf_token').sort();
    assert.deepEqual(names, ['client_id', 'request_uri'], JSON.stringify(login.fields));
    assert.ok(login.fields.find(([n]) => n === 'request_uri')![1].startsWith(PREFIX));
    return location(await browser.fetch(login.action, { form: [...login.fields, ['username', 'alice'], ['password', PASSWORD]] }));
  }

  it('is advertised in discovery: by value, signed with asymmetric algorithms only; by reference still not', async () => {
    const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(meta.request_parameter_supported, true);
    assert.equal(meta.request_uri_parameter_supported, false);
    const algs = meta.request_object_signing_alg_values_supported as string[];
    for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519']) assert.ok(algs.includes(alg), alg);
    assert.ok(!algs.includes('none') && !algs.some((a) => a.startsWith('HS')), algs.join());
  });

  it('jose: only the object counts (the query’s scope, state and redirect_uri are ignored); the code is redeemed and the ID token verifies', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const request = await sign({ scope: 'openid email', state: 'from-object', nonce: 'nonce-1', code_challenge: await oauth.calculatePKCECodeChallenge(verifier) });
    const browser = new Browser();
    const first = await browser.fetch(`${issuer}/oauth2/authorize?${new URLSearchParams({
      client_id: 'rp', request, scope: 'openid profile', state: 'from-query', redirect_uri: 'https://evil.example/cb', response_type: 'token',
    })}`);
    const back = await signIn(browser, first);
    assert.equal(back.origin + back.pathname, CB);
    assert.equal(back.searchParams.get('state'), 'from-object');
    // redeemed with private_key_jwt (the same key) through oauth4webapi
    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }));
    const rp: oauth.Client = { client_id: 'rp' };
    const auth = oauth.PrivateKeyJwt({ key: es.privateKey, kid: es.kid });
    const params = oauth.validateAuthResponse(as, rp, back, 'from-object');
    const response = await oauth.authorizationCodeGrantRequest(as, rp, auth, params, CB, verifier, { [oauth.allowInsecureRequests]: true });
    const result = await oauth.processAuthorizationCodeResponse(as, rp, response, { expectedNonce: 'nonce-1', requireIdToken: true });
    assert.deepEqual(result.scope?.split(' ').sort(), ['email', 'openid'], 'the object’s scope, not the query’s');
    const { payload } = await jose.jwtVerify(result.id_token!, jose.createRemoteJWKSet(new URL(as.jwks_uri!)), { issuer, audience: 'rp' });
    assert.equal(payload.nonce, 'nonce-1');
    assert.equal(payload.email, 'alice@example.com');
    assert.equal(payload.name, undefined, 'no profile scope');
  });

  it('openid-client buildAuthorizationUrlWithJAR (PS256, the client’s request_object_signing_alg): the code flow end to end', async () => {
    const config = await client.discovery(new URL(issuer), 'pinned', { redirect_uris: [CB] }, client.PrivateKeyJwt({ key: rsa.privateKey, kid: rsa.kid }), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = await client.buildAuthorizationUrlWithJAR(config, {
      redirect_uri: CB, scope: 'openid email', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
    }, { key: rsa.privateKey, kid: rsa.kid });
    assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request']);
    assert.equal(jose.decodeProtectedHeader(url.searchParams.get('request')!).alg, 'PS256');
    const browser = new Browser();
    const back = await signIn(browser, await browser.fetch(url.href));
    const tokens = await client.authorizationCodeGrant(config, back, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    assert.equal(tokens.claims()?.email, 'alice@example.com');
    const { payload } = await jose.jwtVerify(tokens.id_token!, jose.createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer, audience: 'pinned' });
    assert.equal(payload.nonce, nonce);
  });

  it('request_object_signing_alg is enforced: the same RSA key with RS256 is refused with an error page', async () => {
    const t = now();
    // the same RSA private key, for RSASSA-PKCS1-v1_5 this time
    const rsaAsRs256 = await jose.importJWK(await jose.exportJWK(rsa.privateKey), 'RS256');
    const rs256 = await new jose.SignJWT({ iss: 'pinned', aud: issuer, exp: t + 300, response_type: 'code', redirect_uri: CB, scope: 'openid', nonce: 'n', code_challenge: CHALLENGE, code_challenge_method: 'S256' })
      .setProtectedHeader({ alg: 'RS256', kid: rsa.kid })
      .sign(rsaAsRs256);
    await assertPage(await authorize({ client_id: 'pinned', request: rs256 }), /must be signed with PS256/);
  });

  it('oauth4webapi issueRequestObject (Ed25519, keys from jwks_uri) pushed to the PAR endpoint, then its request_uri at the authorization endpoint', async () => {
    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }));
    const remote: oauth.Client = { client_id: 'remote' };
    // oauth4webapi signs with an Ed25519 key as `Ed25519` (RFC 9864), for the assertion and the object alike
    const auth = oauth.PrivateKeyJwt({ key: ed.privateKey, kid: ed.kid });
    const verifier = oauth.generateRandomCodeVerifier();
    const request = await oauth.issueRequestObject(as, remote, {
      response_type: 'code', redirect_uri: CB, scope: 'openid email', state: 'pushed-jar', nonce: 'n-par', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, { key: ed.privateKey, kid: ed.kid });
    assert.equal(jose.decodeProtectedHeader(request).alg, 'Ed25519');
    // parameters beside the object are ignored at the PAR endpoint too
    const pushed = await oauth.processPushedAuthorizationResponse(as, remote, await oauth.pushedAuthorizationRequest(as, remote, auth, { request, scope: 'openid profile', state: 'beside' }, { [oauth.allowInsecureRequests]: true }));
    assert.ok(pushed.request_uri.startsWith(PREFIX));
    const browser = new Browser();
    const first = await browser.fetch(`${issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'remote', request_uri: pushed.request_uri })}`);
    const back = await signIn(browser, await browser.fetch(location(first).href));
    const params = oauth.validateAuthResponse(as, remote, back, 'pushed-jar');
    const response = await oauth.authorizationCodeGrantRequest(as, remote, auth, params, CB, verifier, { [oauth.allowInsecureRequests]: true });
    const result = await oauth.processAuthorizationCodeResponse(as, remote, response, { expectedNonce: 'n-par', requireIdToken: true });
    assert.equal(result.scope, 'openid email');
    await jose.jwtVerify(result.id_token!, jose.createRemoteJWKSet(new URL(as.jwks_uri!)), { issuer, audience: 'remote' });
  });

  it('the PAR endpoint refuses a bad request object with invalid_request_object, as JSON', async () => {
    const par = `${issuer}/oauth2/par`;
    const assertion = async () => new jose.SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: es.kid })
      .setIssuer('rp').setSubject('rp').setAudience(issuer).setIssuedAt().setExpirationTime('60s').sign(es.privateKey);
    const push = async (request: string) => {
      const res = await postForm(par, { client_id: 'rp', request, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion() });
      return { status: res.status, body: (await res.json()) as { error: string; error_description?: string } };
    };
    for (const [request, why] of [
      [await sign({}, { key: other }), /signature/],
      [await sign({ exp: now() - 120 }), /expired/],
      [await sign({ aud: 'https://other.example' }), /aud/],
      [await sign({ scope: 'openid admin' }), null],
    ] as const) {
      const r = await push(request);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      if (why === null) {
        // the object's parameters go through the usual checks
        assert.equal(r.body.error, 'invalid_scope');
        continue;
      }
      assert.equal(r.body.error, 'invalid_request_object', JSON.stringify(r.body));
      assert.match(r.body.error_description!, why);
    }
    assert.equal((await push(await sign({}))).status, 201);
  });

  it('a request object does not pass as the client\'s assertion (RFC 9101 §10.8), even with sub and jti', async () => {
    const par = `${issuer}/oauth2/par`;
    const asAssertion = async (header: Record<string, string>, claims: Record<string, unknown>) => {
      const jwt = await new jose.SignJWT({ jti: crypto.randomUUID(), ...claims }).setProtectedHeader({ alg: 'ES256', kid: es.kid, ...header })
        .setIssuer('rp').setSubject('rp').setAudience(issuer).setIssuedAt().setExpirationTime('60s').sign(es.privateKey);
      const res = await postForm(par, { client_id: 'rp', response_type: 'code', redirect_uri: CB, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt });
      return { status: res.status, body: (await res.json()) as { error: string } };
    };
    const objectClaims = { response_type: 'code', redirect_uri: CB, scope: 'openid', client_id: 'rp' };
    for (const [header, claims] of [[{ typ: 'oauth-authz-req+jwt' }, {}], [{}, objectClaims], [{ typ: 'oauth-authz-req+jwt' }, objectClaims]] as const) {
      const r = await asAssertion(header, claims);
      assert.equal(r.status, 401, JSON.stringify({ header, claims, body: r.body }));
      assert.equal(r.body.error, 'invalid_client');
    }
    assert.equal((await asAssertion({}, {})).status, 201, 'a plain assertion is taken');
  });

  it('refuses with an error page, never a redirect, what cannot be trusted: alg none, HS256, another key, JWE, no keys, malformed', async () => {
    const t = now();
    const claims = { iss: 'rp', aud: issuer, client_id: 'rp', exp: t + 300, response_type: 'code', redirect_uri: CB, scope: 'openid', state: 's', nonce: 'n', code_challenge: CHALLENGE, code_challenge_method: 'S256' };
    const unsigned = new jose.UnsecuredJWT(claims).encode();
    const hmac = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!'));
    const jwe = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(crypto.getRandomValues(new Uint8Array(32)));
    assert.equal(jwe.split('.').length, 5);
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ client_id: 'rp', request: unsigned }, /not signed \(alg none\)/],
      [{ client_id: 'rp', request: hmac }, /alg HS256 is not accepted/],
      [{ client_id: 'rp', request: await sign({}, { key: other }) }, /signature does not verify/],
      [{ client_id: 'rp', request: jwe }, /encrypted request objects \(JWE\) are not supported/],
      [{ client_id: 'rp', request: 'not-a-jwt' }, /not a signed JWT/],
      [{ client_id: 'rp', request: await sign({}, { typ: 'at+jwt' }) }, /typ at\+jwt/],
      [{ client_id: 'rp', request: `${jose.base64url.encode(JSON.stringify({ alg: 'ES256', typ: 7 }))}.e30.c2ln` }, /typ 7/],
      // a client with no keys: nothing to verify with
      [{ client_id: 'nokeys', request: await sign({ iss: 'nokeys', client_id: 'nokeys' }) }, /no keys/],
      // client_id beside the object is required (RFC 9101 §5)
      [{ request: await sign({}) }, /client_id is missing/],
      [{ client_id: 'rp', request: await sign({}), request_uri: 'https://rp.example/request.jwt' }, /cannot both/],
    ];
    for (const [query, why] of cases) await assertPage(await authorize({ ...query, state: 'q', redirect_uri: CB }), why);
  });

  it('an object whose redirect_uri is not registered: an error page, even with a registered one in the query, and even when it is refused anyway', async () => {
    await assertPage(await authorize({ client_id: 'rp', request: await sign({ redirect_uri: 'https://evil.example/cb' }), redirect_uri: CB }), /redirect URI is not registered/);
    // expired as well: the reason shown, still no redirect to the unverified target
    await assertPage(await authorize({ client_id: 'rp', request: await sign({ redirect_uri: 'https://evil.example/cb', exp: now() - 600 }), redirect_uri: CB }), /expired/);
  });

  it('once verified, a claim out of bounds is invalid_request_object at the object’s redirect URI, with its state and iss', async () => {
    const t = now();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ iss: 'someone-else' }, /iss must be the client_id/],
      [{ aud: 'https://other.example' }, /aud must name the issuer/],
      [{ aud: ['https://other.example', `${issuer}/oauth2/authorize`] }, /aud must name the issuer/],
      [{ client_id: 'pinned' }, /client_id/],
      [{ exp: t - 120, iat: t - 200, nbf: t - 200 }, /expired/],
      [{ exp: null }, /exp is required/],
      [{ exp: String(t + 300) }, /exp is required/],
      [{ exp: t + 3700, iat: t, nbf: t }, /more than 60 minutes/],
      [{ exp: t + 3000, iat: t - 1000, nbf: null }, /more than 60 minutes/],
      [{ nbf: t + 600, exp: t + 900 }, /not valid yet/],
      [{ request_uri: 'https://rp.example/r.jwt' }, /must not contain request or request_uri/],
      [{ scope: ['openid'] }, /scope must be a string/],
    ];
    for (const [claims, why] of cases) {
      const back = location(await authorize({ client_id: 'rp', request: await sign({ ...claims, state: 'obj-state' }), state: 'query-state' }));
      assert.equal(back.origin + back.pathname, CB, JSON.stringify(claims));
      assert.equal(back.searchParams.get('error'), 'invalid_request_object', JSON.stringify(claims));
      assert.match(back.searchParams.get('error_description')!, why);
      assert.equal(back.searchParams.get('state'), 'obj-state');
      assert.equal(back.searchParams.get('iss'), issuer);
    }
    // an array aud naming the issuer, and a lifetime of exactly 60 minutes, are fine
    assert.equal((await authorize({ client_id: 'rp', request: await sign({ aud: ['https://other.example', issuer], exp: t + 3600, nbf: t, iat: t }) })).status, 200);
  });

  it('the object’s parameters go through every usual check: plain PKCE, an unknown scope, response_mode', async () => {
    const plain = location(await authorize({ client_id: 'rp', request: await sign({ code_challenge_method: 'plain' }) }));
    assert.equal(plain.searchParams.get('error'), 'invalid_request');
    assert.equal(plain.searchParams.get('state'), 'st');
    const scope = location(await authorize({ client_id: 'rp', request: await sign({ scope: 'openid admin' }), scope: 'openid' }));
    assert.equal(scope.searchParams.get('error'), 'invalid_scope');
    const fragment = location(await authorize({ client_id: 'rp', request: await sign({ scope: 'openid admin', response_mode: 'fragment' }) }));
    assert.equal(new URLSearchParams(fragment.hash.slice(1)).get('error'), 'invalid_scope');
    // max_age as a JSON number (OIDC Core §6.1) is taken
    assert.equal((await authorize({ client_id: 'rp', request: await sign({ max_age: 300 }) })).status, 200);
  });

  describe('a client with require_signed_request_object', () => {
    const strictClaims = { iss: 'strict', client_id: 'strict' };
    const plain = { response_type: 'code', redirect_uri: CB, scope: 'openid', state: 'plain-state', nonce: 'n-plain', code_challenge: CHALLENGE, code_challenge_method: 'S256' };
    const strict: oauth.Client = { client_id: 'strict' };
    let as: oauth.AuthorizationServer;
    let auth: oauth.ClientAuth;

    before(async () => {
      auth = oauth.PrivateKeyJwt({ key: es.privateKey, kid: es.kid });
      as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { [oauth.allowInsecureRequests]: true }));
    });

    /** `strict`'s PAR push with a fresh private_key_jwt assertion (the object's key). */
    async function push(form: Record<string, string>): Promise<{ status: number; body: Record<string, string> }> {
      const assertion = await new jose.SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: es.kid })
        .setIssuer('strict').setSubject('strict').setAudience(issuer).setIssuedAt().setExpirationTime('60s').sign(es.privateKey);
      const res = await postForm(`${issuer}/oauth2/par`, { client_id: 'strict', ...form, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
      return { status: res.status, body: (await res.json()) as Record<string, string> };
    }

    /** The code at `back` redeemed by `strict` (private_key_jwt): the ID token carries `nonce`. */
    async function redeem(back: URL, state: string, verifier: string, nonce: string): Promise<void> {
      const params = oauth.validateAuthResponse(as, strict, back, state);
      const response = await oauth.authorizationCodeGrantRequest(as, strict, auth, params, CB, verifier, { [oauth.allowInsecureRequests]: true });
      const result = await oauth.processAuthorizationCodeResponse(as, strict, response, { expectedNonce: nonce, requireIdToken: true });
      assert.equal(result.scope, 'openid email');
    }

    it('a plain authorization request: invalid_request at its redirect URI, with the state; other clients are not affected', async () => {
      const back = location(await authorize({ client_id: 'strict', ...plain }));
      assert.equal(back.origin + back.pathname, CB);
      assert.equal(back.searchParams.get('error'), 'invalid_request');
      assert.match(back.searchParams.get('error_description')!, /must send its authorization requests as a signed request object \(request/);
      assert.equal(back.searchParams.get('state'), 'plain-state');
      assert.equal(back.searchParams.get('iss'), issuer);
      // before its redirect URI is trusted: the error page, as for any request
      const page = await authorize({ client_id: 'strict', ...plain, redirect_uri: 'https://evil.example/cb' });
      assert.equal(page.status, 400);
      assert.equal(page.headers.get('location'), null);
      // a client without the requirement: the login page
      assert.equal((await authorize({ client_id: 'rp', ...plain })).status, 200);
    });

    it('a plain push to the PAR endpoint: 400 invalid_request, as JSON', async () => {
      const r = await push(plain);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error, 'invalid_request');
      assert.match(r.body.error_description!, /signed request object \(request/);
    });

    it('a request object at the authorization endpoint: the code flow completes (its pages stay the object’s)', async () => {
      const verifier = oauth.generateRandomCodeVerifier();
      const request = await sign({ ...strictClaims, scope: 'openid email', state: 'by-value', nonce: 'n-value', code_challenge: await oauth.calculatePKCECodeChallenge(verifier) });
      const browser = new Browser();
      const back = await signIn(browser, await browser.fetch(`${issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'strict', request })}`));
      assert.equal(back.searchParams.get('error'), null, back.href);
      await redeem(back, 'by-value', verifier, 'n-value');
    });

    it('a request object pushed to the PAR endpoint, then its request_uri: the code flow completes', async () => {
      const verifier = oauth.generateRandomCodeVerifier();
      const request = await sign({ ...strictClaims, scope: 'openid email', state: 'pushed', nonce: 'n-pushed', code_challenge: await oauth.calculatePKCECodeChallenge(verifier) });
      const pushed = await push({ request });
      assert.equal(pushed.status, 201, JSON.stringify(pushed.body));
      const browser = new Browser();
      const first = await browser.fetch(`${issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'strict', request_uri: pushed.body.request_uri! })}`);
      const back = await signIn(browser, await browser.fetch(location(first).href));
      assert.equal(back.searchParams.get('error'), null, back.href);
      await redeem(back, 'pushed', verifier, 'n-pushed');
    });
  });

  it('request_object_signing_alg is client metadata of the config: one of the asymmetric algorithms, and only with keys', () => {
    const base = { client_id: 'c', redirect_uris: [CB], grant_types: ['authorization_code'], scopes: ['openid'] };
    const opts = { issuer: 'http://127.0.0.1:9000' };
    assert.equal(validateClientConfig({ ...base, jwks: { keys: [es.publicJwk] }, request_object_signing_alg: 'ES256' }, opts).request_object_signing_alg, 'ES256');
    for (const alg of ['none', 'HS256']) {
      assert.throws(() => validateClientConfig({ ...base, jwks: { keys: [es.publicJwk] }, request_object_signing_alg: alg }, opts), (err: unknown) => err instanceof ConfigError && /request_object_signing_alg/.test(err.message));
    }
    assert.throws(() => validateClientConfig({ ...base, request_object_signing_alg: 'ES256' }, opts), (err: unknown) => err instanceof ConfigError && /needs jwks or jwks_uri/.test(err.message));
  });
});
