// Issue #5: the gateway as OpenID relying party, against our own auth server, with
// sessions in Redis. `oidc-login` sends browsers to the provider (code + PKCE S256 + state
// + nonce), the callback makes a server-side session, upstream receives the internal JWT
// (auth_method session, sid); `session` answers 401 without redirecting; the return URL
// stays on this origin; state mismatches are refused; logout ends everything and revokes
// the tokens; back-channel logout tokens end sessions (forged/replayed ones do not); many
// parallel requests after the access token expired cause exactly one refresh.
import * as assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { signJwt } from '../../src/crypto/jwt.js';
import { safeReturnPath } from '../../src/gateway/oidc/endpoints.js';
import { registryOf } from '../../src/gateway/oidc/settings.js';
import { sessionIdOf } from '../../src/sessions/cookie.js';
import { RedisSessionStore } from '../../src/sessions/redis-store.js';
import { sealTokens, sessionTokensKey, unsealTokens } from '../../src/sessions/tokens.js';
import type { GatewaySession } from '../../src/sessions/types.js';
import { basic } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { freePort, startStack, startUpstream, TEST_SECRET, type Stack, type Upstream } from '../helpers/gateway.js';
import { redisUrl } from '../helpers/services.js';
import { CLIENT_SECRET, HTML, locationOf, PASSWORD, pluginsWithStore, signInAtDrawbridge } from './oidc-support.js';

const url = await redisUrl();
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

