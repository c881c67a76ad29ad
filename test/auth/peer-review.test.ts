// Deviations an independent black-box review of the authorization server found, each pinned
// over real HTTP against a started server: one describe per finding.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, signInIfAsked } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const SECRET = 'peer-review-client-secret-0123456789abcdef';
const CB = 'https://app.example/cb';
const BYE = 'https://app.example/bye';
const ORDERS_API = 'https://orders.example/api';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const VERIFIER = 'peer-review-code-verifier-0123456789abcdefghijklmn';
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

const CLIENTS = [
  {
    client_id: 'svc',
    client_secret: SECRET,
    grant_types: ['client_credentials', 'password', 'refresh_token', TOKEN_EXCHANGE],
    scopes: ['orders:read', 'orders:write'],
  },
  {
    client_id: 'web',
    client_secret: SECRET,
    redirect_uris: [CB],
    post_logout_redirect_uris: [BYE],
    grant_types: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'orders:read', 'orders:write'],
    consent: 'skip',
  },
  { client_id: 'app', client_secret: SECRET, grant_types: ['password'], scopes: ['openid', 'profile'] },
  // loopback redirect URIs: a native app (public) and a confidential client
  { client_id: 'native', redirect_uris: ['http://127.0.0.1/cb', 'http://[::1]/cb'], grant_types: ['authorization_code'], scopes: ['openid'] },
  { client_id: 'local-web', client_secret: SECRET, redirect_uris: ['http://127.0.0.1/cb', 'http://[::1]:8080/cb'], grant_types: ['authorization_code'], scopes: ['openid'] },
  // a resource server whose client_id is its resource indicator (it introspects what is meant for it)
  { client_id: ORDERS_API, client_secret: SECRET, grant_types: ['client_credentials'], scopes: [] },
];

const USERS = [{ username: 'alice', password: PASSWORD, claims: {} }];

