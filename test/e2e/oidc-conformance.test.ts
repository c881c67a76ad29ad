// OpenID Connect / OAuth 2.0 conformance, checked the way the OpenID Foundation's conformance
// suite (Basic OP and Config OP plans) and a strict client would: discovery is truthful (every
// advertised value works), authorization responses carry iss (RFC 9207) and state, errors go
// to the redirect URI only when the client and redirect URI are trusted, ID tokens have the
// claims OIDC Core §2 / §3.1.3.7 require, and the token, userinfo, revocation, introspection
// and end-session endpoints answer per their RFCs. Real clients: oauth4webapi (strict claim
// and response checks), jose (signatures against the published JWKS) and a cookie-jar browser
// for the server-rendered pages.
import * as assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import { atHash } from '../helpers/oidc-rp.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://rp.example/cb';
const LOGGED_OUT = 'https://rp.example/logged-out';
const SPA_CB = 'https://spa.example/cb';
const CB_WITH_QUERY = 'https://tenant.example/cb?tenant=a';
// RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic; these need it
const CONF_ID = 'conf:rp';
const CONF_SECRET = 'conf secret+/%&=:~!0123456789abcdef';
const POST_SECRET = 'post-secret-0123456789abcdef-0123';
const RS_SECRET = 'rs-secret-0123456789abcdef-0123456';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

const USERS = [
  { username: 'alice', password: PASSWORD, claims: { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true, groups: ['admin'] } },
  { username: 'bob', password: PASSWORD, claims: { name: 'Bob', email: 'bob@example.com' } },
];

// private_key_jwt client keys (RFC 7523): one made here, its public half registered inline
const pkjKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pkjPublic = { ...pkjKeys.publicKey.export({ format: 'jwk' }), kid: 'pkj-1', alg: 'ES256', use: 'sig' };

const CLIENTS = [
  {
    client_id: CONF_ID, client_secret: CONF_SECRET, client_name: 'Conformance RP', redirect_uris: [CB],
    grant_types: ['authorization_code', 'refresh_token'], scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
    post_logout_redirect_uris: [LOGGED_OUT],
  },
  {
    client_id: 'post', client_secret: POST_SECRET, token_endpoint_auth_method: 'client_secret_post', redirect_uris: [CB],
    grant_types: ['authorization_code', 'client_credentials'], scopes: ['openid', 'email'], consent: 'skip',
  },
  { client_id: 'public', redirect_uris: [CB], scopes: ['openid', 'profile'], consent: 'skip' },
  { client_id: 'tenant', redirect_uris: [CB_WITH_QUERY], scopes: ['openid'], consent: 'skip' },
  { client_id: 'spa', redirect_uris: [SPA_CB], grant_types: ['implicit'], scopes: ['openid', 'email'], consent: 'skip' },
  { client_id: 'pkj', jwks: { keys: [pkjPublic] }, grant_types: ['client_credentials'], scopes: ['api'] },
  { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['api'] },
];