describe('oidc-login and session against our auth server (Redis store)', { skip: url === undefined ? 'Redis not reachable' : undefined }, () => {
  let stack: Stack;
  let upstream: Upstream;
  let store: RedisSessionStore;
  let gw: string;
  let issuer: string;

  before(async () => {
    upstream = await startUpstream({ name: 'app' });
    const authPort = await freePort();
    const gwPort = await freePort();
    issuer = `http://127.0.0.1:${authPort}`;
    gw = `http://127.0.0.1:${gwPort}`;
    store = new RedisSessionStore({ redis: url!, prefix: `test:gws:${randomBytes(6).toString('hex')}:` });
    assert.ok(await store.ready(2000), 'the Redis session store is connected');
    const client = (id: string, extra: Record<string, unknown> = {}) => ({
      client_id: id,
      client_secret: CLIENT_SECRET,
      redirect_uris: [`${gw}/_drawbridge/callback`],
      grant_types: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
      consent: 'skip',
      ...extra,
    });
    const login = (clientId: string) => ({
      name: 'oidc-login',
      config: { issuer, client_id: clientId, client_secret: CLIENT_SECRET, scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'] },
    });
    stack = await startStack({
      top: { issuer },
      auth: {
        listen: `127.0.0.1:${authPort}`,
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD, claims: { name: 'Alice Liddell', email: 'alice@example.com', groups: ['admin'] } }],
        clients: [client('gateway', { backchannel_logout_uri: `${gw}/_drawbridge/backchannel-logout` }), client('gateway-short', { access_token_ttl: 2 })],
      },
      gateway: {
        listen: `127.0.0.1:${gwPort}`,
        sessions: { refresh_before: 0 },
        services: [
          { name: 'app', url: upstream.url, routes: [{ paths: ['/app', '/'] }], plugins: [login('gateway')] },
          { name: 'api', url: upstream.url, routes: [{ paths: ['/api'] }], plugins: [{ name: 'session' }] },
          { name: 'short', url: upstream.url, routes: [{ paths: ['/short'] }], plugins: [login('gateway-short')] },
        ],
      },
      plugins: pluginsWithStore(() => store),
    });
  });

  after(async () => {
    await stack?.close();
    await upstream?.close();
    await store?.close();
  });

  /** The whole login from a protected URL; returns the browser (with its session cookie) and the final response. */
  async function login(path = '/app/page?x=1', browser = new Browser()): Promise<{ browser: Browser; landed: Response; authorize: URL; returnedTo: string }> {
    const first = await browser.fetch(`${gw}${path}`, { headers: HTML });
    const authorize = locationOf(first, 302);
    const callback = await signInAtDrawbridge(browser, authorize.href);
    assert.equal(callback.origin + callback.pathname, `${gw}/_drawbridge/callback`);
    const back = await browser.fetch(callback.href);
    const target = locationOf(back, 303);
    const landed = await browser.fetch(target.href, { headers: HTML });
    return { browser, landed, authorize, returnedTo: back.headers.get('location')! };
  }

  function sessionCookie(browser: Browser): string {
    const cookie = browser.cookies.get('drawbridge_session');
    assert.ok(cookie, 'the session cookie');
    return cookie.value;
  }

  it('redirects a browser to the authorization endpoint with PKCE S256, state and nonce', async () => {
    const browser = new Browser();
    const res = await browser.fetch(`${gw}/app/page`, { headers: HTML });
    const location = locationOf(res, 302);
    assert.equal(location.origin + location.pathname, `${issuer}/oauth2/authorize`);
    const p = location.searchParams;
    assert.equal(p.get('response_type'), 'code');
    assert.equal(p.get('client_id'), 'gateway');
    assert.equal(p.get('redirect_uri'), `${gw}/_drawbridge/callback`);
    assert.equal(p.get('code_challenge_method'), 'S256');
    assert.match(p.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(p.get('state') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(p.get('nonce') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(p.get('scope')!.split(' '), ['openid', 'profile', 'email', 'groups', 'offline_access']);
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('drawbridge_login_'));
    assert.ok(setCookie, 'a login-state cookie');
    assert.match(setCookie, /Path=\/_drawbridge\/callback/);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Lax/);
    assert.match(setCookie, /Max-Age=600/);
    assert.ok(!setCookie.includes(p.get('code_challenge')!) && !setCookie.includes(p.get('nonce')!), 'the login state is sealed');
  });

  it('after login the original URL is reached and upstream gets an internal JWT (auth_method session, sid)', async () => {
    upstream.reset();
    const { browser, landed, returnedTo } = await login('/app/page?x=1');
    assert.equal(returnedTo, '/app/page?x=1', 'back to the URL the login started from');
    assert.equal(landed.status, 200);
    const seen = upstream.last();
    assert.equal(seen.url, '/page?x=1', 'upstream got it (strip_path)');
    assert.ok(!String(seen.headers.cookie ?? '').includes('drawbridge_session'), 'the session cookie does not reach upstream');
    const auth = String(seen.headers.authorization);
    assert.match(auth, /^Bearer /);
    const { payload, protectedHeader } = await jwtVerify(auth.slice(7), createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`)), { issuer, audience: 'app' });
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.auth_method, 'session');
    const cookie = sessionCookie(browser);
    assert.equal(payload.sid, sessionIdOf(cookie));
    const session = await store.get(sessionIdOf(cookie));
    assert.ok(session, 'the session is in the store');
    assert.equal(payload.sub, session.sub);
    assert.equal(payload.client_id, 'gateway');
    assert.equal(payload.preferred_username, 'alice');
    assert.equal(payload.email, 'alice@example.com');
    assert.deepEqual(payload.groups, ['admin']);
    assert.ok(session.idp_sid, 'the provider session id (ID token sid) is kept');
    const cookieLine = browser.cookies.get('drawbridge_session')!.attributes;
    assert.match(cookieLine, /HttpOnly/);
    assert.match(cookieLine, /SameSite=Lax/);
    assert.ok(![...browser.cookies.keys()].some((k) => k.startsWith('drawbridge_login_')), 'the login-state cookie is cleared');
  });

  it('API-style requests get 401 instead of a redirect; `session` never redirects', async () => {
    const anonymous = new Browser();
    for (const headers of [{ accept: 'application/json' }, { ...HTML, 'x-requested-with': 'XMLHttpRequest' }]) {
      const res = await anonymous.fetch(`${gw}/app/data`, { headers });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.match(res.headers.get('www-authenticate') ?? '', /^Cookie realm="drawbridge", cookie-name="drawbridge_session"/);
      assert.equal(((await res.json()) as { error: string }).error, 'unauthorized');
    }
    const post = await anonymous.fetch(`${gw}/app/data`, { method: 'POST', headers: HTML });
    assert.equal(post.status, 401, 'non-GET never redirects');
    const api = await anonymous.fetch(`${gw}/api/x`, { headers: HTML });
    assert.equal(api.status, 401, '`session` alone answers 401 even to a browser');

    const { browser } = await login('/app/a');
    const json = await browser.fetch(`${gw}/app/data`, { headers: { accept: 'application/json' } });
    assert.equal(json.status, 200, 'with the session, API-style requests pass');
    const viaSession = await browser.fetch(`${gw}/api/x`, { headers: { accept: 'application/json' } });
    assert.equal(viaSession.status, 200, '`session` accepts the cookie');
    // a cookie for a session that does not exist: skipped (401) and cleared
    const stale = new Browser();
    stale.cookies.set('drawbridge_session', { value: randomBytes(32).toString('base64url'), attributes: '' });
    const res = await stale.fetch(`${gw}/api/x`);
    assert.equal(res.status, 401);
    assert.ok(res.headers.getSetCookie().some((c) => /^drawbridge_session=;.*Max-Age=0/.test(c)), 'the stale cookie is cleared');
  });

  it('return URLs stay on this origin (no open redirect)', async () => {
    for (const [input, expected] of [
      ['/app/x?y=1', '/app/x?y=1'],
      ['//evil.example/x', '/'],
      ['/\\evil.example', '/'],
      ['https://evil.example/', '/'],
      ['/app/\u0000x', '/'],
      ['', '/'],
    ] as const) {
      assert.equal(safeReturnPath(input), expected, JSON.stringify(input));
    }
    // end to end: a login started at //evil.example/x lands on /
    const browser = new Browser();
    const first = await browser.fetch(`${gw}//evil.example/x`, { headers: HTML });
    const authorize = locationOf(first, 302);
    const callback = await signInAtDrawbridge(browser, authorize.href);
    const back = await browser.fetch(callback.href);
    assert.equal(back.status, 303);
    assert.equal(back.headers.get('location'), '/');
  });

  it('refuses a callback whose state does not match the login-state cookie', async () => {
    const browser = new Browser();
    const authorize = locationOf(await browser.fetch(`${gw}/app/page`, { headers: HTML }), 302);
    const callback = await signInAtDrawbridge(browser, authorize.href);
    const forged = new URL(callback);
    forged.searchParams.set('state', randomBytes(32).toString('base64url'));
    const res = await browser.fetch(forged.href, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_request');
    // the right state from another browser (no login-state cookie): refused too
    const other = await new Browser().fetch(callback.href, { headers: HTML });
    assert.equal(other.status, 400);
    assert.match(await other.text(), /state mismatch/);
    assert.equal(browser.cookies.has('drawbridge_session'), false, 'no session was made');
    // the provider's error is shown, never followed
    const state = authorize.searchParams.get('state')!;
    const denied = await browser.fetch(`${gw}/_drawbridge/callback?error=access_denied&error_description=%3Cscript%3E&state=${state}`, { headers: HTML });
    assert.equal(denied.status, 403);
    const page = await denied.text();
    assert.ok(!page.includes('<script>'), 'escaped');
  });

  it('logout deletes the session, clears the cookie, revokes the tokens and redirects', async () => {
    const { browser } = await login('/app/bye');
    const id = sessionIdOf(sessionCookie(browser));
    const session = await store.get(id);
    const tokens = unsealTokens(sessionTokensKey(TEST_SECRET), id, session!.tokens);
    assert.ok(tokens.refresh_token, 'offline_access gave a refresh token');
    const res = await browser.fetch(`${gw}/_drawbridge/logout`);
    assert.equal(res.status, 303);
    const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    const location = new URL(res.headers.get('location')!, gw);
    if (typeof meta.end_session_endpoint === 'string') {
      assert.equal(location.origin + location.pathname, meta.end_session_endpoint);
      assert.equal(location.searchParams.get('id_token_hint'), tokens.id_token);
    } else {
      assert.equal(location.href, `${gw}/`);
    }
    assert.ok(res.headers.getSetCookie().some((c) => /^drawbridge_session=;.*Max-Age=0/.test(c)));
    assert.equal(await store.get(id), undefined);
    assert.equal((await browser.fetch(`${gw}/api/x`)).status, 401);
    // revoked at the auth server: the refresh token no longer works
    const refresh = await fetch(`${issuer}/oauth2/token`, {
      method: 'POST',
      headers: { authorization: basic('gateway', CLIENT_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    assert.equal(refresh.status, 400);
    assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant');
  });

  it('a logout another site started (cross-site GET) only asks; the page POSTs from this origin', async () => {
    const { browser } = await login('/app/stay');
    const id = sessionIdOf(sessionCookie(browser));
    const res = await browser.fetch(`${gw}/_drawbridge/logout`, { headers: { 'sec-fetch-site': 'cross-site', accept: 'text/html' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /form-action 'self'/);
    const page = await res.text();
    assert.match(page, /<form method="post" action="\/_drawbridge\/logout">/);
    assert.ok((await store.get(id)) !== undefined, 'the session is still there');
    assert.equal((await browser.fetch(`${gw}/api/x`, { headers: { accept: 'application/json' } })).status, 200);
    // the form's POST (same-origin) signs out
    const posted = await browser.fetch(`${gw}/_drawbridge/logout`, { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(posted.status, 303);
    assert.equal(await store.get(id), undefined);
  });

  function logoutToken(claims: Record<string, unknown>, key = stack.running.keyring.current, typ = 'logout+jwt'): string {
    const now = Math.floor(Date.now() / 1000);
    return signJwt(key, { iss: issuer, aud: 'gateway', iat: now, exp: now + 120, jti: randomUUID(), events: { [BACKCHANNEL_EVENT]: {} }, ...claims }, typ);
  }

  async function postLogout(token: string): Promise<Response> {
    return fetch(`${gw}/_drawbridge/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: token }),
    });
  }

  it('a valid back-channel logout token ends the session (by sid, then by sub); replays are refused', async () => {
    const { browser } = await login('/app/bc');
    const id = sessionIdOf(sessionCookie(browser));
    const session = (await store.get(id))!;
    const token = logoutToken({ sid: session.idp_sid });
    const res = await postLogout(token);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(await store.get(id), undefined);
    assert.equal((await browser.fetch(`${gw}/api/x`)).status, 401);
    const replay = await postLogout(token);
    assert.equal(replay.status, 400);
    assert.equal(((await replay.json()) as { error: string }).error, 'invalid_request');

    const second = await login('/app/bc2');
    const id2 = sessionIdOf(sessionCookie(second.browser));
    const sub = (await store.get(id2))!.sub;
    assert.equal((await postLogout(logoutToken({ sub }))).status, 200);
    assert.equal(await store.get(id2), undefined, 'ended by sub');
  });

  it('a logout at the auth server reaches the gateway as a real back-channel logout token', async (t) => {
    const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    if (meta.backchannel_logout_supported !== true) {
      t.skip('the auth server does not send back-channel logout tokens');
      return;
    }
    const { browser } = await login('/app/at-the-as');
    const id = sessionIdOf(sessionCookie(browser));
    assert.ok(await store.get(id));
    // sign out at the auth server itself (its confirmation page), not through the gateway
    const page = await browser.fetch(`${issuer}/oauth2/logout`);
    assert.equal(page.status, 200);
    const form = parseForm(await page.text());
    const done = await browser.fetch(form.action, { form: [...form.fields, ['action', 'logout']] });
    assert.ok(done.status < 400, String(done.status));
    for (let i = 0; i < 60 && (await store.get(id)) !== undefined; i++) await sleep(50);
    assert.equal(await store.get(id), undefined, 'the auth server\'s logout token ended the gateway session');
  });

  it('forged or malformed logout tokens are refused with 400 and end nothing', async () => {
    const { browser } = await login('/app/forged');
    const id = sessionIdOf(sessionCookie(browser));
    const session = (await store.get(id))!;
    const sid = session.idp_sid;
    const real = stack.running.keyring.current;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const impostor = { ...real, alg: 'ES256' as const, privateKey, publicKey };
    const bad: Array<[string, string]> = [
      ['signed by another key', logoutToken({ sid }, impostor)],
      ['wrong audience', logoutToken({ sid, aud: 'someone-else' })],
      ['other issuer', logoutToken({ sid, iss: 'https://evil.example' })],
      ['nonce present', logoutToken({ sid, nonce: 'n' })],
      ['no event', logoutToken({ sid, events: {} })],
      ['neither sub nor sid', logoutToken({})],
      ['no jti', logoutToken({ sid, jti: undefined })],
      ['expired', logoutToken({ sid, iat: 1000, exp: 2000 })],
      ['wrong typ', logoutToken({ sid }, real, 'JWT+at')],
      ['not a JWT', 'garbage'],
    ];
    for (const [why, token] of bad) {
      const res = await postLogout(token);
      assert.equal(res.status, 400, why);
    }
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: issuer, aud: 'gateway', sid })).toString('base64url')}.`;
    assert.equal((await postLogout(unsigned)).status, 400, 'alg none');
    assert.equal((await fetch(`${gw}/_drawbridge/backchannel-logout`, { method: 'POST' })).status, 400, 'no form');
    assert.equal((await fetch(`${gw}/_drawbridge/backchannel-logout`)).status, 405, 'GET');
    assert.ok(await store.get(id), 'the session survived every forgery');
  });

  it('20 parallel requests after the access token expired: exactly one refresh, all pass, nobody logged out', async () => {
    const { browser, landed } = await login('/short/start');
    assert.equal(landed.status, 200);
    const rp = registryOf(stack.gateway.deps.events).find(issuer, 'gateway-short')!;
    const id = sessionIdOf(sessionCookie(browser));
    const before = (await store.get(id))!;
    await sleep(2200); // the access token (ttl 2 s) has expired
    const refreshesBefore = rp.refreshes;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => browser.fetch(`${gw}/short/p${i}`, { headers: { accept: 'application/json' } })));
    assert.deepEqual(answers.map((r) => r.status), Array(20).fill(200));
    assert.equal(rp.refreshes - refreshesBefore, 1, 'one refresh-token grant for 20 requests');
    const afterRefresh = (await store.get(id))!;
    assert.ok(afterRefresh.access_expires_at > before.access_expires_at, 'new access token stored');
    assert.notEqual(afterRefresh.tokens, before.tokens);
    assert.equal((await browser.fetch(`${gw}/short/again`, { headers: { accept: 'application/json' } })).status, 200, 'still signed in');
  });

  it('a refresh refused with invalid_grant ends the session', async () => {
    const { browser } = await login('/short/revoked');
    const id = sessionIdOf(sessionCookie(browser));
    const session = (await store.get(id))!;
    const tokens = unsealTokens(sessionTokensKey(TEST_SECRET), id, session.tokens);
    const revoked = await fetch(`${issuer}/oauth2/revoke`, {
      method: 'POST',
      headers: { authorization: basic('gateway-short', CLIENT_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.refresh_token!, token_type_hint: 'refresh_token' }),
    });
    assert.equal(revoked.status, 200);
    await sleep(2200);
    const res = await browser.fetch(`${gw}/short/after`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 401);
    assert.equal(await store.get(id), undefined, 'the session ended');
  });

  it('an idle session ends (and its cookie is cleared); sessions of another issuer do not sign in to oidc-login', async () => {
    const now = Math.floor(Date.now() / 1000);
    const make = async (over: Partial<GatewaySession>): Promise<string> => {
      const value = randomBytes(32).toString('base64url');
      const id = sessionIdOf(value);
      const tokens = sealTokens(sessionTokensKey(TEST_SECRET), id, { access_token: 'at', expires_at: now + 3600 });
      await store.insert({
        id, sub: 'u1', issuer, client_id: 'gateway', idp_sid: null, claims: {}, scope: ['openid'], tokens,
        access_expires_at: now + 3600, created_at: now - 100, last_seen_at: now - 100, expires_at: now + 3600, ...over,
      });
      return value;
    };
    const idle = await make({ created_at: now - 4000, last_seen_at: now - 1900 }); // idle_timeout 30m
    const b1 = new Browser();
    b1.cookies.set('drawbridge_session', { value: idle, attributes: '' });
    const res = await b1.fetch(`${gw}/api/idle`);
    assert.equal(res.status, 401);
    assert.ok(res.headers.getSetCookie().some((c) => /^drawbridge_session=;.*Max-Age=0/.test(c)));
    assert.equal(await store.get(sessionIdOf(idle)), undefined, 'deleted');

    const active = await make({});
    const b2 = new Browser();
    b2.cookies.set('drawbridge_session', { value: active, attributes: '' });
    assert.equal((await b2.fetch(`${gw}/api/active`)).status, 200, 'a live hand-made session passes');
    const foreign = await make({ issuer: 'https://other-idp.example' });
    const b3 = new Browser();
    b3.cookies.set('drawbridge_session', { value: foreign, attributes: '' });
    assert.equal((await b3.fetch(`${gw}/api/foreign`)).status, 200, '`session` accepts any gateway session');
    assert.equal((await b3.fetch(`${gw}/app/foreign`, { headers: HTML })).status, 302, 'oidc-login wants its own provider');
  });
});