describe('peer review', () => {
  let server: TestServer;
  let token: string;
  const auth = { authorization: basic('svc', SECRET) };
  const webAuth = { authorization: basic('web', SECRET) };

  before(async () => {
    server = await startAuth({ brute_force: { enabled: false }, clients: CLIENTS, users: USERS });
    token = `${server.issuer}/oauth2/token`;
  });

  after(() => server.close());

  async function json(res: Response): Promise<{ status: number; body: Record<string, unknown>; res: Response }> {
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, res };
  }

  async function expectOAuthError(res: Response, status: number, error: string): Promise<Record<string, unknown>> {
    const r = await json(res);
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.error, error, JSON.stringify(r.body));
    assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return r.body;
  }

  /** The authorization endpoint's redirect for these parameters (never followed). */
  async function authorizeRedirect(params: Record<string, string | string[]>, method: 'GET' | 'HEAD' = 'GET'): Promise<URL> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) q.append(k, one);
    const res = await fetch(`${server.issuer}/oauth2/authorize?${q}`, { method, redirect: 'manual' });
    assert.equal(res.status, 302, await res.text());
    return new URL(res.headers.get('location')!);
  }

  const codeRequest = { client_id: 'web', response_type: 'code', redirect_uri: CB, code_challenge: CHALLENGE, code_challenge_method: 'S256', state: 's1' };

  describe('resource must be an absolute URI (RFC 8707 §2, RFC 3986 §4.3)', () => {
    const BAD = [
      'https://x/a b',
      'https://x/a"b',
      'https://x/a\\b',
      'https://x/caf\u00e9',
      'https://x/a<b>',
      'https://x/a{b}',
      'https://x/a|b',
      'https://x/a^b',
      'https://x/a`b',
      'https://x/a%zzb',
      'https://x/a%2',
      'https://x/a\tb',
      'https://x/p[1]',
      'https://x/?q=[1]',
      '1https://x/',
      'ht tp://x/',
    ];
    const GOOD = ['https://api.example/orders', 'https://api.example/a%20b?x=1&y=%C3%A9', 'urn:example:orders', 'https://[::1]:8443/api'];

    it('client_credentials: refused with invalid_target; valid URIs still become aud', async () => {
      for (const resource of BAD) {
        await expectOAuthError(await postForm(token, { grant_type: 'client_credentials', resource }, auth), 400, 'invalid_target');
      }
      const ok = await json(await postForm(token, { grant_type: 'client_credentials', resource: GOOD }, auth));
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const seen = await json(await postForm(`${server.issuer}/oauth2/introspect`, { token: String(ok.body.access_token) }, auth));
      assert.deepEqual(seen.body.aud, GOOD);
    });

    it('fragments and relative references stay refused', async () => {
      for (const resource of ['https://x/a#f', '/orders', 'orders', '//x/a']) {
        await expectOAuthError(await postForm(token, { grant_type: 'client_credentials', resource }, auth), 400, 'invalid_target');
      }
    });

    it('password grant and token exchange: invalid_target', async () => {
      for (const resource of BAD) {
        await expectOAuthError(await postForm(token, { grant_type: 'password', username: 'alice', password: PASSWORD, resource }, auth), 400, 'invalid_target');
        const form = { grant_type: TOKEN_EXCHANGE, subject_token: 'whatever', subject_token_type: ACCESS_TOKEN_TYPE, resource };
        await expectOAuthError(await postForm(token, form, auth), 400, 'invalid_target');
      }
    });

    it('authorization endpoint: invalid_target at the redirect URI', async () => {
      for (const resource of BAD) {
        const back = await authorizeRedirect({ ...codeRequest, scope: 'openid', nonce: 'n', resource });
        assert.equal(back.searchParams.get('error'), 'invalid_target', resource);
        assert.equal(back.searchParams.get('state'), 's1');
      }
    });

    it('PAR endpoint: 400 invalid_target', async () => {
      for (const resource of BAD) {
        const form = { response_type: 'code', redirect_uri: CB, code_challenge: CHALLENGE, code_challenge_method: 'S256', scope: 'openid', nonce: 'n', resource };
        await expectOAuthError(await postForm(`${server.issuer}/oauth2/par`, form, webAuth), 400, 'invalid_target');
      }
    });
  });

  describe('scope grammar (RFC 6749 §3.3: scope-token *( SP scope-token ))', () => {
    // a single space, spaces around or between the tokens, a TAB: not the grammar
    const BAD = [' ', '   ', 'orders:read  ', ' orders:read', 'orders:read  orders:write', 'orders:read\torders:write', 'orders:read '];

    it('client_credentials and password: invalid_scope; an empty scope= is no scope (the defaults)', async () => {
      for (const scope of BAD) {
        await expectOAuthError(await postForm(token, { grant_type: 'client_credentials', scope }, auth), 400, 'invalid_scope');
        await expectOAuthError(await postForm(token, { grant_type: 'password', username: 'alice', password: PASSWORD, scope }, auth), 400, 'invalid_scope');
      }
      const empty = await json(await postForm(token, { grant_type: 'client_credentials', scope: '' }, auth));
      assert.equal(empty.status, 200, JSON.stringify(empty.body));
      assert.equal(empty.body.scope, 'orders:read orders:write');
      const two = await json(await postForm(token, { grant_type: 'client_credentials', scope: 'orders:write orders:read' }, auth));
      assert.equal(two.body.scope, 'orders:write orders:read');
    });

    it('refresh and token exchange: invalid_scope; an empty scope= keeps what they would give without one', async () => {
      const pw = await json(await postForm(token, { grant_type: 'password', username: 'alice', password: PASSWORD }, auth));
      assert.equal(pw.status, 200, JSON.stringify(pw.body));
      const refreshToken = String(pw.body.refresh_token);
      for (const scope of BAD) {
        await expectOAuthError(await postForm(token, { grant_type: 'refresh_token', refresh_token: refreshToken, scope }, auth), 400, 'invalid_scope');
        const form = { grant_type: TOKEN_EXCHANGE, subject_token: String(pw.body.access_token), subject_token_type: ACCESS_TOKEN_TYPE, scope };
        await expectOAuthError(await postForm(token, form, auth), 400, 'invalid_scope');
      }
      const exchanged = await json(await postForm(token, { grant_type: TOKEN_EXCHANGE, subject_token: String(pw.body.access_token), subject_token_type: ACCESS_TOKEN_TYPE, scope: '' }, auth));
      assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
      assert.equal(exchanged.body.scope, 'orders:read orders:write');
      // the refused refreshes did not use the token up
      const refreshed = await json(await postForm(token, { grant_type: 'refresh_token', refresh_token: refreshToken, scope: '' }, auth));
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.equal(refreshed.body.scope, 'orders:read orders:write');
    });

    it('authorization endpoint: invalid_scope at the redirect URI; PAR: 400 invalid_scope', async () => {
      for (const scope of BAD.map((s) => s.replace(/orders:read/g, 'openid'))) {
        const back = await authorizeRedirect({ ...codeRequest, nonce: 'n', scope });
        assert.equal(back.searchParams.get('error'), 'invalid_scope', JSON.stringify(scope));
        assert.equal(back.searchParams.get('state'), 's1');
        const form = { response_type: 'code', redirect_uri: CB, code_challenge: CHALLENGE, code_challenge_method: 'S256', nonce: 'n', scope };
        await expectOAuthError(await postForm(`${server.issuer}/oauth2/par`, form, webAuth), 400, 'invalid_scope');
      }
    });
  });

  describe('HEAD on every GET endpoint (RFC 9110 §9.3.2)', () => {
    /**
     * One request on a connection of its own (`Connection: close`), read off the socket: the
     * response head and every byte the server sent after its blank line until it closed. fetch
     * cannot tell: it never exposes a body for HEAD, whatever the server sends.
     */
    function rawExchange(url: string, method: string, headers: Record<string, string>): Promise<{ head: string; rest: Buffer }> {
      const { hostname, port, pathname, search, host } = new URL(url);
      const fields = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
      const request = `${method} ${pathname}${search} HTTP/1.1\r\nHost: ${host}\r\n${fields}Connection: close\r\n\r\n`;
      return new Promise((resolve, reject) => {
        const socket = connect(Number(port), hostname.replace(/^\[|\]$/g, ''));
        const chunks: Buffer[] = [];
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`${method} ${url}: the connection was not closed`));
        }, 5000);
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('error', reject);
        socket.on('close', () => {
          clearTimeout(timer);
          const all = Buffer.concat(chunks);
          const end = all.indexOf('\r\n\r\n');
          if (end === -1) reject(new Error(`${method} ${url}: no complete response head: ${JSON.stringify(all.toString('latin1'))}`));
          else resolve({ head: all.subarray(0, end).toString('latin1'), rest: all.subarray(end + 4) });
        });
        socket.on('connect', () => socket.write(request));
      });
    }

    /** HEAD beside GET: the same status and header fields, no body; returns both. */
    async function headLikeGet(url: string, headers: Record<string, string> = {}): Promise<{ get: Response; head: Response }> {
      const get = await fetch(url, { headers, redirect: 'manual' });
      const getBody = await get.arrayBuffer();
      const head = await fetch(url, { method: 'HEAD', headers, redirect: 'manual' });
      assert.equal(head.status, get.status, url);
      // no body: nothing after HEAD's response head, up to the server closing the connection
      const rawHead = await rawExchange(url, 'HEAD', headers);
      assert.match(rawHead.head, new RegExp(`^HTTP/1\\.1 ${get.status} `), url);
      assert.equal(rawHead.rest.length, 0, `HEAD ${url} sent ${rawHead.rest.length} body bytes: ${JSON.stringify(rawHead.rest.subarray(0, 120).toString('latin1'))}`);
      // the same reader does see GET's body, so it would see one sent after HEAD's head
      const rawGet = await rawExchange(url, 'GET', headers);
      assert.match(rawGet.head, new RegExp(`^HTTP/1\\.1 ${get.status} `), url);
      assert.equal(rawGet.rest.length > 0, getBody.byteLength > 0, `GET ${url}: ${rawGet.rest.length} bytes after the head, fetch read ${getBody.byteLength}`);
      for (const name of ['content-type', 'cache-control', 'www-authenticate', 'location']) assert.equal(head.headers.get(name), get.headers.get(name), `${name} of ${url}`);
      if (get.headers.get('content-length') !== null) assert.equal(head.headers.get('content-length'), String(getBody.byteLength));
      return { get, head };
    }

    it('discovery, JWKS, healthz and userinfo: as GET, without the body', async () => {
      await headLikeGet(`${server.issuer}/.well-known/openid-configuration`);
      await headLikeGet(`${server.issuer}/.well-known/jwks.json`);
      await headLikeGet(`${server.issuer}/healthz`);
      // userinfo: no token, a bad one, a good one
      assert.equal((await headLikeGet(`${server.issuer}/oauth2/userinfo`)).head.status, 401);
      assert.equal((await headLikeGet(`${server.issuer}/oauth2/userinfo`, { authorization: 'Bearer nope' })).head.status, 401);
      const pw = await json(await postForm(token, { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'openid' }, { authorization: basic('app', SECRET) }));
      const { head } = await headLikeGet(`${server.issuer}/oauth2/userinfo`, { authorization: `Bearer ${String(pw.body.access_token)}` });
      assert.equal(head.status, 200);
      assert.match(head.headers.get('content-type')!, /^application\/json/);
    });

    it('authorization endpoint: an error page, an error redirect and the login page as GET answers them', async () => {
      const url = (p: Record<string, string>) => `${server.issuer}/oauth2/authorize?${new URLSearchParams(p)}`;
      assert.equal((await headLikeGet(url({ ...codeRequest, client_id: 'nobody', scope: 'openid', nonce: 'n' }))).head.status, 400);
      const bad = await headLikeGet(url({ ...codeRequest, scope: 'nope', nonce: 'n' }));
      assert.equal(bad.head.status, 302);
      assert.equal(new URL(bad.head.headers.get('location')!).searchParams.get('error'), 'invalid_scope');
      const login = await headLikeGet(url({ ...codeRequest, scope: 'openid', nonce: 'n' }));
      assert.equal(login.head.status, 200);
      assert.match(login.head.headers.get('content-type')!, /^text\/html/);
      // prompt=none without a session: login_required at the redirect URI, as GET
      const none = await headLikeGet(url({ ...codeRequest, scope: 'openid', nonce: 'n', prompt: 'none' }));
      assert.equal(new URL(none.head.headers.get('location')!).searchParams.get('error'), 'login_required');
    });

    it('authorization endpoint: HEAD never uses up a pushed request_uri', async () => {
      const form = { response_type: 'code', redirect_uri: CB, code_challenge: CHALLENGE, code_challenge_method: 'S256', scope: 'openid', nonce: 'n', state: 'pushed' };
      const pushed = await json(await postForm(`${server.issuer}/oauth2/par`, form, webAuth));
      assert.equal(pushed.status, 201, JSON.stringify(pushed.body));
      const url = `${server.issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'web', request_uri: String(pushed.body.request_uri) })}`;
      for (let i = 0; i < 2; i++) {
        const head = await fetch(url, { method: 'HEAD', redirect: 'manual' });
        assert.equal(head.status, 200, 'the pushed request checked, and answered as the login page its flow shows');
        assert.equal(head.headers.get('location'), null, 'no request_uri of the flow handed out');
      }
      // the browser still gets in, once
      const first = await fetch(url, { redirect: 'manual' });
      assert.equal(first.status, 302);
      assert.ok(new URL(first.headers.get('location')!).searchParams.get('request_uri'));
      // used now: HEAD says so as GET does
      assert.equal((await fetch(url, { method: 'HEAD', redirect: 'manual' })).status, 400);
      assert.equal((await fetch(url, { redirect: 'manual' })).status, 400);
      // a pushed request that is bad: its error, as the flow's GET would give it
      const other = `${server.issuer}/oauth2/authorize?${new URLSearchParams({ client_id: 'svc', request_uri: String(pushed.body.request_uri) })}`;
      assert.equal((await fetch(other, { method: 'HEAD', redirect: 'manual' })).status, 400);
    });

    it('authorization and end-session endpoints: HEAD acts on no SSO session (no code, no sign-out, no cookie)', async () => {
      const browser = new Browser();
      const url = `${server.issuer}/oauth2/authorize?${new URLSearchParams({ ...codeRequest, scope: 'openid', nonce: 'n' })}`;
      const signedIn = await signInIfAsked(browser, await browser.fetch(url), 'alice', PASSWORD);
      assert.equal(signedIn.status, 303);
      const code = new URL(signedIn.headers.get('location')!).searchParams.get('code')!;
      const tokens = await json(await postForm(token, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: VERIFIER }, webAuth));
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      const cookies = browser.cookieHeader();

      // with the session GET issues a code at once; HEAD answers as for a browser without one
      const head = await fetch(url, { method: 'HEAD', headers: { cookie: cookies }, redirect: 'manual' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('location'), null);
      const silent = `${url}&prompt=none`;
      const headNone = await fetch(silent, { method: 'HEAD', headers: { cookie: cookies }, redirect: 'manual' });
      assert.equal(new URL(headNone.headers.get('location')!).searchParams.get('error'), 'login_required');
      assert.equal(new URL(headNone.headers.get('location')!).searchParams.get('code'), null);

      // end-session with the session's own ID token: GET would sign out at once; HEAD does not
      const logout = `${server.issuer}/oauth2/logout?${new URLSearchParams({ id_token_hint: String(tokens.body.id_token), post_logout_redirect_uri: BYE, state: 'bye' })}`;
      const headOut = await fetch(logout, { method: 'HEAD', headers: { cookie: cookies }, redirect: 'manual' });
      assert.equal(headOut.status, 302);
      assert.equal(headOut.headers.get('location'), `${BYE}?state=bye`);
      assert.deepEqual(headOut.headers.getSetCookie(), [], 'no cookie cleared');
      assert.equal((await fetch(`${server.issuer}/oauth2/logout?id_token_hint=x`, { method: 'HEAD' })).status, 400, 'a bad request: the error page');
      // the session is still there: GET gets a code without a login
      const still = await browser.fetch(silent);
      assert.equal(still.status, 302);
      assert.ok(new URL(still.headers.get('location')!).searchParams.get('code'), 'still signed in');
      // and GET signs out
      const out = await browser.fetch(logout);
      assert.equal(out.status, 302);
      const after = await browser.fetch(silent);
      assert.equal(new URL(after.headers.get('location')!).searchParams.get('error'), 'login_required');
    });

    it('405s list HEAD beside GET', async () => {
      for (const path of ['/oauth2/authorize', '/oauth2/logout', '/oauth2/userinfo']) {
        const res = await fetch(`${server.issuer}${path}`, { method: 'PUT' });
        assert.equal(res.status, 405);
        assert.match(res.headers.get('allow')!, /^GET, HEAD, POST\b/, path);
      }
    });
  });

  describe('introspection of a refresh token (RFC 7662 §2.2)', () => {
    /** alice's tokens from the code flow of `web`, with these resources named at authorization */
    async function codeFlowTokens(resource: string[]): Promise<Record<string, unknown>> {
      const browser = new Browser();
      const url = `${server.issuer}/oauth2/authorize?${new URLSearchParams([...Object.entries({ ...codeRequest, scope: 'openid orders:read', nonce: 'n' }), ...resource.map((r): [string, string] => ['resource', r])])}`;
      const back = await signInIfAsked(browser, await browser.fetch(url), 'alice', PASSWORD);
      assert.equal(back.status, 303, await back.text());
      const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
      const tokens = await json(await postForm(token, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: VERIFIER }, webAuth));
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      assert.equal(typeof tokens.body.refresh_token, 'string');
      return tokens.body;
    }

    async function introspect(value: unknown, as = webAuth): Promise<Record<string, unknown>> {
      return (await json(await postForm(`${server.issuer}/oauth2/introspect`, { token: String(value) }, as))).body;
    }

    it('has no aud: not an empty list, and not the resources its access tokens are bound to', async () => {
      for (const resource of [[], [ORDERS_API], [ORDERS_API, 'https://billing.example/']]) {
        const tokens = await codeFlowTokens(resource);
        const rt = await introspect(tokens.refresh_token);
        assert.equal(rt.active, true);
        assert.equal(rt.token_use, 'refresh_token');
        assert.ok(!('aud' in rt), JSON.stringify(rt));
        // the access token keeps its aud: the resources, or the issuer when none were named
        const at = await introspect(tokens.access_token);
        assert.deepEqual(at.aud, resource.length === 0 ? server.issuer : resource.length === 1 ? resource[0] : resource);
      }
    });

    it('a resource server named by the binding sees the access token, not the refresh token', async () => {
      const tokens = await codeFlowTokens([ORDERS_API]);
      const api = { authorization: basic(ORDERS_API, SECRET) };
      assert.equal((await introspect(tokens.access_token, api)).active, true);
      assert.deepEqual(await introspect(tokens.refresh_token, api), { active: false });
      // its own client still sees it
      assert.equal((await introspect(tokens.refresh_token)).active, true);
    });
  });

  describe('loopback redirect URIs on any port: native apps (public clients) only (RFC 8252 §7.3, RFC 9700 §4.1.3)', () => {
    const authorize = (clientId: string, redirectUri: string) =>
      fetch(`${server.issuer}/oauth2/authorize?${new URLSearchParams({ ...codeRequest, client_id: clientId, redirect_uri: redirectUri, scope: 'openid', nonce: 'n', prompt: 'none' })}`, { redirect: 'manual' });

    it('a public client: any port on a registered loopback IP URI', async () => {
      for (const uri of ['http://127.0.0.1/cb', 'http://127.0.0.1:51234/cb', 'http://[::1]:8123/cb', 'http://[::1]/cb']) {
        const res = await authorize('native', uri);
        assert.equal(res.status, 302, uri);
        assert.ok(res.headers.get('location')!.startsWith(`${uri}?`), uri);
      }
    });

    it('a confidential client: exactly as registered, port included (error page, no redirect)', async () => {
      for (const uri of ['http://127.0.0.1/cb', 'http://[::1]:8080/cb']) assert.equal((await authorize('local-web', uri)).status, 302, uri);
      for (const uri of ['http://127.0.0.1:51234/cb', 'http://127.0.0.1:80/cb', 'http://[::1]/cb', 'http://[::1]:8081/cb']) {
        const res = await authorize('local-web', uri);
        assert.equal(res.status, 400, uri);
        assert.equal(res.headers.get('location'), null);
      }
      // the PAR endpoint checks it the same way
      const form = { response_type: 'code', redirect_uri: 'http://127.0.0.1:51234/cb', code_challenge: CHALLENGE, code_challenge_method: 'S256', scope: 'openid', nonce: 'n' };
      await expectOAuthError(await postForm(`${server.issuer}/oauth2/par`, form, { authorization: basic('local-web', SECRET) }), 400, 'invalid_request');
    });
  });

  describe('introspection negotiates on Accept, and says so (RFC 9110 §12.5.5)', () => {
    it('Vary: Accept on the JSON and the JWT answer, active or not', async () => {
      const issuedToken = await json(await postForm(token, { grant_type: 'client_credentials' }, auth));
      for (const value of [String(issuedToken.body.access_token), 'not-a-token']) {
        for (const accept of [undefined, 'application/json', 'application/token-introspection+jwt']) {
          const res = await postForm(`${server.issuer}/oauth2/introspect`, { token: value }, { ...auth, ...(accept ? { accept } : {}) });
          assert.equal(res.status, 200);
          assert.equal(res.headers.get('vary'), 'Accept', `${accept}`);
          assert.equal(res.headers.get('cache-control'), 'no-store');
          await res.arrayBuffer();
        }
      }
    });
  });

  describe('Basic credentials that do not form-decode are a failed client authentication (RFC 6749 §2.3.1, §5.2)', () => {
    it('401 invalid_client with the Basic challenge at every endpoint that authenticates clients', async () => {
      for (const secret of ['%zz', '100%', 'a%0', '%00']) {
        const authorization = `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`;
        for (const [path, form] of [
          ['/oauth2/token', { grant_type: 'client_credentials' }],
          ['/oauth2/introspect', { token: 'x' }],
          ['/oauth2/revoke', { token: 'x' }],
          ['/oauth2/par', { response_type: 'code', redirect_uri: CB }],
        ] as const) {
          const res = await postForm(`${server.issuer}${path}`, form, { authorization });
          assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="drawbridge"/, `${path} ${secret}`);
          const body = await expectOAuthError(res, 401, 'invalid_client');
          assert.match(String(body.error_description), /Authorization header/);
        }
      }
    });
  });

  describe('Allow names OPTIONS where an endpoint answers it (RFC 9110 §10.2.1, §15.5.6, §9.3.7)', () => {
    const ALLOW: Record<string, string> = {
      // the endpoints browser apps call cross-origin answer CORS preflights (OPTIONS)
      '/oauth2/token': 'POST, OPTIONS',
      '/oauth2/par': 'POST, OPTIONS',
      '/oauth2/revoke': 'POST, OPTIONS',
      '/oauth2/userinfo': 'GET, HEAD, POST, OPTIONS',
      // the others do not
      '/oauth2/introspect': 'POST',
      '/oauth2/authorize': 'GET, HEAD, POST',
      '/oauth2/logout': 'GET, HEAD, POST',
      '/.well-known/jwks.json': 'GET, HEAD',
    };

    it('a 405 lists them (JSON, no-store)', async () => {
      for (const [path, allow] of Object.entries(ALLOW)) {
        const method = allow.includes('GET') ? 'DELETE' : 'GET';
        const res = await fetch(`${server.issuer}${path}`, { method });
        assert.equal(res.headers.get('allow'), allow, path);
        await expectOAuthError(res, 405, 'invalid_request');
      }
    });

    it('OPTIONS without Origin (no preflight): 204 with Allow where OPTIONS is served, else 405 with Allow', async () => {
      for (const [path, allow] of Object.entries(ALLOW)) {
        const res = await fetch(`${server.issuer}${path}`, { method: 'OPTIONS' });
        assert.equal(res.headers.get('allow'), allow, path);
        if (allow.includes('OPTIONS')) {
          assert.equal(res.status, 204, path);
          assert.equal((await res.arrayBuffer()).byteLength, 0);
          assert.equal(res.headers.get('content-length'), null, 'no Content-Length on a 204 (RFC 9110 §8.6)');
          assert.equal(res.headers.get('access-control-allow-origin'), null);
          // a body sent with it is not read past: the connection closes after the answer
          const url = new URL(`${server.issuer}${path}`);
          const text = await new Promise<string>((resolve, reject) => {
            const socket = connect(Number(url.port), url.hostname, () => {
              socket.write(`OPTIONS ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: 100000\r\n\r\nhello`);
            });
            let got = '';
            const timer = setTimeout(() => socket.destroy(new Error(`${path}: the connection stayed open: ${got}`)), 5000);
            socket.setEncoding('latin1');
            socket.on('data', (chunk: string) => (got += chunk));
            socket.on('close', () => (clearTimeout(timer), resolve(got)));
            socket.on('error', reject);
          });
          assert.match(text, /^HTTP\/1\.1 204 /, path);
          assert.match(text, /\r\nconnection: close\r\n/i, path);
        } else {
          await expectOAuthError(res, 405, 'invalid_request');
        }
      }
    });
  });
});
