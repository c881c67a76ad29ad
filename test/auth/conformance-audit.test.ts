// A fresh-eyes conformance audit of the authorization server, driven over real HTTP as an
// external suite would. Each describe is one area; the tests pin what the audit found (the
// deviations it fixed, and the conformant behaviour it checked where no other test did).
import * as assert from 'node:assert/strict';
import { createHash, createHmac, createPublicKey, randomBytes, type JsonWebKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as oauth from 'oauth4webapi';
import { basic, freePort, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const SECRET = 'conformance-audit-secret-0123456789abcdef';
const CB = 'https://app.example/cb';
/** a registered query that URLSearchParams would not give back as written (`debug` has no `=`) */
const CB_QUERY = 'https://app.example/cb?debug&next=/home~1';
const BYE_QUERY = 'https://app.example/bye?debug&from=/app';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

const CLIENTS = [
  {
    client_id: 'web',
    client_secret: SECRET,
    redirect_uris: [CB, CB_QUERY],
    post_logout_redirect_uris: [BYE_QUERY],
    grant_types: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'profile', 'offline_access', 'orders:read'],
    consent: 'skip',
  },
  {
    client_id: 'spa',
    redirect_uris: ['http://spa.example/cb', 'http://127.0.0.1:8080/cb', 'https://spa.example/cb'],
    grant_types: ['implicit'],
    scopes: ['openid'],
    consent: 'skip',
  },
  {
    // a native app (RFC 8252): public, its local listener on whatever port the OS gives it
    client_id: 'native',
    redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]/callback?app=1', 'com.example.app:/oauth2redirect'],
    grant_types: ['authorization_code'],
    scopes: ['openid'],
    consent: 'skip',
  },
  {
    client_id: 'svc',
    client_secret: SECRET,
    grant_types: ['client_credentials', TOKEN_EXCHANGE],
    scopes: ['openid', 'orders:read'],
    access_token_format: 'jwt',
  },
];

const USERS = [
  { username: 'alice', password: PASSWORD, claims: { name: 'Alice' } },
  // users whose account changes under a live refresh token
  { username: 'dora', password: PASSWORD, claims: {} },
  { username: 'lena', password: PASSWORD, claims: {} },
];

interface Pkce {
  verifier: string;
  challenge: string;
}

function pkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function payloadOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

function b64json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function json(res: Response, status = 200): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  return JSON.parse(text) as Record<string, unknown>;
}

async function expectOAuthError(res: Response, status: number, error: string): Promise<Record<string, unknown>> {
  const body = await json(res, status);
  assert.equal(body.error, error, JSON.stringify(body));
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('pragma'), 'no-cache');
  return body;
}

