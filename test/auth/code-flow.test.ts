// Issue #3: the authorization code flow end to end, with openid-client v6 as the relying
// party (it validates the ID token: signature, iss, aud, nonce, at_hash) and a small
// cookie-jar browser submitting the server-rendered login and consent forms.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm, withField, withoutField } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';
const OTHER_SECRET = 'other-client-secret-0123456789abcdef';
const WEB_CB = 'https://app.example/cb';
const OTHER_CB = 'https://other.example/cb';

function assertPageHeaders(res: Response, formOrigins: string[] = []): void {
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /^default-src 'none'; style-src 'nonce-[A-Za-z0-9_-]{22}'; /);
  assert.ok(csp.includes(`; form-action ${["'self'", ...formOrigins].join(' ')}; frame-ancestors 'none'; base-uri 'none'`), csp);
  assert.ok(!csp.includes('unsafe-inline'));
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
}

describe('authorization code flow (openid-client v6)', () => {
  let server: TestServer;
  let web: client.Configuration;
  let other: client.Configuration;

  before(async () => {
    server = await startAuth({
      brute_force: { enabled: false },
      users: [
        {
          username: 'alice',
          password: PASSWORD,
          claims: { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true, groups: ['admin'] },
        },
        // users of their own, for tests that need consent not yet given
        { username: 'bob', password: PASSWORD, claims: {} },
        { username: 'carol', password: PASSWORD, claims: {} },
      ],
      clients: [
        {
          client_id: 'web',
          client_name: 'Web App',
          redirect_uris: [WEB_CB],
          grant_types: ['authorization_code', 'refresh_token'],
          scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
          default_scopes: ['openid'],
        },
        {
          client_id: 'other',
          client_secret: OTHER_SECRET,
          redirect_uris: [OTHER_CB, `${OTHER_CB}2`],
          grant_types: ['authorization_code'],
          scopes: ['openid', 'email'],
        },
        { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    });
    const opts = { execute: [client.allowInsecureRequests] };
    web = await client.discovery(new URL(server.issuer), 'web', { redirect_uris: [WEB_CB] }, client.None(), opts);
    other = await client.discovery(new URL(server.issuer), 'other', { redirect_uris: [OTHER_CB] }, client.ClientSecretBasic(OTHER_SECRET), opts);
  });

  after(() => server.close());

  interface Started {
    url: URL;
    verifier: string;
    state: string;
    nonce: string;
  }

  async function start(config: client.Configuration, extra: Record<string, string> = {}): Promise<Started> {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: config.clientMetadata().redirect_uris ? (config.clientMetadata().redirect_uris as string[])[0]! : WEB_CB,
      scope: 'openid profile email groups',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    return { url, verifier, state, nonce };
  }

  /** GET the authorize URL, sign in, allow consent when asked; returns the final redirect. */
  async function signIn(browser: Browser, url: URL, opts: { consent?: boolean; username?: string } = {}): Promise<URL> {
    const page = await browser.fetch(url.href);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /autocomplete="username"/);
    assert.match(html, /autocomplete="current-password"/);
    const login = parseForm(html);
    const after = await browser.fetch(login.action, { form: [...login.fields, ['username', opts.username ?? 'alice'], ['password', PASSWORD]] });
    // alice shares consent across the tests: the consent page shows only when not yet given
    if (opts.consent === false || after.status === 303) return redirectOf(after, 303);
    assert.equal(after.status, 200, 'consent page');
    return consent(browser, after);
  }

  async function consent(browser: Browser, page: Response): Promise<URL> {
    const html = await page.text();
    assert.match(html, /Allow access\?/);
    const form = parseForm(html);
    return redirectOf(await browser.fetch(form.action, { form: [...form.fields, ['decision', 'allow']] }), 303);
  }

  function redirectOf(res: Response, status: number): URL {
    assert.equal(res.status, status);
    const location = res.headers.get('location');
    assert.ok(location, 'a Location header');
    return new URL(location);
  }

  it('discovery advertises the code flow', () => {
    const m = web.serverMetadata();
    assert.equal(m.authorization_endpoint, `${server.issuer}/oauth2/authorize`);
    assert.equal(m.userinfo_endpoint, `${server.issuer}/oauth2/userinfo`);
    assert.ok(m.response_types_supported!.includes('code'));
    assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
    assert.equal(m.authorization_response_iss_parameter_supported, true);
    assert.ok(m.grant_types_supported!.includes('authorization_code'));
    for (const s of ['openid', 'profile', 'email', 'groups', 'offline_access']) assert.ok(m.scopes_supported!.includes(s), s);
  });

  it('login → consent → code → tokens; the ID token and userinfo carry the claims by scope', async () => {
    const browser = new Browser();
    const s = await start(web);
    const page = await browser.fetch(s.url.href);
    assert.equal(page.status, 200);
    assertPageHeaders(page, ['https://app.example']);
    const login = parseForm(await page.text());
    const consentPage = await browser.fetch(login.action, { form: [...login.fields, ['username', 'alice'], ['password', PASSWORD]] });
    assert.equal(consentPage.status, 200);
    assertPageHeaders(consentPage, ['https://app.example']);
    const sso = browser.cookies.get('drawbridge_sso');
    assert.ok(sso, 'the SSO cookie is set at login');
    assert.equal(sso.value.length, 43, '256 random bits, base64url');
    assert.equal(sso.attributes, 'Path=/; HttpOnly; SameSite=Lax');
    const cb = await consent(browser, consentPage);
    assert.equal(`${cb.origin}${cb.pathname}`, WEB_CB);
    assert.equal(cb.searchParams.get('state'), s.state);
    assert.equal(cb.searchParams.get('iss'), server.issuer);
    assert.equal(cb.searchParams.get('code')!.length, 43);

    const tokens = await client.authorizationCodeGrant(web, cb, {
      pkceCodeVerifier: s.verifier,
      expectedState: s.state,
      expectedNonce: s.nonce,
      idTokenExpected: true,
    });
    assert.equal(tokens.token_type, 'bearer');
    assert.equal(tokens.scope, 'openid profile email groups');
    assert.equal(typeof tokens.refresh_token, 'string', 'the client may use refresh_token');
    const claims = tokens.claims()!;
    const alice = await server.running.storage!.users.getByUsername('alice');
    assert.equal(claims.sub, alice!.id);
    assert.equal(claims.aud, 'web');
    assert.equal(claims.iss, server.issuer);
    assert.equal(claims.nonce, s.nonce);
    assert.equal(claims.name, 'Alice Liddell');
    assert.equal(claims.preferred_username, 'alice');
    assert.equal(claims.email, 'alice@example.com');
    assert.deepEqual(claims.groups, ['admin']);
    assert.deepEqual(claims.amr, ['pwd']);
    assert.equal(typeof claims.sid, 'string');
    assert.equal(typeof claims.at_hash, 'string');
    assert.ok(Math.abs((claims.auth_time as number) - Math.floor(Date.now() / 1000)) < 30);

    const info = await client.fetchUserInfo(web, tokens.access_token, alice!.id);
    assert.equal(info.email, 'alice@example.com');
    assert.equal(info.name, 'Alice Liddell');
    assert.deepEqual(info.groups, ['admin']);
  });

  it('SSO: a second client gets a code without the password; consent is remembered', async () => {
    const browser = new Browser();
    await signIn(browser, (await start(web)).url);
    // another client: no login page, only its own consent
    const s2 = await start(other, { scope: 'openid email' });
    const page = await browser.fetch(s2.url.href);
    assert.equal(page.status, 200);
    const cb2 = await consent(browser, page);
    const t2 = await client.authorizationCodeGrant(other, cb2, { pkceCodeVerifier: s2.verifier, expectedState: s2.state, expectedNonce: s2.nonce });
    assert.equal(t2.claims()!.aud, 'other');
    assert.equal(t2.claims()!.email, 'alice@example.com');
    assert.equal(t2.claims()!.name, undefined, 'no profile scope, no name');
    // the first client again: remembered consent, straight back with a code
    const s3 = await start(web);
    const cb3 = redirectOf(await browser.fetch(s3.url.href), 302);
    assert.equal(cb3.searchParams.get('state'), s3.state);
    const t3 = await client.authorizationCodeGrant(web, cb3, { pkceCodeVerifier: s3.verifier, expectedState: s3.state, expectedNonce: s3.nonce });
    assert.equal(t3.claims()!.sid, t2.claims()!.sid, 'one SSO session');
  });

  it('prompt=none: login_required without a session, consent_required without consent', async () => {
    const s = await start(web, { prompt: 'none' });
    const cb = redirectOf(await new Browser().fetch(s.url.href), 302);
    assert.equal(`${cb.origin}${cb.pathname}`, WEB_CB);
    assert.equal(cb.searchParams.get('error'), 'login_required');
    assert.equal(cb.searchParams.get('state'), s.state);
    assert.equal(cb.searchParams.get('iss'), server.issuer);
    assert.equal(cb.searchParams.get('code'), null);

    const browser = new Browser();
    await signIn(browser, (await start(web, { scope: 'openid' })).url, { username: 'bob' });
    const s2 = await start(web, { prompt: 'none', scope: 'openid email' });
    const cb2 = redirectOf(await browser.fetch(s2.url.href), 302);
    assert.equal(cb2.searchParams.get('error'), 'consent_required');
  });

  it('prompt=login and max_age=0 show the login page despite the session', async () => {
    const browser = new Browser();
    await signIn(browser, (await start(web)).url);
    for (const extra of [{ prompt: 'login' }, { max_age: '0' }] as Array<Record<string, string>>) {
      const res = await browser.fetch((await start(web, extra)).url.href);
      assert.equal(res.status, 200, JSON.stringify(extra));
      assert.match(await res.text(), /autocomplete="current-password"/);
    }
    // signing in again satisfies prompt=login: consent is remembered, so straight to the code
    const s = await start(web, { prompt: 'login' });
    const cb = await signIn(browser, s.url, { consent: false });
    assert.ok(cb.searchParams.get('code'));
  });

  it('login_hint prefills the username; a wrong password does not say whether the user exists', async () => {
    const browser = new Browser();
    const s = await start(web, { login_hint: 'alice"><b>' });
    const page = await browser.fetch(s.url.href);
    const html = await page.text();
    assert.match(html, /value="alice&quot;&gt;&lt;b&gt;"/);
    const form = parseForm(html);
    const wrong = await browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', 'nope']] });
    const unknown = await browser.fetch(form.action, { form: [...form.fields, ['username', 'nobody'], ['password', 'nope']] });
    assert.equal(wrong.status, 200);
    assert.equal(unknown.status, 200);
    assertPageHeaders(wrong, ['https://app.example']);
    const a = (await wrong.text()).match(/role="alert">([^<]*)</)![1];
    const b = (await unknown.text()).match(/role="alert">([^<]*)</)![1];
    assert.equal(a, 'Incorrect username or password.');
    assert.equal(a, b);
    assert.equal(browser.cookies.get('drawbridge_sso'), undefined);
  });

  it('response_mode=form_post answers with a self-submitting form allowed by the CSP', async () => {
    const browser = new Browser();
    await signIn(browser, (await start(web)).url);
    const s = await start(web, { response_mode: 'form_post' });
    const res = await browser.fetch(s.url.href);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'nonce-([A-Za-z0-9_-]+)'/);
    assert.ok(csp.includes("form-action 'self' https://app.example;"));
    const html = await res.text();
    const nonce = /script-src 'nonce-([A-Za-z0-9_-]+)'/.exec(csp)![1];
    assert.ok(html.includes(`<script nonce="${nonce}">`));
    assert.match(html, /<noscript>/);
    const form = parseForm(html);
    assert.equal(form.action, WEB_CB);
    const fields = new Map(form.fields);
    assert.equal(fields.get('state'), s.state);
    assert.equal(fields.get('iss'), server.issuer);
    assert.equal(fields.get('code')!.length, 43);
  });

  describe('open redirects: an untrusted client or redirect URI gets an error page, never a Location', () => {
    const cases: Array<[string, Record<string, string>]> = [
      ['unknown redirect_uri', { redirect_uri: 'https://evil.example/cb' }],
      ['prefix variant', { redirect_uri: `${WEB_CB}/evil` }],
      ['suffix variant', { redirect_uri: `${WEB_CB}.evil.example` }],
      ['query added', { redirect_uri: `${WEB_CB}?next=https://evil.example` }],
      ['case changed', { redirect_uri: 'https://APP.example/cb' }],
      ['unknown client', { client_id: 'nope' }],
      ['client without the code grant', { client_id: 'rs' }],
    ];
    for (const [name, override] of cases) {
      it(name, async () => {
        const s = await start(web);
        for (const [k, v] of Object.entries(override)) s.url.searchParams.set(k, v);
        const res = await new Browser().fetch(s.url.href);
        assert.equal(res.status, 400);
        assert.equal(res.headers.get('location'), null);
        assertPageHeaders(res);
        assert.match(await res.text(), /Sign-in request refused/);
      });
    }

    it('several redirect URIs registered and none given → error page', async () => {
      const s = await start(other);
      s.url.searchParams.delete('redirect_uri');
      const res = await new Browser().fetch(s.url.href);
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('location'), null);
    });
  });

  describe('PKCE', () => {
    it('a missing challenge or the plain method is refused at the redirect URI', async () => {
      for (const [mutate, why] of [
        [(u: URL) => { u.searchParams.delete('code_challenge'); u.searchParams.delete('code_challenge_method'); }, 'no challenge'],
        [(u: URL) => u.searchParams.set('code_challenge_method', 'plain'), 'plain'],
        [(u: URL) => u.searchParams.delete('code_challenge_method'), 'no method (plain by default)'],
      ] as Array<[(u: URL) => void, string]>) {
        const s = await start(web);
        mutate(s.url);
        const cb = redirectOf(await new Browser().fetch(s.url.href), 302);
        assert.equal(cb.searchParams.get('error'), 'invalid_request', why);
        assert.equal(cb.searchParams.get('state'), s.state);
        assert.equal(cb.searchParams.get('iss'), server.issuer);
      }
    });

    it('no verifier or a wrong verifier → invalid_grant; the code is then spent', async () => {
      const browser = new Browser();
      for (const verifier of [undefined, client.randomPKCECodeVerifier()]) {
        const s = await start(web);
        const cb = browser.cookies.has('drawbridge_sso') ? redirectOf(await browser.fetch(s.url.href), 302) : await signIn(browser, s.url);
        const form: Record<string, string> = { grant_type: 'authorization_code', client_id: 'web', code: cb.searchParams.get('code')!, redirect_uri: WEB_CB };
        if (verifier !== undefined) form.code_verifier = verifier;
        const res = await postForm(`${server.issuer}/oauth2/token`, form);
        assert.equal(res.status, 400);
        assert.equal(res.headers.get('cache-control'), 'no-store');
        assert.equal(((await res.json()) as { error: string }).error, 'invalid_grant');
        const retry = await postForm(`${server.issuer}/oauth2/token`, { ...form, code_verifier: s.verifier });
        assert.equal(retry.status, 400);
        assert.equal(((await retry.json()) as { error: string }).error, 'invalid_grant');
      }
    });
  });

  it('code replay → invalid_grant, and the first access token becomes inactive', async () => {
    const browser = new Browser();
    const s = await start(web);
    const cb = await signIn(browser, s.url);
    const form = { grant_type: 'authorization_code', client_id: 'web', code: cb.searchParams.get('code')!, redirect_uri: WEB_CB, code_verifier: s.verifier };
    const first = await postForm(`${server.issuer}/oauth2/token`, form);
    assert.equal(first.status, 200);
    const { access_token } = (await first.json()) as { access_token: string };
    const introspect = async () =>
      (await (await postForm(`${server.issuer}/oauth2/introspect`, { token: access_token }, { authorization: basic('rs', RS_SECRET) })).json()) as {
        active: boolean;
      };
    assert.equal((await introspect()).active, true);
    const again = await postForm(`${server.issuer}/oauth2/token`, form);
    assert.equal(again.status, 400);
    assert.deepEqual(await again.json(), { error: 'invalid_grant', error_description: 'the authorization code was already used' });
    assert.equal((await introspect()).active, false);
    const info = await fetch(`${server.issuer}/oauth2/userinfo`, { headers: { authorization: `Bearer ${access_token}` } });
    assert.equal(info.status, 401);
    assert.equal(info.headers.get('www-authenticate'), 'Bearer realm="drawbridge", error="invalid_token", error_description="the access token is invalid or expired"');
  });

  it('a code is bound to its client and redirect URI', async () => {
    const browser = new Browser();
    const s = await start(web);
    const cb = await signIn(browser, s.url);
    const code = cb.searchParams.get('code')!;
    const wrongUri = await postForm(`${server.issuer}/oauth2/token`, {
      grant_type: 'authorization_code', client_id: 'web', code, redirect_uri: `${WEB_CB}x`, code_verifier: s.verifier,
    });
    assert.equal(wrongUri.status, 400);
    assert.equal(((await wrongUri.json()) as { error: string }).error, 'invalid_grant');

    const s2 = await start(web);
    const cb2 = redirectOf(await browser.fetch(s2.url.href), 302);
    const otherClient = await postForm(
      `${server.issuer}/oauth2/token`,
      { grant_type: 'authorization_code', code: cb2.searchParams.get('code')!, redirect_uri: WEB_CB, code_verifier: s2.verifier },
      { authorization: basic('other', OTHER_SECRET) },
    );
    assert.equal(otherClient.status, 400);
    assert.equal(((await otherClient.json()) as { error: string }).error, 'invalid_grant');
  });

  describe('CSRF', () => {
    it('login without or with a wrong token → 403 page, no session', async () => {
      for (const mutate of [(f: Array<[string, string]>) => withoutField(f, 'csrf_token'), (f: Array<[string, string]>) => withField(f, 'csrf_token', 'x'.repeat(43))]) {
        const browser = new Browser();
        const page = await browser.fetch((await start(web)).url.href);
        const form = parseForm(await page.text());
        const res = await browser.fetch(form.action, { form: [...mutate(form.fields), ['username', 'alice'], ['password', PASSWORD]] });
        assert.equal(res.status, 403);
        assert.equal(res.headers.get('location'), null);
        assertPageHeaders(res);
        assert.equal(browser.cookies.get('drawbridge_sso'), undefined);
      }
    });

    it('a token from another browser does not fit this one', async () => {
      const victim = new Browser();
      const attacker = new Browser();
      const url = (await start(web)).url.href;
      await victim.fetch(url);
      const form = parseForm(await (await attacker.fetch(url)).text());
      const res = await victim.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] });
      assert.equal(res.status, 403);
    });

    it('consent without or with a wrong token → 403 page, nothing remembered', async () => {
      const browser = new Browser();
      const page = await browser.fetch((await start(other, { scope: 'openid email' })).url.href);
      const login = parseForm(await page.text());
      const consentPage = await browser.fetch(login.action, { form: [...login.fields, ['username', 'carol'], ['password', PASSWORD]] });
      assert.equal(consentPage.status, 200);
      const form = parseForm(await consentPage.text());
      const fields = form.fields;
      for (const bad of [withoutField(fields, 'csrf_token'), withField(fields, 'csrf_token', 'forged')]) {
        const res = await browser.fetch(form.action, { form: [...bad, ['decision', 'allow']] });
        assert.equal(res.status, 403);
        assert.equal(res.headers.get('location'), null);
      }
      const carol = await server.running.storage!.users.getByUsername('carol');
      assert.deepEqual(await server.running.storage!.consents.get(carol!.id, 'other'), []);
    });
  });

  describe('session fixation', () => {
    it('a cookie planted before login is not the one after; a new login rotates the id', async () => {
      const browser = new Browser();
      const planted = 'A'.repeat(43);
      browser.cookies.set('drawbridge_sso', { value: planted, attributes: '' });
      await signIn(browser, (await start(web)).url);
      const first = browser.cookies.get('drawbridge_sso')!.value;
      assert.notEqual(first, planted);
      // prompt=login: a new session id, the old cookie no longer signs anyone in
      await signIn(browser, (await start(web, { prompt: 'login' })).url, { consent: false });
      const second = browser.cookies.get('drawbridge_sso')!.value;
      assert.notEqual(second, first);
      const stale = new Browser();
      stale.cookies.set('drawbridge_sso', { value: first, attributes: '' });
      const cb = redirectOf(await stale.fetch((await start(web, { prompt: 'none' })).url.href), 302);
      assert.equal(cb.searchParams.get('error'), 'login_required');
    });
  });

  describe('userinfo errors (RFC 6750)', () => {
    it('no token → 401 with a bare challenge; a bad token → invalid_token', async () => {
      const none = await fetch(`${server.issuer}/oauth2/userinfo`);
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="drawbridge"');
      // no error code in the body either (§3.1): the gateway's word for a missing credential
      assert.equal(((await none.json()) as { error: string }).error, 'unauthorized');
      const bad = await fetch(`${server.issuer}/oauth2/userinfo`, { method: 'POST', headers: { authorization: 'Bearer nope' } });
      assert.equal(bad.status, 401);
      assert.match(bad.headers.get('www-authenticate')!, /^Bearer realm="drawbridge", error="invalid_token"/);
      assert.equal(bad.headers.get('cache-control'), 'no-store');
    });

    it('a token without openid → 403 insufficient_scope', async () => {
      const cc = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: basic('rs', RS_SECRET) });
      const { access_token } = (await cc.json()) as { access_token: string };
      const res = await fetch(`${server.issuer}/oauth2/userinfo`, { headers: { authorization: `Bearer ${access_token}` } });
      assert.equal(res.status, 403);
      assert.match(res.headers.get('www-authenticate')!, /error="insufficient_scope"/);
    });
  });
});