/** An RFC 6749 §5.2 error: status, JSON body, never cached. */
async function assertOAuthError(res: Response, status: number, error: string): Promise<Record<string, unknown>> {
  assert.equal(res.status, status, `expected ${status} ${error}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('pragma'), 'no-cache');
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(body.error, error);
  return body;
}

/** An error page: HTML, no redirect anywhere. */
async function assertErrorPage(res: Response): Promise<void> {
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('location'), null, 'never a redirect');
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
  await res.text();
}

describe('OIDC / OAuth conformance (Basic OP, Config OP)', () => {
  let server: TestServer;
  let issuer: string;
  let as: oauth.AuthorizationServer;
  let jwks: ReturnType<typeof jose.createRemoteJWKSet>;
  const conf: oauth.Client = { client_id: CONF_ID };
  const confAuth = oauth.ClientSecretBasic(CONF_SECRET);
  // the real time, a few seconds ahead once advanced (well inside clients' 30 s clock tolerance)
  let skew = 0;
  const clock = { now: () => Math.floor(Date.now() / 1000) + skew, advance: (s: number) => void (skew += s) };

  before(async () => {
    server = await startAuth({ brute_force: { enabled: false }, users: USERS, clients: CLIENTS }, {}, { clock });
    issuer = server.issuer;
    as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), insecure));
    jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri!));
  });

  after(() => server.close());

  function authorizeUrl(params: Record<string, string>): string {
    const u = new URL(as.authorization_endpoint!);
    for (const [k, v] of Object.entries(params)) u.searchParams.append(k, v);
    return u.href;
  }

  interface CodeRequest {
    url: string;
    verifier: string;
    state: string;
    nonce: string;
  }

  async function codeRequest(extra: Record<string, string> = {}, clientId = CONF_ID): Promise<CodeRequest> {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = authorizeUrl({
      client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid profile email',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce, ...extra,
    });
    return { url, verifier, state, nonce };
  }

  /** Submits the login form on `page`; allows consent when asked. Returns the final answer. */
  async function login(browser: Browser, page: Response, username = 'alice'): Promise<Response> {
    assert.equal(page.status, 200, 'the login page');
    const html = await page.text();
    assert.match(html, /current-password/, 'the login page');
    const form = parseForm(html);
    const after = await browser.fetch(form.action, { form: [...form.fields, ['username', username], ['password', PASSWORD]] });
    if (after.status !== 200) return after;
    const consentHtml = await after.text();
    if (!/Allow access\?/.test(consentHtml)) return new Response(consentHtml, { status: 200, headers: after.headers });
    const consent = parseForm(consentHtml);
    return browser.fetch(consent.action, { form: [...consent.fields, ['decision', 'allow']] });
  }

  function location(res: Response): URL {
    assert.ok(res.status === 302 || res.status === 303, `a redirect, got ${res.status}`);
    return new URL(res.headers.get('location')!);
  }

  /** A signed-in browser (consent given for openid profile email) and its first code flow's tokens. */
  async function signedIn(username = 'alice', extra: Record<string, string> = {}): Promise<{ browser: Browser; tokens: oauth.TokenEndpointResponse; req: CodeRequest }> {
    const browser = new Browser();
    const req = await codeRequest(extra);
    const back = location(await login(browser, await browser.fetch(req.url), username));
    const tokens = await redeem(back, req);
    return { browser, tokens, req };
  }

  async function redeem(back: URL, req: CodeRequest, opts: { maxAge?: number } = {}): Promise<oauth.TokenEndpointResponse> {
    const params = oauth.validateAuthResponse(as, conf, back, req.state);
    const res = await oauth.authorizationCodeGrantRequest(as, conf, confAuth, params, CB, req.verifier, insecure);
    return oauth.processAuthorizationCodeResponse(as, conf, res, { expectedNonce: req.nonce, requireIdToken: true, ...(opts.maxAge !== undefined ? { maxAge: opts.maxAge } : {}) });
  }

  describe('discovery (OIDC Discovery 1.0 §3, RFC 8414)', () => {
    it('both well-known documents: the same, with every required member, issuer exact, no empty arrays', async () => {
      const oidc = await fetch(`${issuer}/.well-known/openid-configuration`);
      const rfc8414 = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
      assert.equal(oidc.status, 200);
      assert.equal(rfc8414.status, 200);
      assert.match(oidc.headers.get('content-type') ?? '', /^application\/json/);
      const doc = (await oidc.json()) as Record<string, unknown>;
      assert.deepEqual(await rfc8414.json(), doc);
      // RFC 8414 metadata checked by oauth4webapi too (issuer must equal the URL's)
      await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }));
      assert.equal(doc.issuer, issuer);
      for (const required of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri', 'response_types_supported', 'subject_types_supported', 'id_token_signing_alg_values_supported']) {
        assert.ok(doc[required] !== undefined, `${required} is present`);
      }
      for (const recommended of ['userinfo_endpoint', 'scopes_supported', 'claims_supported']) assert.ok(doc[recommended] !== undefined, `${recommended} is present`);
      // RFC 8414 §3.2: claims with zero elements are omitted
      for (const [k, v] of Object.entries(doc)) if (Array.isArray(v)) assert.ok(v.length > 0, `${k} is not empty`);
      assert.ok((doc.scopes_supported as string[]).includes('openid'), 'OIDC Discovery §3: scopes_supported includes openid');
      assert.equal(doc.authorization_response_iss_parameter_supported, true);
      assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
      assert.deepEqual(doc.subject_types_supported, ['public']);
    });

    it('JWKS: public signing keys only, each with kid, alg and use=sig', async () => {
      const res = await fetch(as.jwks_uri!);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      // readable by browser RPs, like the discovery document
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      assert.equal((await fetch(`${issuer}/.well-known/openid-configuration`)).headers.get('access-control-allow-origin'), '*');
      const { keys } = (await res.json()) as { keys: Array<Record<string, unknown>> };
      assert.ok(keys.length > 0);
      for (const k of keys) {
        assert.equal(typeof k.kid, 'string');
        assert.equal(typeof k.kty, 'string');
        assert.equal(k.use, 'sig');
        assert.equal(typeof k.alg, 'string');
        for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(k[secret], undefined, `no private member ${secret}`);
      }
      assert.equal(new Set(keys.map((k) => k.kid)).size, keys.length, 'kids are unique');
    });

    it('id_token_signing_alg_values_supported names the alg ID tokens are really signed with', async () => {
      const { tokens } = await signedIn();
      const header = jose.decodeProtectedHeader(tokens.id_token!);
      assert.deepEqual(as.id_token_signing_alg_values_supported, [header.alg]);
      const published = ((await (await fetch(as.jwks_uri!)).json()) as { keys: Array<{ kid: string; alg: string }> }).keys;
      assert.ok(published.some((k) => k.kid === header.kid && k.alg === header.alg), 'the signing key is published with its alg');
    });

    it('every advertised grant type is recognised by the token endpoint (implicit: at the authorization endpoint)', async () => {
      for (const grant of as.grant_types_supported!) {
        if (grant === 'implicit') continue;
        const res = await postForm(as.token_endpoint!, { grant_type: grant }, { authorization: basic('rs', RS_SECRET) });
        const body = (await res.json()) as { error?: string };
        assert.notEqual(body.error, 'unsupported_grant_type', grant);
      }
      await assertOAuthError(await postForm(as.token_endpoint!, { grant_type: 'urn:example:nope' }, { authorization: basic('rs', RS_SECRET) }), 400, 'unsupported_grant_type');
    });

    it('every advertised token endpoint auth method works: client_secret_basic, client_secret_post, private_key_jwt, none', async () => {
      assert.deepEqual([...as.token_endpoint_auth_methods_supported!].sort(), ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt']);
      // client_secret_basic (with a form-encoded id and secret) and client_secret_post
      const viaBasic = await postForm(as.token_endpoint!, { grant_type: 'client_credentials', scope: 'api' }, { authorization: basic('rs', RS_SECRET) });
      assert.equal(viaBasic.status, 200);
      const viaPost = await postForm(as.token_endpoint!, { grant_type: 'client_credentials', client_id: 'post', client_secret: POST_SECRET });
      assert.equal(viaPost.status, 200);
      // private_key_jwt through oauth4webapi
      const key = await jose.importJWK({ ...pkjKeys.privateKey.export({ format: 'jwk' }), alg: 'ES256' }, 'ES256');
      const pkj = await oauth.clientCredentialsGrantRequest(as, { client_id: 'pkj' }, oauth.PrivateKeyJwt({ key: key as oauth.CryptoKey, kid: 'pkj-1' }), new URLSearchParams({ scope: 'api' }), insecure);
      const ccTokens = await oauth.processClientCredentialsResponse(as, { client_id: 'pkj' }, pkj);
      assert.equal(ccTokens.token_type, 'bearer');
      // none: a public client redeems its code with PKCE alone
      const browser = new Browser();
      const req = await codeRequest({ scope: 'openid profile' }, 'public');
      const back = location(await login(browser, await browser.fetch(req.url)));
      const pub: oauth.Client = { client_id: 'public', token_endpoint_auth_method: 'none' };
      const res = await oauth.authorizationCodeGrantRequest(as, pub, oauth.None(), oauth.validateAuthResponse(as, pub, back, req.state), CB, req.verifier, insecure);
      const tokens = await oauth.processAuthorizationCodeResponse(as, pub, res, { expectedNonce: req.nonce, requireIdToken: true });
      assert.equal(oauth.getValidatedIdTokenClaims(tokens)!.aud, 'public');
    });

    it('every advertised response type and response mode works', async () => {
      assert.deepEqual([...as.response_types_supported!].sort(), ['code', 'id_token', 'id_token token', 'token']);
      assert.deepEqual([...as.response_modes_supported!].sort(), ['form_post', 'fragment', 'query']);
      const { browser } = await signedIn();
      // code in the query (default), in the fragment, and posted
      const q = await codeRequest();
      assert.ok(location(await browser.fetch(q.url)).searchParams.get('code'));
      const f = await codeRequest({ response_mode: 'fragment' });
      const fragment = new URLSearchParams(location(await browser.fetch(f.url)).hash.slice(1));
      assert.ok(fragment.get('code'));
      assert.equal(fragment.get('iss'), issuer);
      assert.equal(fragment.get('state'), f.state);
      const p = await codeRequest({ response_mode: 'form_post' });
      const posted = await browser.fetch(p.url);
      assert.equal(posted.status, 200);
      const form = parseForm(await posted.text());
      assert.equal(form.action, CB);
      const fields = new URLSearchParams(form.fields);
      assert.ok(fields.get('code'));
      assert.equal(fields.get('state'), p.state);
      assert.equal(fields.get('iss'), issuer);
      // the code from form_post redeems like any other (oauth4webapi checks iss and state)
      await redeem(new URL(`${CB}?${fields}`), p);
      // the implicit types, for the client that lists implicit (same browser: SSO session)
      for (const responseType of ['id_token', 'id_token token', 'token']) {
        const nonce = oauth.generateRandomNonce();
        const answer = location(await browser.fetch(authorizeUrl({ client_id: 'spa', redirect_uri: SPA_CB, response_type: responseType, scope: 'openid email', state: 's', nonce })));
        const got = new URLSearchParams(answer.hash.slice(1));
        assert.equal(got.get('iss'), issuer, responseType);
        assert.equal(got.get('state'), 's');
        assert.equal(got.has('id_token'), responseType.includes('id_token'), responseType);
        assert.equal(got.has('access_token'), responseType.includes('token') && responseType !== 'id_token', responseType);
        if (got.has('id_token')) {
          const { payload, protectedHeader } = await jose.jwtVerify(got.get('id_token')!, jwks, { issuer, audience: 'spa' });
          assert.equal(payload.nonce, nonce);
          if (got.has('access_token')) assert.equal(payload.at_hash, atHash(protectedHeader.alg, got.get('access_token')!));
        }
      }
    });

    it('every advertised prompt value is honoured (select_account: the user chooses the account again)', async () => {
      assert.deepEqual([...(as.prompt_values_supported as string[])].sort(), ['consent', 'login', 'none', 'select_account']);
      const { browser } = await signedIn('bob');
      const req = await codeRequest({ prompt: 'select_account' });
      const page = await browser.fetch(req.url);
      assert.equal(page.status, 200, 'not a silent answer for the current session');
      // another account is chosen: alice's tokens, not bob's
      const back = location(await login(browser, page, 'alice'));
      const tokens = await redeem(back, req);
      const alice = await oauth.processUserInfoResponse(as, conf, oauth.skipSubjectCheck, await oauth.userInfoRequest(as, conf, tokens.access_token, insecure));
      assert.equal(alice.email, 'alice@example.com');
    });

    it('claims_supported covers every claim an ID token or userinfo answer carries; scopes_supported every scope that works', async () => {
      const { tokens } = await signedIn('alice', { scope: 'openid profile email groups' });
      const claims = jose.decodeJwt(tokens.id_token!);
      const info = await oauth.processUserInfoResponse(as, conf, claims.sub!, await oauth.userInfoRequest(as, conf, tokens.access_token, insecure));
      for (const name of [...Object.keys(claims), ...Object.keys(info)]) assert.ok(as.claims_supported!.includes(name), `${name} is in claims_supported`);
      for (const s of ['openid', 'profile', 'email', 'groups', 'offline_access', 'api']) assert.ok(as.scopes_supported!.includes(s), s);
      // and nothing we never send: one audience per ID token, so never azp
      assert.equal(as.claims_supported!.includes('azp'), false);
    });
  });

  describe('authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1.2.1, RFC 9207)', () => {
    it('prompt=none without a session → login_required at the redirect URI, with state and iss, in every response mode', async () => {
      for (const mode of ['query', 'fragment', 'form_post']) {
        const req = await codeRequest({ prompt: 'none', response_mode: mode });
        const res = await fetch(req.url, { redirect: 'manual' });
        let got: URLSearchParams;
        if (mode === 'form_post') {
          assert.equal(res.status, 200);
          const form = parseForm(await res.text());
          assert.equal(form.action, CB);
          got = new URLSearchParams(form.fields);
        } else {
          const url = location(res);
          got = mode === 'query' ? url.searchParams : new URLSearchParams(url.hash.slice(1));
        }
        assert.equal(got.get('error'), 'login_required', mode);
        assert.equal(got.get('state'), req.state, mode);
        assert.equal(got.get('iss'), issuer, mode);
        if (mode === 'query') assert.throws(() => oauth.validateAuthResponse(as, conf, new URL(`${CB}?${got}`), req.state), (e: unknown) => e instanceof oauth.AuthorizationResponseError && e.error === 'login_required');
      }
    });

    it('prompt=none with a session but no consent → consent_required; with consent → a code at once', async () => {
      const { browser } = await signedIn('bob');
      const more = await codeRequest({ prompt: 'none', scope: 'openid profile email groups' });
      const refused = location(await browser.fetch(more.url));
      assert.equal(refused.searchParams.get('error'), 'consent_required');
      assert.equal(refused.searchParams.get('state'), more.state);
      assert.equal(refused.searchParams.get('iss'), issuer);
      const same = await codeRequest({ prompt: 'none' });
      const ok = location(await browser.fetch(same.url));
      assert.ok(ok.searchParams.get('code'));
      await redeem(ok, same);
    });

    it('prompt=login and max_age=0 force a new login; auth_time moves forward and is present when max_age was asked', async () => {
      const { browser, tokens } = await signedIn();
      const first = oauth.getValidatedIdTokenClaims(tokens)!;
      assert.equal(typeof first.auth_time, 'number');
      for (const extra of [{ prompt: 'login' }, { max_age: '0' }] as Array<Record<string, string>>) {
        const req = await codeRequest(extra);
        const page = await browser.fetch(req.url);
        assert.equal(page.status, 200, `${JSON.stringify(extra)}: the login page again`);
        clock.advance(2); // auth_time has a one-second resolution: no sleeping, the server's clock moves
        const back = location(await login(browser, page));
        const again = await redeem(back, req, { maxAge: extra.max_age !== undefined ? 0 : 3600 });
        const claims = oauth.getValidatedIdTokenClaims(again)!;
        assert.ok((claims.auth_time as number) > (first.auth_time as number), 'a new authentication');
      }
      // max_age that the session satisfies: no login page, auth_time within it
      const fresh = await codeRequest({ max_age: '3600' });
      const back = location(await browser.fetch(fresh.url));
      const claims = oauth.getValidatedIdTokenClaims(await redeem(back, fresh, { maxAge: 3600 }))!;
      assert.ok(Math.floor(Date.now() / 1000) - (claims.auth_time as number) <= 3600);
    });

    it('id_token_hint (OIDC Core §3.1.2.1): the named user signed in → a code; another user → login_required or a login for the named one', async () => {
      const alice = await signedIn('alice');
      const hint = alice.tokens.id_token!;
      // the user it names is signed in: a positive answer, silently
      const same = await codeRequest({ prompt: 'none', id_token_hint: hint });
      await redeem(location(await alice.browser.fetch(same.url)), same);
      // bob is signed in: prompt=none cannot switch users
      const bob = await signedIn('bob');
      const silent = await codeRequest({ prompt: 'none', id_token_hint: hint });
      const refused = location(await bob.browser.fetch(silent.url));
      assert.equal(refused.searchParams.get('error'), 'login_required');
      assert.equal(refused.searchParams.get('state'), silent.state);
      assert.equal(refused.searchParams.get('iss'), issuer);
      // without prompt=none: the login page, for alice
      const asked = await codeRequest({ id_token_hint: hint });
      const page = await bob.browser.fetch(asked.url);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /value="alice"/, 'the hinted user\'s name filled in');
      const loginForm = parseForm(html);
      const asAlice = location(await bob.browser.fetch(loginForm.action, { form: [...loginForm.fields, ['username', 'alice'], ['password', PASSWORD]] }));
      const tokens = await redeem(asAlice, asked);
      assert.equal(oauth.getValidatedIdTokenClaims(tokens)!.sub, oauth.getValidatedIdTokenClaims(alice.tokens)!.sub);
      // signing in as someone else than the hint names is login_required
      const carol = new Browser();
      const other = await codeRequest({ id_token_hint: hint });
      const wrongUser = location(await login(carol, await carol.fetch(other.url), 'bob'));
      assert.equal(wrongUser.searchParams.get('error'), 'login_required');
      // not an ID token of ours: invalid_request, at once
      const forged = await codeRequest({ id_token_hint: `${hint.slice(0, -4)}AAAA` });
      const bad = location(await fetch(forged.url, { redirect: 'manual' }));
      assert.equal(bad.searchParams.get('error'), 'invalid_request');
      assert.equal(bad.searchParams.get('iss'), issuer);
    });

    it('an unsigned request → invalid_request_object on an error page (nothing in it to trust); request_uri → request_uri_not_supported at the redirect URI', async () => {
      // request objects are taken signed only (RFC 9101: test/auth/request-object.test.ts), never ignored
      const a = await codeRequest({ request: 'eyJhbGciOiJub25lIn0.e30.' });
      const ra = await fetch(a.url, { redirect: 'manual' });
      assert.equal(ra.status, 400);
      assert.equal(ra.headers.get('location'), null);
      assert.match(await ra.text(), /invalid_request_object/);
      const b = await codeRequest({ request_uri: 'https://rp.example/request.jwt' });
      const rb = location(await fetch(b.url, { redirect: 'manual' }));
      assert.equal(rb.searchParams.get('error'), 'request_uri_not_supported');
      assert.equal(rb.searchParams.get('iss'), issuer);
      assert.equal(as.request_parameter_supported, true);
      assert.equal(as.request_uri_parameter_supported, false);
    });

    it('an unsupported response_type → unsupported_response_type at the redirect URI; a missing one → invalid_request', async () => {
      const req = await codeRequest({ response_type: 'code id_token' });
      const url = new URL(req.url);
      url.searchParams.set('response_type', 'code id_token');
      const back = location(await fetch(url, { redirect: 'manual' }));
      // a hybrid type's default response mode is the fragment (Multiple Response Types §5): where the client looks
      assert.equal(back.search, '');
      const got = new URLSearchParams(back.hash.slice(1));
      assert.equal(got.get('error'), 'unsupported_response_type');
      assert.equal(got.get('iss'), issuer);
      assert.equal(got.get('state'), req.state);
      url.searchParams.delete('response_type');
      const missing = location(await fetch(url, { redirect: 'manual' }));
      assert.equal(missing.searchParams.get('error'), 'invalid_request');
      assert.equal(missing.searchParams.get('iss'), issuer);
    });

    it('missing or unknown client, or an unregistered redirect URI → an error page, never a redirect', async () => {
      const req = await codeRequest();
      const variants: Array<(u: URL) => void> = [
        (u) => u.searchParams.delete('client_id'),
        (u) => u.searchParams.set('client_id', 'nobody'),
        (u) => u.searchParams.set('client_id', 'rs'), // no redirect flow for it
        (u) => u.searchParams.set('redirect_uri', 'https://evil.example/cb'),
        (u) => u.searchParams.set('redirect_uri', `${CB}/`),
        (u) => u.searchParams.set('redirect_uri', CB.toUpperCase()),
        (u) => u.searchParams.append('redirect_uri', CB),
        (u) => u.searchParams.append('client_id', CONF_ID),
      ];
      for (const change of variants) {
        const u = new URL(req.url);
        change(u);
        await assertErrorPage(await fetch(u, { redirect: 'manual' }));
      }
    });

    it('repeated parameters → invalid_request at the redirect URI (RFC 6749 §3.1), whichever parameter it is', async () => {
      for (const name of ['response_type', 'scope', 'state', 'nonce', 'code_challenge', 'prompt', 'response_mode']) {
        const req = await codeRequest({ response_mode: 'query', prompt: 'login' });
        const u = new URL(req.url);
        u.searchParams.append(name, u.searchParams.get(name)!);
        const back = location(await fetch(u, { redirect: 'manual' }));
        assert.equal(back.origin + back.pathname, CB, name);
        assert.equal(back.searchParams.get('error'), 'invalid_request', name);
        assert.equal(back.searchParams.get('iss'), issuer, name);
      }
    });

    it('POST to the authorization endpoint works like GET (OIDC Core §3.1.2.1); a registered query in the redirect URI is kept', async () => {
      const { browser } = await signedIn();
      const req = await codeRequest();
      const form = [...new URL(req.url).searchParams] as Array<[string, string]>;
      const back = location(await browser.fetch(as.authorization_endpoint!, { form }));
      assert.ok(back.searchParams.get('code'));
      assert.equal(back.searchParams.get('iss'), issuer);
      await redeem(back, req);
      const q = await codeRequest({ redirect_uri: CB_WITH_QUERY, scope: 'openid' }, 'tenant');
      const answer = location(await browser.fetch(q.url));
      assert.equal(answer.searchParams.get('tenant'), 'a', 'the registered query stays');
      assert.ok(answer.searchParams.get('code'));
      assert.equal(answer.searchParams.get('state'), q.state);
    });

    it('state round-trips byte for byte; iss is on the success response', async () => {
      const { browser } = await signedIn();
      const odd = 'st ate+/=?&%é😀';
      const req = await codeRequest({ state: odd });
      const back = location(await browser.fetch(req.url));
      assert.equal(back.searchParams.get('state'), odd);
      assert.equal(back.searchParams.get('iss'), issuer);
      // no state sent: none returned
      const u = new URL((await codeRequest()).url);
      u.searchParams.delete('state');
      const none = location(await browser.fetch(u.href));
      assert.equal(none.searchParams.has('state'), false);
      assert.ok(none.searchParams.get('code'));
    });
  });

  describe('ID token (OIDC Core §2, §3.1.3.7)', () => {
    it('iss, sub, aud, exp, iat, auth_time, nonce, at_hash; signed with a published key; no azp needed for one audience', async () => {
      const { tokens, req } = await signedIn();
      const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token!, jwks, { issuer, audience: CONF_ID, typ: 'JWT' });
      assert.equal(payload.sub !== undefined && payload.sub.length > 0 && payload.sub.length <= 255, true);
      assert.equal(payload.aud, CONF_ID);
      assert.equal(payload.nonce, req.nonce);
      assert.equal(typeof payload.iat, 'number');
      assert.ok(payload.exp! > payload.iat!);
      assert.equal(typeof payload.auth_time, 'number');
      assert.equal(payload.at_hash, atHash(protectedHeader.alg, tokens.access_token));
      assert.ok(payload.azp === undefined || payload.azp === CONF_ID);
      assert.equal(payload.c_hash, undefined, 'no hybrid flow, no c_hash');
      // token response (RFC 6749 §5.1)
      assert.equal(tokens.token_type, 'bearer');
      assert.equal(typeof tokens.expires_in, 'number');
    });

    it('refreshed ID token (OIDC Core §12.2): same iss, sub, aud and auth_time, a new iat, no nonce', async () => {
      const { tokens } = await signedIn('alice', { scope: 'openid email offline_access', prompt: 'consent' });
      const first = oauth.getValidatedIdTokenClaims(tokens)!;
      assert.ok(tokens.refresh_token);
      clock.advance(2);
      const res = await oauth.refreshTokenGrantRequest(as, conf, confAuth, tokens.refresh_token, insecure);
      const refreshed = await oauth.processRefreshTokenResponse(as, conf, res);
      const { payload } = await jose.jwtVerify(refreshed.id_token!, jwks, { issuer, audience: CONF_ID, currentDate: new Date(clock.now() * 1000) });
      assert.equal(payload.sub, first.sub);
      assert.equal(payload.aud, first.aud);
      assert.equal(payload.auth_time, first.auth_time);
      assert.ok(payload.iat! > first.iat);
      assert.equal(payload.nonce, undefined);
    });

    it('no nonce sent → none in the ID token', async () => {
      const { browser } = await signedIn();
      const req = await codeRequest();
      const u = new URL(req.url);
      u.searchParams.delete('nonce');
      const back = location(await browser.fetch(u.href));
      const res = await oauth.authorizationCodeGrantRequest(as, conf, confAuth, oauth.validateAuthResponse(as, conf, back, req.state), CB, req.verifier, insecure);
      const tokens = await oauth.processAuthorizationCodeResponse(as, conf, res, { requireIdToken: true });
      assert.equal(oauth.getValidatedIdTokenClaims(tokens)!.nonce, undefined);
    });
  });

  describe('token endpoint (RFC 6749 §5, §2.3.1)', () => {
    it('errors: JSON, no-store; unsupported_grant_type; a missing grant_type is invalid_request', async () => {
      await assertOAuthError(await postForm(as.token_endpoint!, { grant_type: 'password2' }, { authorization: basic(CONF_ID, CONF_SECRET) }), 400, 'unsupported_grant_type');
      await assertOAuthError(await postForm(as.token_endpoint!, {}, { authorization: basic(CONF_ID, CONF_SECRET) }), 400, 'invalid_request');
      await assertOAuthError(await postForm(as.token_endpoint!, { grant_type: 'authorization_code', code: 'nope', redirect_uri: CB, code_verifier: 'x'.repeat(43) }, { authorization: basic(CONF_ID, CONF_SECRET) }), 400, 'invalid_grant');
    });

    it('invalid_client: 401 with a Basic WWW-Authenticate challenge when the client used HTTP Basic (and when it sent nothing)', async () => {
      const wrong = await postForm(as.token_endpoint!, { grant_type: 'client_credentials' }, { authorization: basic('rs', 'wrong-secret') });
      await assertOAuthError(wrong, 401, 'invalid_client');
      assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]+"/);
      const nothing = await postForm(as.token_endpoint!, { grant_type: 'client_credentials' });
      await assertOAuthError(nothing, 401, 'invalid_client');
      const viaPost = await postForm(as.token_endpoint!, { grant_type: 'client_credentials', client_id: 'post', client_secret: 'wrong' });
      await assertOAuthError(viaPost, 401, 'invalid_client');
    });

    it('client_secret_basic credentials are form-urlencoded inside Basic (RFC 6749 §2.3.1); raw ones are refused', async () => {
      // oauth4webapi encodes per §2.3.1
      const req = await codeRequest();
      const browser = new Browser();
      const back = location(await login(browser, await browser.fetch(req.url)));
      await redeem(back, req);
      // the same credentials Base64-encoded without the form encoding do not authenticate: the
      // raw `%&` cannot be form-decoded, a failed client authentication (RFC 6749 §2.3.1, §5.2;
      // as test/auth/errors.test.ts pins): 401 invalid_client with the Basic challenge
      const raw = `Basic ${Buffer.from(`${CONF_ID}:${CONF_SECRET}`).toString('base64')}`;
      const undecodable = await postForm(as.token_endpoint!, { grant_type: 'refresh_token', refresh_token: 'x' }, { authorization: raw });
      await assertOAuthError(undecodable, 401, 'invalid_client');
      assert.match(undecodable.headers.get('www-authenticate') ?? '', /^Basic /);
      // decodable but unencoded (`+` meant literally): a wrong secret, 401 with the Basic challenge
      const plus = `Basic ${Buffer.from(`rs:${RS_SECRET.replace(/-/g, '+')}`).toString('base64')}`;
      const res = await postForm(as.token_endpoint!, { grant_type: 'client_credentials' }, { authorization: plus });
      await assertOAuthError(res, 401, 'invalid_client');
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /);
    });

    it('each client authenticates only by its registered method (client_secret_post vs basic)', async () => {
      await assertOAuthError(await postForm(as.token_endpoint!, { grant_type: 'client_credentials' }, { authorization: basic('post', POST_SECRET) }), 401, 'invalid_client');
      await assertOAuthError(await postForm(as.token_endpoint!, { grant_type: 'client_credentials', client_id: 'rs', client_secret: RS_SECRET }), 401, 'invalid_client');
      // both at once is invalid_request (RFC 6749 §2.3: one method per request)
      await assertOAuthError(
        await postForm(as.token_endpoint!, { grant_type: 'client_credentials', client_id: 'rs', client_secret: RS_SECRET }, { authorization: basic('rs', RS_SECRET) }),
        400,
        'invalid_request',
      );
    });
  });

  describe('userinfo (OIDC Core §5.3, RFC 6750)', () => {
    it('GET and POST with the Bearer header, and POST with access_token in the form body (RFC 6750 §2.2); sub = the ID token\'s', async () => {
      const { tokens } = await signedIn();
      const sub = oauth.getValidatedIdTokenClaims(tokens)!.sub;
      const viaGet = await oauth.processUserInfoResponse(as, conf, sub, await oauth.userInfoRequest(as, conf, tokens.access_token, insecure));
      assert.equal(viaGet.sub, sub);
      const viaPost = await fetch(as.userinfo_endpoint!, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(viaPost.status, 200);
      assert.equal(((await viaPost.json()) as { sub: string }).sub, sub);
      const viaBody = await postForm(as.userinfo_endpoint!, { access_token: tokens.access_token });
      assert.equal(viaBody.status, 200);
      assert.equal(viaBody.headers.get('cache-control'), 'no-store');
      assert.equal(((await viaBody.json()) as { sub: string }).sub, sub);
      // two methods at once is invalid_request (RFC 6750 §2)
      const both = await postForm(as.userinfo_endpoint!, { access_token: tokens.access_token }, { authorization: `Bearer ${tokens.access_token}` });
      assert.equal(both.status, 400);
      assert.equal(((await both.json()) as { error: string }).error, 'invalid_request');
      // a token in the query is not accepted (RFC 6750 §2.3 is a MAY we do not take): no credential
      const inQuery = await fetch(`${as.userinfo_endpoint}?access_token=${encodeURIComponent(tokens.access_token)}`);
      assert.equal(inQuery.status, 401);
    });

    it('errors per RFC 6750 §3: invalid_token in WWW-Authenticate; a bare challenge without credentials', async () => {
      const bad = await fetch(as.userinfo_endpoint!, { headers: { authorization: 'Bearer not-a-token' } });
      assert.equal(bad.status, 401);
      assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);
      const badBody = await postForm(as.userinfo_endpoint!, { access_token: 'not-a-token' });
      assert.equal(badBody.status, 401);
      assert.match(badBody.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);
      const none = await fetch(as.userinfo_endpoint!);
      assert.equal(none.status, 401);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm="[^"]+"$/);
    });

    it('claims limited by scope: openid alone gives sub only; email gives email and email_verified, not name', async () => {
      const { browser } = await signedIn();
      for (const [scope, expected] of [['openid', ['sub']], ['openid email', ['email', 'email_verified', 'sub']]] as const) {
        const req = await codeRequest({ scope });
        const tokens = await redeem(location(await browser.fetch(req.url)), req);
        const info = await oauth.processUserInfoResponse(as, conf, oauth.getValidatedIdTokenClaims(tokens)!.sub, await oauth.userInfoRequest(as, conf, tokens.access_token, insecure));
        assert.deepEqual(Object.keys(info).sort(), [...expected]);
      }
    });
  });

  describe('revocation (RFC 7009) and introspection (RFC 7662)', () => {
    it('revocation: unknown and garbage tokens → 200, with any token_type_hint (§2.1: only a hint); a revoked token is inactive', async () => {
      for (const token of ['never-issued-0123456789', '%%%garbage%%%', 'x'.repeat(3000)]) {
        const res = await oauth.revocationRequest(as, conf, confAuth, token, insecure);
        assert.equal(res.status, 200, token.slice(0, 20));
        await oauth.processRevocationResponse(res);
      }
      assert.equal((await postForm(as.revocation_endpoint!, { token: 'x', token_type_hint: 'id_token' }, { authorization: basic(CONF_ID, CONF_SECRET) })).status, 200);
      await assertOAuthError(await postForm(as.revocation_endpoint!, { token: 'x' }, { authorization: basic(CONF_ID, 'wrong') }), 401, 'invalid_client');
      const { tokens } = await signedIn();
      await oauth.processRevocationResponse(await oauth.revocationRequest(as, conf, confAuth, tokens.access_token, { additionalParameters: { token_type_hint: 'access_token' }, ...insecure }));
      const after = await oauth.processIntrospectionResponse(as, conf, await oauth.introspectionRequest(as, conf, confAuth, tokens.access_token, insecure));
      assert.deepEqual(after, { active: false });
    });

    it('a public client revokes its own token with its client_id alone (revocation_endpoint_auth_methods_supported: none)', async () => {
      assert.ok((as.revocation_endpoint_auth_methods_supported as string[]).includes('none'));
      const browser = new Browser();
      const req = await codeRequest({ scope: 'openid' }, 'public');
      const back = location(await login(browser, await browser.fetch(req.url)));
      const pub: oauth.Client = { client_id: 'public', token_endpoint_auth_method: 'none' };
      const res = await oauth.authorizationCodeGrantRequest(as, pub, oauth.None(), oauth.validateAuthResponse(as, pub, back, req.state), CB, req.verifier, insecure);
      const tokens = await oauth.processAuthorizationCodeResponse(as, pub, res, { expectedNonce: req.nonce, requireIdToken: true });
      await oauth.processRevocationResponse(await oauth.revocationRequest(as, pub, oauth.None(), tokens.access_token, insecure));
      const info = await fetch(as.userinfo_endpoint!, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(info.status, 401, 'revoked at once');
      assert.match(info.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    });

    it('introspection requires client authentication (public clients too are refused); inactive is only {"active": false}', async () => {
      await assertOAuthError(await postForm(as.introspection_endpoint!, { token: 'x' }), 401, 'invalid_client');
      await assertOAuthError(await postForm(as.introspection_endpoint!, { token: 'x', client_id: 'public' }), 401, 'invalid_client');
      const inactive = await postForm(as.introspection_endpoint!, { token: 'never-issued' }, { authorization: basic(CONF_ID, CONF_SECRET) });
      assert.equal(inactive.status, 200);
      assert.equal(inactive.headers.get('cache-control'), 'no-store');
      assert.deepEqual(await inactive.json(), { active: false });
      const { tokens } = await signedIn();
      const active = await oauth.processIntrospectionResponse(as, conf, await oauth.introspectionRequest(as, conf, confAuth, tokens.access_token, insecure));
      assert.equal(active.active, true);
      assert.equal(active.client_id, CONF_ID);
      assert.equal(active.iss, issuer);
    });
  });

  describe('RP-initiated logout (OIDC RP-Initiated Logout 1.0)', () => {
    it('id_token_hint + a registered post_logout_redirect_uri → signed out, redirected there with state', async () => {
      const { browser, tokens } = await signedIn();
      const end = new URL(as.end_session_endpoint as string);
      end.searchParams.set('id_token_hint', tokens.id_token!);
      end.searchParams.set('post_logout_redirect_uri', LOGGED_OUT);
      end.searchParams.set('state', 'bye 1');
      const back = location(await browser.fetch(end.href));
      assert.equal(back.origin + back.pathname, LOGGED_OUT);
      assert.equal(back.searchParams.get('state'), 'bye 1');
      // signed out: prompt=none now needs a login
      const req = await codeRequest({ prompt: 'none' });
      assert.equal(location(await browser.fetch(req.url)).searchParams.get('error'), 'login_required');
    });

    it('a post_logout_redirect_uri not registered exactly → an error page, never a redirect', async () => {
      const { browser, tokens } = await signedIn();
      for (const uri of [`${LOGGED_OUT}/`, 'https://evil.example/logged-out', `${LOGGED_OUT}?x=1`, CB]) {
        const end = new URL(as.end_session_endpoint as string);
        end.searchParams.set('id_token_hint', tokens.id_token!);
        end.searchParams.set('post_logout_redirect_uri', uri);
        await assertErrorPage(await browser.fetch(end.href));
      }
      // a tampered hint is refused outright, and the user stays signed in
      const tampered = new URL(as.end_session_endpoint as string);
      tampered.searchParams.set('id_token_hint', `${tokens.id_token!.slice(0, -4)}AAAA`);
      tampered.searchParams.set('post_logout_redirect_uri', LOGGED_OUT);
      await assertErrorPage(await browser.fetch(tampered.href));
      const still = await codeRequest({ prompt: 'none' });
      assert.ok(location(await browser.fetch(still.url)).searchParams.get('code'), 'still signed in');
      // client_id instead of the hint, with a registered URI: redirected after confirming
      const end = new URL(as.end_session_endpoint as string);
      end.searchParams.set('client_id', CONF_ID);
      end.searchParams.set('post_logout_redirect_uri', LOGGED_OUT);
      end.searchParams.set('state', 's2');
      const confirm = await browser.fetch(end.href);
      assert.equal(confirm.status, 200, 'a confirmation page (no hint for this session)');
      const form = parseForm(await confirm.text());
      const back = location(await browser.fetch(form.action, { form: [...form.fields, ['action', 'logout']] }));
      assert.equal(back.origin + back.pathname, LOGGED_OUT);
      assert.equal(back.searchParams.get('state'), 's2');
    });
  });
});

describe('OIDC conformance with RS256 keys (keys.algorithm: RS256)', () => {
  let server: TestServer;

  before(async () => {
    server = await startAuth({ brute_force: { enabled: false }, users: USERS, clients: CLIENTS }, { keys: { algorithm: 'RS256' } });
  });

  after(() => server.close());

  it('RS256 is advertised (OIDC Discovery §3: MUST be included) and ID tokens are signed with it', async () => {
    const doc = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
    assert.ok(doc.id_token_signing_alg_values_supported!.includes('RS256'));
    const browser = new Browser();
    const as = { issuer: server.issuer, token_endpoint: `${server.issuer}/oauth2/token`, jwks_uri: doc.jwks_uri as unknown as string };
    const verifier = oauth.generateRandomCodeVerifier();
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const q = { client_id: 'public', redirect_uri: CB, response_type: 'code', scope: 'openid', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 's', nonce: 'n' };
    for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
    const page = await browser.fetch(u.href);
    const form = parseForm(await page.text());
    const back = new URL((await browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] })).headers.get('location')!);
    const pub: oauth.Client = { client_id: 'public' };
    const res = await oauth.authorizationCodeGrantRequest(as, pub, oauth.None(), oauth.validateAuthResponse({ ...as, authorization_response_iss_parameter_supported: true }, pub, back, 's'), CB, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, pub, res, { expectedNonce: 'n', requireIdToken: true });
    const { protectedHeader, payload } = await jose.jwtVerify(tokens.id_token!, jose.createRemoteJWKSet(new URL(as.jwks_uri)), { issuer: server.issuer, audience: 'public', algorithms: ['RS256'] });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.at_hash, atHash('RS256', tokens.access_token));
  });
});
