// Every error case of issue #2, each with its status, `error` code and headers (RFC 6749
// §5.2: JSON, Cache-Control: no-store; invalid_client is 401 with WWW-Authenticate).
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const SECRET = 'error-tests-client-secret-0123456789';
const MAX_BODY = 4096;

/**
 * The shape every auth-server error shares: small JSON with only `error` and
 * `error_description`, never cached, never a stack trace.
 */
async function expectError(res: Response, status: number, error: string, headers: Record<string, string | RegExp> = {}) {
  const text = await res.text();
  assert.equal(res.status, status, `status (body: ${text})`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.ok(text.length < 400, `error body too large (${text.length} bytes): ${text}`);
  assert.doesNotMatch(text, /\n\s+at |\.js:\d+|\.ts:\d+|node:internal/, 'stack trace in an error body');
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.equal(body.error, error, `error code (body: ${text})`);
  for (const key of Object.keys(body)) assert.ok(key === 'error' || key === 'error_description', `unexpected key ${key}`);
  if (body.error_description !== undefined) assert.equal(typeof body.error_description, 'string');
  if (status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="drawbridge"/);
  else assert.equal(res.headers.get('www-authenticate'), null, 'WWW-Authenticate only on 401');
  for (const [name, want] of Object.entries(headers)) {
    const got = res.headers.get(name);
    if (want instanceof RegExp) assert.match(got ?? '', want, `header ${name}`);
    else assert.equal(got, want, `header ${name}`);
  }
  return body;
}

async function expectOk(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Sends a raw body with chosen headers (fetch would normalize some of what we need to break). */
function rawPost(url: string, body: string | Buffer, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers, body });
}