describe('conformance audit', () => {
  let server: TestServer;
  let issuer: string;
  let tokenUrl: string;

  before(async () => {
    server = await startAuth({ brute_force: { enabled: false }, users: USERS, clients: CLIENTS });
    issuer = server.issuer;
    tokenUrl = `${issuer}/oauth2/token`;
  });

  after(() => server?.close());

  function authorizeUrl(params: Record<string, string>): string {
    return `${issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'web', response_type: 'code', ...params }).toString()}`;
  }

  /** Signs `username` in at the login page of a fresh request; returns the redirect's Location. */
  async function signIn(browser: Browser, params: Record<string, string>, username = 'alice'): Promise<string> {
    const page = await browser.fetch(authorizeUrl(params));
    assert.equal(page.status, 200, 'the login page');
    const form = parseForm(await page.text());
    const res = await browser.fetch(form.action, { form: [...form.fields, ['username', username], ['password', PASSWORD]] });
    assert.equal(res.status, 303, 'straight back to the client (consent: skip)');
    return res.headers.get('location')!;
  }

  /** The code flow for `username`, redeemed by `web`: the token response. */
  async function codeFlow(username: string, scope: string): Promise<Record<string, unknown>> {
    const p = pkce();
    const location = await signIn(new Browser(), { redirect_uri: CB, scope, state: 's', code_challenge: p.challenge, code_challenge_method: 'S256' }, username);
    const code = new URL(location).searchParams.get('code')!;
    return json(await postForm(tokenUrl, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: p.verifier }, { authorization: basic('web', SECRET) }));
  }

  describe('authorization response: the registered redirect URI (RFC 6749 §3.1.2, §4.1.2, §4.1.2.1)', () => {
    it('a registered query is kept exactly as registered; code, state and iss are appended after it', async () => {
      const p = pkce();
      const location = await signIn(new Browser(), {
        redirect_uri: CB_QUERY, scope: 'openid', state: 'st&=1', code_challenge: p.challenge, code_challenge_method: 'S256',
      });
      // §3.1.2: the query component "MUST be retained when adding additional query parameters"
      assert.ok(location.startsWith(`${CB_QUERY}&`), location);
      const answer = new URL(location);
      assert.equal(answer.searchParams.get('state'), 'st&=1');
      assert.equal(answer.searchParams.get('iss'), issuer);
      // the token request names the redirect URI exactly as the authorization request did
      const tokens = await json(await postForm(tokenUrl, {
        grant_type: 'authorization_code', code: answer.searchParams.get('code')!, redirect_uri: CB_QUERY, code_verifier: p.verifier,
      }, { authorization: basic('web', SECRET) }));
      assert.equal(typeof tokens.id_token, 'string');
    });

    it('an error response keeps the registered query too', async () => {
      const res = await fetch(authorizeUrl({ redirect_uri: CB_QUERY, scope: 'no-such-scope', state: 'x' }), { redirect: 'manual' });
      assert.equal(res.status, 302);
      const location = res.headers.get('location')!;
      assert.ok(location.startsWith(`${CB_QUERY}&error=invalid_scope&`), location);
      assert.equal(new URL(location).searchParams.get('state'), 'x');
      assert.equal(new URL(location).searchParams.get('iss'), issuer);
    });

    it('a redirect URI without a query gets exactly the response parameters (no stray `?` or `&`)', async () => {
      const res = await fetch(authorizeUrl({ redirect_uri: CB, scope: 'openid', prompt: 'none', state: 'y', code_challenge: pkce().challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
      assert.equal(res.status, 302);
      assert.ok(res.headers.get('location')!.startsWith(`${CB}?error=login_required&`), res.headers.get('location')!);
    });
  });

  describe('implicit flow: where tokens may be sent (OIDC Core §3.2.2.1, RFC 6749 §3.1.2.1)', () => {
    function implicitUrl(redirectUri: string, responseType: string): string {
      const params = { client_id: 'spa', redirect_uri: redirectUri, response_type: responseType, scope: 'openid', nonce: 'n', state: 'i', prompt: 'none' };
      return `${issuer}/oauth2/authorize?${new URLSearchParams(params).toString()}`;
    }

    it('an http redirect URI on a non-loopback host → unauthorized_client, whatever implicit type', async () => {
      for (const type of ['id_token', 'token', 'id_token token']) {
        const res = await fetch(implicitUrl('http://spa.example/cb', type), { redirect: 'manual' });
        assert.equal(res.status, 302, type);
        const answer = new URLSearchParams(new URL(res.headers.get('location')!).hash.slice(1));
        assert.equal(answer.get('error'), 'unauthorized_client', type);
        assert.equal(answer.get('state'), 'i');
      }
    });

    it('https, and http on a loopback host, are served (prompt=none without a session: login_required)', async () => {
      for (const uri of ['https://spa.example/cb', 'http://127.0.0.1:8080/cb']) {
        const res = await fetch(implicitUrl(uri, 'id_token'), { redirect: 'manual' });
        assert.equal(res.status, 302, uri);
        assert.equal(new URLSearchParams(new URL(res.headers.get('location')!).hash.slice(1)).get('error'), 'login_required', uri);
      }
    });
  });

  describe('native apps: loopback redirect URIs on any port (RFC 8252 §7.3, §8.3)', () => {
    function nativeUrl(redirectUri: string): string {
      const params = { client_id: 'native', redirect_uri: redirectUri, response_type: 'code', scope: 'openid', state: 'n', prompt: 'none', code_challenge: pkce().challenge, code_challenge_method: 'S256' };
      return `${issuer}/oauth2/authorize?${new URLSearchParams(params).toString()}`;
    }

    it('a registered loopback IP URI matches with any port, the rest exactly (redirected, here login_required)', async () => {
      for (const uri of ['http://127.0.0.1:51234/callback', 'http://127.0.0.1/callback', 'http://[::1]:8123/callback?app=1']) {
        const res = await fetch(nativeUrl(uri), { redirect: 'manual' });
        assert.equal(res.status, 302, uri);
        const location = res.headers.get('location')!;
        assert.ok(location.startsWith(`${uri}${uri.includes('?') ? '&' : '?'}error=login_required&`), location);
      }
    });

    it('anything else is still an exact match: other path, query, host, scheme, or "localhost" → error page, no redirect', async () => {
      for (const uri of [
        'http://127.0.0.1:51234/callback/x',
        'http://127.0.0.1:51234/callback?x=1',
        'http://[::1]:8123/callback',
        'http://127.0.0.2:51234/callback',
        'http://localhost:51234/callback',
        'https://127.0.0.1:51234/callback',
        'http://127.0.0.1:51234@evil.example/callback',
        'com.example.app:/oauth2redirect/x',
      ]) {
        const res = await fetch(nativeUrl(uri), { redirect: 'manual' });
        assert.equal(res.status, 400, uri);
        assert.equal(res.headers.get('location'), null, uri);
        await res.arrayBuffer();
      }
    });

    it('the code is redeemed with the redirect URI exactly as the authorization request named it, port included', async () => {
      const redeem = async (port: number) => {
        const p = pkce();
        const browser = new Browser();
        const params = { client_id: 'native', redirect_uri: 'http://127.0.0.1:40001/callback', response_type: 'code', scope: 'openid', state: 'c', code_challenge: p.challenge, code_challenge_method: 'S256' };
        const page = await browser.fetch(`${issuer}/oauth2/authorize?${new URLSearchParams(params).toString()}`);
        const form = parseForm(await page.text());
        const done = await browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] });
        const code = new URL(done.headers.get('location')!).searchParams.get('code')!;
        return postForm(tokenUrl, { grant_type: 'authorization_code', client_id: 'native', code, redirect_uri: `http://127.0.0.1:${port}/callback`, code_verifier: p.verifier });
      };
      const tokens = await json(await redeem(40001));
      assert.equal(typeof tokens.id_token, 'string');
      // another port is another redirect URI (RFC 6749 §4.1.3: identical), even though both were acceptable at /authorize
      await expectOAuthError(await redeem(40002), 400, 'invalid_grant');
    });
  });

  describe('RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2, §3)', () => {
    it('a post_logout_redirect_uri with a query: kept as registered, state appended after it', async () => {
      const browser = new Browser();
      const p = pkce();
      const location = await signIn(browser, { redirect_uri: CB, scope: 'openid', state: 's', code_challenge: p.challenge, code_challenge_method: 'S256' });
      const code = new URL(location).searchParams.get('code')!;
      const tokens = await json(await postForm(tokenUrl, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: p.verifier }, { authorization: basic('web', SECRET) }));
      const res = await browser.fetch(`${issuer}/oauth2/logout?${new URLSearchParams({ id_token_hint: String(tokens.id_token), post_logout_redirect_uri: BYE_QUERY, state: 'a b' })}`);
      assert.equal(res.status, 302);
      assert.equal(res.headers.get('location'), `${BYE_QUERY}&state=a+b`);
    });
  });

  describe('token endpoint: client authentication (RFC 6749 §2.3.1, §5.2)', () => {
    it('Basic credentials that are not form-urlencoded: invalid_client naming the Authorization header, not the body', async () => {
      // a raw `%` in the secret cannot be form-decoded (a client that skipped §2.3.1's encoding):
      // a failed client authentication (§5.2), 401 with the Basic challenge (peer-review.test.ts)
      const raw = `Basic ${Buffer.from('web:100%secret').toString('base64')}`;
      const res = await postForm(tokenUrl, { grant_type: 'client_credentials' }, { authorization: raw });
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="drawbridge"/);
      const body = await expectOAuthError(res, 401, 'invalid_client');
      assert.match(String(body.error_description), /Authorization header/);
      assert.doesNotMatch(String(body.error_description), /body/);
    });
  });

  describe('refresh token grant (RFC 6749 §6)', () => {
    it('a refresh token of a user deleted since → invalid_grant (as the code grant refuses an inactive user)', async () => {
      // offline_access: the token outlives the SSO session, so only the user's fate decides
      const tokens = await codeFlow('dora', 'orders:read offline_access');
      await server.running.storage.users.delete('dora');
      await expectOAuthError(await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) }, { authorization: basic('web', SECRET) }), 400, 'invalid_grant');
    });

    it('a refresh token of a user locked since → invalid_grant, with or without openid', async () => {
      const tokens = await codeFlow('lena', 'openid orders:read offline_access');
      const before = await json(await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) }, { authorization: basic('web', SECRET) }));
      await server.running.storage.users.setLocked('lena', true, Math.floor(Date.now() / 1000));
      await expectOAuthError(await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: String(before.refresh_token) }, { authorization: basic('web', SECRET) }), 400, 'invalid_grant');
      await expectOAuthError(
        await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: String(before.refresh_token), scope: 'orders:read' }, { authorization: basic('web', SECRET) }),
        400,
        'invalid_grant',
      );
    });

    it('scope only narrows; the refreshed ID token keeps iss, sub, aud, auth_time, sid, amr and acr, without a nonce', async () => {
      const tokens = await codeFlow('alice', 'openid profile offline_access');
      await expectOAuthError(
        await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token), scope: 'openid orders:read' }, { authorization: basic('web', SECRET) }),
        400,
        'invalid_scope',
      );
      const narrowed = await json(await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token), scope: 'openid' }, { authorization: basic('web', SECRET) }));
      assert.equal(narrowed.scope, 'openid');
      const first = payloadOf(String(tokens.id_token));
      const again = payloadOf(String(narrowed.id_token));
      // amr and acr describe that same sign-in (OIDC Core §12.2: the refreshed token is about the original authentication)
      assert.deepEqual(first.amr, ['pwd']);
      for (const claim of ['iss', 'sub', 'aud', 'auth_time', 'sid', 'amr', 'acr']) assert.deepEqual(again[claim], first[claim], claim);
      assert.equal(again.nonce, undefined);
      // and again after a rotation: the family carries them on
      const third = await json(await postForm(tokenUrl, { grant_type: 'refresh_token', refresh_token: String(narrowed.refresh_token) }, { authorization: basic('web', SECRET) }));
      assert.deepEqual(payloadOf(String(third.id_token)).amr, first.amr);
    });
  });

  describe('forged JWTs: alg none, and HS256 keyed with the public key, are refused wherever tokens are accepted', () => {
    let real: string;
    let idToken: string;
    let forgedNone: string;
    let forgedHs256: string;
    let forgedIdToken: string;

    before(async () => {
      const cc = await json(await postForm(tokenUrl, { grant_type: 'client_credentials', scope: 'openid orders:read' }, { authorization: basic('svc', SECRET) }));
      real = String(cc.access_token);
      idToken = String((await codeFlow('alice', 'openid')).id_token);
      const header = JSON.parse(Buffer.from(real.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string; typ: string };
      const alice = await server.running.storage.users.getByUsername('alice');
      // a token for alice, with more scope, that nobody signed
      const claims = { ...payloadOf(real), sub: alice!.id, scope: 'openid orders:read orders:write' };
      forgedNone = `${b64json({ alg: 'none', typ: 'at+jwt', kid: header.kid })}.${b64json(claims)}.`;
      const jwks = (await json(await fetch(`${issuer}/.well-known/jwks.json`))).keys as Array<JsonWebKey & { kid: string }>;
      const pem = createPublicKey({ key: jwks.find((k) => k.kid === header.kid)!, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      const input = `${b64json({ alg: 'HS256', typ: 'at+jwt', kid: header.kid })}.${b64json(claims)}`;
      forgedHs256 = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
      const idHeader = JSON.parse(Buffer.from(idToken.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string };
      forgedIdToken = `${b64json({ alg: 'none', typ: 'JWT', kid: idHeader.kid })}.${b64json(payloadOf(idToken))}.`;
    });

    it('introspection answers exactly {"active":false}', async () => {
      for (const token of [forgedNone, forgedHs256]) {
        assert.deepEqual(await json(await postForm(`${issuer}/oauth2/introspect`, { token }, { authorization: basic('svc', SECRET) })), { active: false });
      }
      assert.equal((await json(await postForm(`${issuer}/oauth2/introspect`, { token: real }, { authorization: basic('svc', SECRET) }))).active, true);
    });

    it('userinfo: 401 with WWW-Authenticate: Bearer error="invalid_token"', async () => {
      for (const token of [forgedNone, forgedHs256]) {
        const res = await fetch(`${issuer}/oauth2/userinfo`, { headers: { authorization: `Bearer ${token}` } });
        await expectOAuthError(res, 401, 'invalid_token');
        assert.match(res.headers.get('www-authenticate')!, /^Bearer realm="[^"]+", error="invalid_token"/);
      }
    });

    it('revocation: 200 (an unknown token), and nothing is revoked', async () => {
      for (const token of [forgedNone, forgedHs256]) {
        const res = await postForm(`${issuer}/oauth2/revoke`, { token }, { authorization: basic('svc', SECRET) });
        assert.equal(res.status, 200);
      }
      assert.equal((await json(await postForm(`${issuer}/oauth2/introspect`, { token: real }, { authorization: basic('svc', SECRET) }))).active, true);
    });

    it('token exchange: a forged subject token → invalid_request (RFC 8693 §2.2.2)', async () => {
      for (const token of [forgedNone, forgedHs256]) {
        await expectOAuthError(
          await postForm(tokenUrl, { grant_type: TOKEN_EXCHANGE, subject_token: token, subject_token_type: ACCESS_TOKEN_TYPE }, { authorization: basic('svc', SECRET) }),
          400,
          'invalid_request',
        );
      }
    });

    it('id_token_hint: refused at the authorization endpoint (invalid_request at the client) and at logout (an error page)', async () => {
      const res = await fetch(authorizeUrl({ redirect_uri: CB, scope: 'openid', state: 'h', id_token_hint: forgedIdToken, code_challenge: pkce().challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
      assert.equal(res.status, 302);
      assert.equal(new URL(res.headers.get('location')!).searchParams.get('error'), 'invalid_request');
      const logout = await fetch(`${issuer}/oauth2/logout?${new URLSearchParams({ id_token_hint: forgedIdToken, post_logout_redirect_uri: BYE_QUERY })}`, { redirect: 'manual' });
      assert.equal(logout.status, 400);
      assert.equal(logout.headers.get('location'), null);
    });
  });
});

describe('conformance audit: discovery with an issuer that has a path (RFC 8414 §3, OIDC Discovery 1.0 §4)', () => {
  let server: TestServer;
  let issuer: string;

  before(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}/tenant-a`;
    server = await startAuth({ listen: `127.0.0.1:${port}`, clients: CLIENTS }, { issuer });
  });

  after(() => server?.close());

  it('every well-known location serves the same document; issuer exact; each advertised endpoint answers under the path', async () => {
    const origin = new URL(issuer).origin;
    const docs = await Promise.all(
      ['/tenant-a/.well-known/openid-configuration', '/.well-known/oauth-authorization-server/tenant-a'].map(async (p) => json(await fetch(origin + p))),
    );
    assert.deepEqual(docs[0], docs[1]);
    const m = docs[0]!;
    assert.equal(m.issuer, issuer);
    for (const name of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint']) {
      const url = String(m[name]);
      assert.ok(url.startsWith(`${issuer}/`), `${name}: ${url}`);
      const res = await fetch(url, { redirect: 'manual' });
      await res.arrayBuffer();
      assert.notEqual(res.status, 404, `${name} answers at ${url}`);
    }
    // oauth4webapi checks the issuer against the one it asked for
    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }));
    assert.equal(as.issuer, issuer);
  });
});