describe('auth server error responses', () => {
  let server: TestServer;
  let token: string;
  let introspect: string;
  let revoke: string;
  let pkKeys: { privateKey: jose.CryptoKey; publicJwk: jose.JWK; kid: string; spki: string };

  before(async () => {
    const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
    const publicJwk = await jose.exportJWK(publicKey);
    const kid = await jose.calculateJwkThumbprint(publicJwk);
    pkKeys = { privateKey, publicJwk: { ...publicJwk, kid, alg: 'ES256' }, kid, spki: await jose.exportSPKI(publicKey) };
    server = await startAuth({
      max_body_size: MAX_BODY,
      // generous: this suite fails on purpose many times from one IP; throttling has its own server
      client_auth_throttle: { max_failures: 1000, window: '60s' },
      clients: [
        { client_id: 'svc-basic', client_secret: SECRET, scopes: ['orders:read'] },
        { client_id: 'svc-post', client_secret: SECRET, token_endpoint_auth_method: 'client_secret_post', scopes: ['orders:read'] },
        { client_id: 'svc-other', client_secret: SECRET, scopes: ['orders:read'] },
        { client_id: 'svc-pk', jwks: { keys: [pkKeys.publicJwk] }, scopes: ['orders:read'] },
        {
          client_id: 'web',
          client_secret: SECRET,
          grant_types: ['authorization_code'],
          redirect_uris: ['https://app.example/cb'],
          scopes: ['orders:read'],
        },
        { client_id: 'spa', grant_types: ['authorization_code'], redirect_uris: ['https://spa.example/cb'], scopes: ['orders:read'] },
      ],
    });
    token = `${server.issuer}/oauth2/token`;
    introspect = `${server.issuer}/oauth2/introspect`;
    revoke = `${server.issuer}/oauth2/revoke`;
  });

  after(() => server?.close());

  const auth = () => ({ authorization: basic('svc-basic', SECRET) });
  const cc = { grant_type: 'client_credentials' };

  async function issue(clientId = 'svc-basic'): Promise<string> {
    const body = await expectOk(await postForm(token, cc, { authorization: basic(clientId, SECRET) }));
    return body.access_token as string;
  }

  /** A client assertion for svc-pk; `claims` override the valid defaults (undefined removes one). */
  async function assertion(claims: Record<string, unknown> = {}, header: jose.JWTHeaderParameters = { alg: 'ES256', kid: pkKeys.kid }) {
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = { iss: 'svc-pk', sub: 'svc-pk', aud: server.issuer, iat: now, exp: now + 60, jti: randomUUID(), ...claims };
    for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
    return new jose.SignJWT(payload).setProtectedHeader(header).sign(pkKeys.privateKey);
  }

  function withAssertion(jwt: string, extra: Record<string, string> = {}) {
    return postForm(token, {
      ...cc,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: jwt,
      ...extra,
    });
  }

  describe('client authentication → 401 invalid_client with WWW-Authenticate', () => {
    it('wrong secret', async () => {
      await expectError(await postForm(token, cc, { authorization: basic('svc-basic', 'wrong-secret') }), 401, 'invalid_client');
    });

    it('unknown client', async () => {
      await expectError(await postForm(token, cc, { authorization: basic('nobody', SECRET) }), 401, 'invalid_client');
    });

    it('client_secret_post for a client_secret_basic client (with the right secret)', async () => {
      await expectError(await postForm(token, { ...cc, client_id: 'svc-basic', client_secret: SECRET }), 401, 'invalid_client');
    });

    it('client_secret_basic for a client_secret_post client (with the right secret)', async () => {
      await expectError(await postForm(token, cc, { authorization: basic('svc-post', SECRET) }), 401, 'invalid_client');
      // and the configured method works
      await expectOk(await postForm(token, { ...cc, client_id: 'svc-post', client_secret: SECRET }));
    });

    it('a secret for a private_key_jwt client', async () => {
      await expectError(await postForm(token, cc, { authorization: basic('svc-pk', SECRET) }), 401, 'invalid_client');
    });

    it('no client authentication at all', async () => {
      await expectError(await postForm(token, cc), 401, 'invalid_client');
    });

    it('a public client (client_id only) at the token endpoint for client_credentials', async () => {
      await expectError(await postForm(token, { ...cc, client_id: 'spa' }), 401, 'invalid_client');
    });

    it('client_id in the body differing from the Basic one', async () => {
      await expectError(await postForm(token, { ...cc, client_id: 'svc-other' }, auth()), 401, 'invalid_client');
    });

    for (const [name, header] of [
      ['not base64', 'Basic %%%'],
      ['no colon', 'Basic ' + Buffer.from('svc-basic').toString('base64')],
      ['empty client id', 'Basic ' + Buffer.from(`:${SECRET}`).toString('base64')],
      ['malformed form encoding inside', 'Basic ' + Buffer.from(`svc-basic:%zz`).toString('base64')],
      ['another scheme', 'Bearer abc.def.ghi'],
      ['scheme only', 'Basic'],
    ] as const) {
      it(`malformed Authorization header: ${name}`, async () => {
        const res = await postForm(token, cc, { authorization: header });
        // a failed client authentication, a broken form encoding inside the credentials too (RFC 6749 §5.2)
        const body = await expectError(res, 401, 'invalid_client');
        // the description says what is wrong: a Basic header that does not parse, or another scheme
        assert.match(String(body.error_description), name === 'another scheme' ? /unsupported Authorization scheme/ : /malformed Basic credentials/);
      });
    }
  });

  describe('malformed requests → 400 invalid_request', () => {
    it('two client authentication methods at once', async () => {
      await expectError(await postForm(token, { ...cc, client_id: 'svc-basic', client_secret: SECRET }, auth()), 400, 'invalid_request');
    });

    it('Basic and a client assertion at once', async () => {
      const res = await postForm(
        token,
        { ...cc, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion() },
        auth(),
      );
      await expectError(res, 400, 'invalid_request');
    });

    it('a repeated parameter (two scopes)', async () => {
      await expectError(await postForm(token, { ...cc, scope: ['orders:read', 'orders:read'] }, auth()), 400, 'invalid_request');
    });

    it('a repeated grant_type', async () => {
      await expectError(await postForm(token, { grant_type: ['client_credentials', 'client_credentials'] }, auth()), 400, 'invalid_request');
    });

    it('missing grant_type', async () => {
      await expectError(await postForm(token, { scope: 'orders:read' }, auth()), 400, 'invalid_request');
    });

    it('JSON body instead of a form', async () => {
      const res = await rawPost(token, JSON.stringify({ grant_type: 'client_credentials' }), { 'content-type': 'application/json', ...auth() });
      await expectError(res, 400, 'invalid_request');
    });

    it('no content type', async () => {
      const res = await rawPost(token, Buffer.from('grant_type=client_credentials'), { ...auth() });
      await expectError(res, 400, 'invalid_request');
    });

    it('malformed form encoding (%zz)', async () => {
      const res = await rawPost(token, 'grant_type=client_credentials&scope=%zz', {
        'content-type': 'application/x-www-form-urlencoded',
        ...auth(),
      });
      await expectError(res, 400, 'invalid_request');
    });

    it('client_assertion_type that is not jwt-bearer', async () => {
      const res = await postForm(token, { ...cc, client_assertion_type: 'urn:example:other', client_assertion: await assertion() });
      await expectError(res, 400, 'invalid_request');
    });

    it('client_secret without client_id', async () => {
      await expectError(await postForm(token, { ...cc, client_secret: SECRET }), 400, 'invalid_request');
    });
  });

  describe('grants, scopes and resources', () => {
    it('unknown grant type → unsupported_grant_type', async () => {
      await expectError(await postForm(token, { grant_type: 'urn:example:nope' }, auth()), 400, 'unsupported_grant_type');
    });

    it('a grant type this build does not offer → unsupported_grant_type', async () => {
      await expectError(await postForm(token, { grant_type: 'urn:example:unknown', username: 'a', password: 'b' }, auth()), 400, 'unsupported_grant_type');
    });

    it('the password grant for a client that does not list it → unauthorized_client', async () => {
      await expectError(await postForm(token, { grant_type: 'password', username: 'a', password: 'b' }, auth()), 400, 'unauthorized_client');
    });

    it('a grant the client may not use → unauthorized_client', async () => {
      await expectError(await postForm(token, cc, { authorization: basic('web', SECRET) }), 400, 'unauthorized_client');
    });

    it('a scope outside the client’s → invalid_scope', async () => {
      await expectError(await postForm(token, { ...cc, scope: 'orders:read admin' }, auth()), 400, 'invalid_scope');
    });

    it('a malformed scope token → invalid_scope', async () => {
      await expectError(await postForm(token, { ...cc, scope: 'orders:"read' }, auth()), 400, 'invalid_scope');
    });

    it('a resource that is not an absolute URI → invalid_target', async () => {
      await expectError(await postForm(token, { ...cc, resource: 'orders' }, auth()), 400, 'invalid_target');
    });

    it('a resource with a fragment → invalid_target', async () => {
      await expectError(await postForm(token, { ...cc, resource: 'https://orders.example/#x' }, auth()), 400, 'invalid_target');
    });
  });

  describe('HTTP level', () => {
    it('a body over max_body_size (declared length) → 413', async () => {
      const res = await rawPost(token, `grant_type=client_credentials&pad=${'a'.repeat(MAX_BODY)}`, {
        'content-type': 'application/x-www-form-urlencoded',
        ...auth(),
      });
      await expectError(res, 413, 'invalid_request');
    });

    it('a body over max_body_size (chunked, no length) → 413', async () => {
      const status = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = request(token, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth() } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.write('grant_type=client_credentials&pad=');
        req.end('b'.repeat(MAX_BODY + 1));
      });
      assert.equal(status.status, 413);
      assert.equal(status.headers['cache-control'], 'no-store');
      // the rest of a refused body is not read: the connection is closed after the answer
      assert.equal(status.headers.connection, 'close');
      assert.equal((JSON.parse(status.body) as { error: string }).error, 'invalid_request');
    });

    it('GET on the token endpoint → 405 with Allow', async () => {
      const res = await fetch(`${token}?grant_type=client_credentials`, { headers: auth() });
      await expectError(res, 405, 'invalid_request', { allow: 'POST, OPTIONS' });
    });

    it('GET on the introspection and revocation endpoints → 405 with Allow', async () => {
      await expectError(await fetch(introspect), 405, 'invalid_request', { allow: 'POST' });
      // revocation answers CORS preflights as well
      await expectError(await fetch(revoke), 405, 'invalid_request', { allow: 'POST, OPTIONS' });
    });

    it('POST on the JWKS → 405 with Allow: GET, HEAD', async () => {
      await expectError(await fetch(`${server.issuer}/.well-known/jwks.json`, { method: 'POST' }), 405, 'invalid_request', {
        allow: 'GET, HEAD',
      });
    });

    it('an unknown path → 404 JSON', async () => {
      await expectError(await fetch(`${server.issuer}/oauth2/nope`), 404, 'not_found');
    });
  });

  describe('private_key_jwt (RFC 7523)', () => {
    it('a valid assertion works once; the replayed jti → invalid_client', async () => {
      const jwt = await assertion();
      await expectOk(await withAssertion(jwt));
      await expectError(await withAssertion(jwt), 401, 'invalid_client');
    });

    it('the same jti in a fresh assertion is also a replay', async () => {
      const jti = randomUUID();
      await expectOk(await withAssertion(await assertion({ jti })));
      await expectError(await withAssertion(await assertion({ jti })), 401, 'invalid_client');
    });

    it('the token endpoint URL is an accepted aud', async () => {
      await expectOk(await withAssertion(await assertion({ aud: token })));
    });

    it('wrong aud → invalid_client', async () => {
      await expectError(await withAssertion(await assertion({ aud: 'https://other.example' })), 401, 'invalid_client');
    });

    it('expired assertion → invalid_client', async () => {
      const now = Math.floor(Date.now() / 1000);
      await expectError(await withAssertion(await assertion({ iat: now - 600, exp: now - 300 })), 401, 'invalid_client');
    });

    it('iat in the future beyond the 30 s clock skew → invalid_client; within it → accepted', async () => {
      const now = Math.floor(Date.now() / 1000);
      const body = await expectError(await withAssertion(await assertion({ iat: now + 120, exp: now + 180 })), 401, 'invalid_client');
      assert.match(String(body.error_description), /in the future/);
      await expectOk(await withAssertion(await assertion({ iat: now + 10, exp: now + 60 })));
    });

    it('exp before iat → invalid_client', async () => {
      const now = Math.floor(Date.now() / 1000);
      const body = await expectError(await withAssertion(await assertion({ iat: now + 20, exp: now + 10 })), 401, 'invalid_client');
      assert.match(String(body.error_description), /exp < iat/);
    });

    it('assertion without exp or without jti → invalid_client', async () => {
      await expectError(await withAssertion(await assertion({ exp: undefined })), 401, 'invalid_client');
      await expectError(await withAssertion(await assertion({ jti: undefined })), 401, 'invalid_client');
    });

    it('sub differing from iss → invalid_client', async () => {
      await expectError(await withAssertion(await assertion({ sub: 'svc-basic' })), 401, 'invalid_client');
    });

    it('signed by another key → invalid_client', async () => {
      const other = await jose.generateKeyPair('ES256');
      const now = Math.floor(Date.now() / 1000);
      const jwt = await new jose.SignJWT({ jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: pkKeys.kid })
        .setIssuer('svc-pk')
        .setSubject('svc-pk')
        .setAudience(server.issuer)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(other.privateKey);
      await expectError(await withAssertion(jwt), 401, 'invalid_client');
    });

    it('alg: none → invalid_client', async () => {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new jose.UnsecuredJWT({ jti: randomUUID() })
        .setIssuer('svc-pk')
        .setSubject('svc-pk')
        .setAudience(server.issuer)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .encode();
      await expectError(await withAssertion(jwt), 401, 'invalid_client');
    });

    it('HS256 signed with the public key bytes (algorithm confusion) → invalid_client', async () => {
      const now = Math.floor(Date.now() / 1000);
      for (const secret of [pkKeys.spki, JSON.stringify(pkKeys.publicJwk)]) {
        const jwt = await new jose.SignJWT({ jti: randomUUID() })
          .setProtectedHeader({ alg: 'HS256', kid: pkKeys.kid })
          .setIssuer('svc-pk')
          .setSubject('svc-pk')
          .setAudience(server.issuer)
          .setIssuedAt(now)
          .setExpirationTime(now + 60)
          .sign(new TextEncoder().encode(secret));
        await expectError(await withAssertion(jwt), 401, 'invalid_client');
      }
    });

    it('a malformed assertion → invalid_client', async () => {
      await expectError(await withAssertion('not-a-jwt'), 401, 'invalid_client');
      await expectError(await withAssertion('a.b.c'), 401, 'invalid_client');
    });
  });

  describe('introspection and revocation', () => {
    it('introspection without client authentication → 401', async () => {
      const t = await issue();
      await expectError(await postForm(introspect, { token: t }), 401, 'invalid_client');
    });

    it('introspection by a public client → 401', async () => {
      const t = await issue();
      await expectError(await postForm(introspect, { token: t, client_id: 'spa' }), 401, 'invalid_client');
    });

    it('introspection with a wrong secret → 401', async () => {
      const t = await issue();
      await expectError(await postForm(introspect, { token: t }, { authorization: basic('svc-basic', 'nope') }), 401, 'invalid_client');
    });

    it('introspection without a token → invalid_request', async () => {
      await expectError(await postForm(introspect, {}, auth()), 400, 'invalid_request');
    });

    it('introspection of garbage answers inactive, not an error', async () => {
      for (const t of ['garbage', 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.', 'x'.repeat(3000)]) {
        const res = await postForm(introspect, { token: t }, auth());
        assert.equal(res.headers.get('cache-control'), 'no-store');
        assert.deepEqual(await expectOk(res), { active: false });
      }
    });

    it('revocation of another client’s token is refused and the token stays active', async () => {
      const t = await issue('svc-basic');
      const res = await postForm(revoke, { token: t }, { authorization: basic('svc-other', SECRET) });
      await expectError(res, 400, 'unauthorized_client');
      const state = await expectOk(await postForm(introspect, { token: t }, auth()));
      assert.equal(state.active, true);
    });

    it('revocation of an unknown token → 200, empty, no-store', async () => {
      const res = await postForm(revoke, { token: 'unknown-token-value' }, auth());
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(await res.text(), '');
    });

    it('revocation without client authentication → 401', async () => {
      const t = await issue();
      await expectError(await postForm(revoke, { token: t }), 401, 'invalid_client');
    });

    // RFC 7009 §2.1: the hint is only a hint; the server searches every token type anyway
    for (const hint of ['id_token', 'bogus', 'refresh_token']) {
      it(`revocation with token_type_hint ${hint} (unknown or wrong) still revokes the access token`, async () => {
        const t = await issue();
        const res = await postForm(revoke, { token: t, token_type_hint: hint }, auth());
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal(await res.text(), '');
        assert.deepEqual(await expectOk(await postForm(introspect, { token: t }, auth())), { active: false });
      });
    }
  });
});

describe('throttling of failed client authentication', () => {
  let server: TestServer;
  let token: string;
  before(async () => {
    server = await startAuth({
      client_auth_throttle: { max_failures: 3, max_failures_per_ip: 5, window: '60s' },
      clients: [
        { client_id: 'svc', client_secret: SECRET, scopes: ['orders:read'] },
        { client_id: 'neighbour', client_secret: SECRET, scopes: ['orders:read'] },
      ],
    });
    token = `${server.issuer}/oauth2/token`;
  });
  after(() => server?.close());

  it('after max_failures failures → 429 with Retry-After, even with the right secret', async () => {
    for (let i = 0; i < 3; i++) {
      await expectError(await postForm(token, { grant_type: 'client_credentials' }, { authorization: basic('svc', `wrong-${i}`) }), 401, 'invalid_client');
    }
    const blocked = await postForm(token, { grant_type: 'client_credentials' }, { authorization: basic('svc', 'wrong-again') });
    await expectError(blocked, 429, 'temporarily_unavailable', { 'retry-after': /^\d+$/ });
    const retryAfter = Number(blocked.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);

    const right = await postForm(token, { grant_type: 'client_credentials' }, { authorization: basic('svc', SECRET) });
    await expectError(right, 429, 'temporarily_unavailable', { 'retry-after': /^\d+$/ });
  });

  it('one client guessing does not lock out its neighbours on the same address, until the per-IP limit', async () => {
    // 3 failures from this address so far (svc's): a neighbour still gets its token
    const ok = await postForm(token, { grant_type: 'client_credentials' }, { authorization: basic('neighbour', SECRET) });
    assert.equal(ok.status, 200);
    for (let i = 0; i < 2; i++) {
      await expectError(await postForm(token, { grant_type: 'client_credentials' }, { authorization: basic('someone-else', 'x') }), 401, 'invalid_client');
    }
    // 5 failures from the address: now it is throttled as a whole
    const res = await postForm(token, { grant_type: 'client_credentials' }, { authorization: basic('neighbour', SECRET) });
    await expectError(res, 429, 'temporarily_unavailable', { 'retry-after': /^\d+$/ });
  });

  it('introspection is throttled as well', async () => {
    const res = await postForm(`${server.issuer}/oauth2/introspect`, { token: 'x' }, { authorization: basic('svc', SECRET) });
    await expectError(res, 429, 'temporarily_unavailable', { 'retry-after': /^\d+$/ });
  });
});
