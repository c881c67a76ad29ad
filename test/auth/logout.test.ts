// RP-initiated logout (OIDC RP-Initiated Logout 1.0) driven like a browser and an RP would:
// openid-client v6 builds the end-session URL, test/helpers/browser.ts follows it with its
// cookie jar. Sessions in Redis (`redis:` configured), so the `session.revoked` event is seen
// on the real bus; the SQL store is covered by backchannel-logout.test.ts and the CLI test.
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import * as jose from 'jose';
import * as client from 'openid-client';
import { fixedClock } from '../../src/core/clock.js';
import { postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm, withField, withoutField } from '../helpers/browser.js';
import { foundWithin } from '../helpers/poll.js';
import { redisUrl } from '../helpers/services.js';

const url = await redisUrl();
const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const BYE = 'https://app.example/logged-out';
const BYE_WITH_QUERY = 'http://127.0.0.1:4000/bye?x=1';

interface Tokens {
  access_token: string;
  refresh_token: string;
  id_token: string;
}

describe('RP-initiated logout', { skip: url === undefined ? 'Redis not reachable' : undefined }, () => {
  let server: TestServer;
  let config: client.Configuration;
  let sub: Redis;
  const events: Array<Record<string, unknown>> = [];
  const clock = fixedClock(Math.floor(Date.now() / 1000));

  before(async () => {
    server = await startAuth(
      {
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD, claims: {} }],
        clients: [
          {
            client_id: 'web', redirect_uris: [CB], scopes: ['openid'], consent: 'skip',
            post_logout_redirect_uris: [BYE, BYE_WITH_QUERY],
          },
          { client_id: 'other', redirect_uris: ['https://other.example/cb'], scopes: ['openid'], consent: 'skip', post_logout_redirect_uris: ['https://other.example/bye'] },
        ],
      },
      { redis: url },
      { clock },
    );
    config = await client.discovery(new URL(server.issuer), 'web', {}, client.None(), { execute: [client.allowInsecureRequests] });
    sub = new Redis(url!, { maxRetriesPerRequest: 1 });
    await sub.subscribe('drawbridge:events');
    sub.on('message', (_channel, message) => events.push(JSON.parse(message) as Record<string, unknown>));
  });

  after(async () => {
    await sub?.quit();
    await server?.close();
  });

  function authorizeUrl(extra: Record<string, string> = {}, clientId = 'web', redirectUri = CB): { url: string; verifier: string } {
    const verifier = randomBytes(32).toString('base64url');
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = {
      client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, state: 'st',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', ...extra,
    };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return { url: u.href, verifier };
  }

  /** Signs in (the login form when there is no session) and exchanges the code. */
  async function signIn(browser: Browser, clientId = 'web', redirectUri = CB): Promise<Tokens> {
    const { url: start, verifier } = authorizeUrl({}, clientId, redirectUri);
    let res = await browser.fetch(start);
    if (res.status === 200) {
      const form = parseForm(await res.text());
      res = await browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] });
    }
    assert.ok(res.status === 302 || res.status === 303, `status ${res.status}`);
    const code = new URL(res.headers.get('location')!).searchParams.get('code');
    assert.ok(code, res.headers.get('location')!);
    const token = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier });
    assert.equal(token.status, 200);
    return (await token.json()) as Tokens;
  }

  /** prompt=none succeeds only while the SSO session lives. */
  async function signedIn(browser: Browser): Promise<boolean> {
    const res = await browser.fetch(authorizeUrl({ prompt: 'none' }).url);
    assert.equal(res.status, 302);
    return new URL(res.headers.get('location')!).searchParams.has('code');
  }

  function refresh(token: string, clientId = 'web'): Promise<Response> {
    return postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: token, client_id: clientId });
  }

  function sidOf(idToken: string): string {
    return jose.decodeJwt(idToken).sid as string;
  }

  async function expectErrorPage(res: Response, pattern: RegExp): Promise<void> {
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('location'), null);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    const html = await res.text();
    assert.match(html, /Sign-out request refused/);
    assert.match(html, pattern);
  }

  function waitForEvent(pred: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    return foundWithin(2000, () => events.find(pred), () => `event not seen; got ${JSON.stringify(events)}`);
  }

  it('discovery: end_session_endpoint and back-channel logout support, no front-channel', async () => {
    const meta = config.serverMetadata();
    assert.equal(meta.end_session_endpoint, `${server.issuer}/oauth2/logout`);
    assert.equal(meta.backchannel_logout_supported, true);
    assert.equal(meta.backchannel_logout_session_supported, true);
    assert.notEqual(meta.frontchannel_logout_supported, true);
  });

  it('id_token_hint of this session: signed out at once, redirected with state; cookie, session, refresh token and event', async () => {
    const browser = new Browser();
    const tokens = await signIn(browser);
    const sid = sidOf(tokens.id_token);
    assert.equal(await signedIn(browser), true);
    // the session-bound refresh token works while the session (in Redis) lives
    const rotated = await refresh(tokens.refresh_token);
    assert.equal(rotated.status, 200);
    tokens.refresh_token = ((await rotated.json()) as Tokens).refresh_token;
    const end = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE, state: 'st-1' });
    const res = await browser.fetch(end.href);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `${BYE}?state=st-1`);
    assert.ok(res.headers.getSetCookie().some((c) => /^drawbridge_sso=;.*Max-Age=0/.test(c)), 'the SSO cookie is cleared');
    assert.equal(browser.cookies.has('drawbridge_sso'), false);
    // the session is gone on the server too (not only the cookie): its record in Redis
    const redis = server.running.auth!.ctx.ssoSessions!;
    assert.equal(await redis.get(sid), undefined);
    // the refresh token bound to the session is dead
    const r = await refresh(tokens.refresh_token);
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { error: string }).error, 'invalid_grant');
    // gateways hear of it
    await waitForEvent((e) => e.type === 'session.revoked' && e.sid === sid);
    // the next authorize asks for the password again
    const again = await browser.fetch(authorizeUrl().url);
    assert.equal(again.status, 200);
    assert.match(await again.text(), /name="password"/);
  });

  it('the access tokens of the session are revoked and announced (token.revoked by digest)', async () => {
    const browser = new Browser();
    const tokens = await signIn(browser);
    const digest = createHash('sha256').update(tokens.access_token).digest('base64url');
    const res = await browser.fetch(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token }).href);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /You have signed out/);
    await waitForEvent((e) => e.type === 'token.revoked' && e.digest === digest);
    const rec = await server.running.storage.tokens.findByDigest(digest);
    assert.notEqual(rec!.revoked_at, null);
  });

  it('a registered URI with a query keeps it and gets state appended', async () => {
    const browser = new Browser();
    const tokens = await signIn(browser);
    const res = await browser.fetch(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE_WITH_QUERY, state: 'a b' }).href);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), 'http://127.0.0.1:4000/bye?x=1&state=a+b');
  });

  for (const [name, near] of [
    ['a trailing slash', `${BYE}/`],
    ['another port', 'https://app.example:8443/logged-out'],
    ['an extra query', `${BYE}?next=/admin`],
    ['another case', 'https://APP.example/logged-out'],
    ['the registered one with its query dropped', 'http://127.0.0.1:4000/bye'],
    ["another client's", 'https://other.example/bye'],
  ] as const) {
    it(`post_logout_redirect_uri near miss (${name}): an error page, no redirect, still signed in`, async () => {
      const browser = new Browser();
      const tokens = await signIn(browser);
      const res = await browser.fetch(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: near, state: 's' }).href);
      await expectErrorPage(res, /post_logout_redirect_uri is not registered/);
      assert.equal(await signedIn(browser), true);
    });
  }

  it('id_token_hint from another issuer, tampered, or not an ID token: an error page', async () => {
    const browser = new Browser();
    const tokens = await signIn(browser);
    const { privateKey } = await jose.generateKeyPair('ES256');
    const foreign = await new jose.SignJWT({ sub: 'x', aud: 'web', sid: sidOf(tokens.id_token) })
      .setProtectedHeader({ alg: 'ES256', kid: jose.decodeProtectedHeader(tokens.id_token).kid! })
      .setIssuer('https://evil.example').setIssuedAt().setExpirationTime('5m').sign(privateKey);
    const [h, p, s] = tokens.id_token.split('.');
    const payload = { ...jose.decodeJwt(tokens.id_token), sub: 'someone-else' };
    const tampered = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    for (const hint of [foreign, tampered, tokens.access_token, 'not.a.jwt', `${h}.${p}.`]) {
      const res = await browser.fetch(client.buildEndSessionUrl(config, { id_token_hint: hint, post_logout_redirect_uri: BYE }).href);
      await expectErrorPage(res, /id_token_hint is not an ID token issued here/);
    }
    assert.equal(await signedIn(browser), true);
  });

  it('client_id that is not the hint\'s audience, unknown client_id, or a redirect URI without client: an error page', async () => {
    const browser = new Browser();
    const tokens = await signIn(browser);
    const end = `${server.issuer}/oauth2/logout`;
    await expectErrorPage(await browser.fetch(`${end}?id_token_hint=${tokens.id_token}&client_id=other`), /client_id does not match/);
    await expectErrorPage(await browser.fetch(`${end}?client_id=nope`), /client_id is invalid/);
    await expectErrorPage(await browser.fetch(`${end}?post_logout_redirect_uri=${encodeURIComponent(BYE)}`), /needs id_token_hint or client_id/);
    assert.equal(await signedIn(browser), true);
  });

  it('an expired id_token_hint is still accepted (the spec allows it)', async () => {
    const browser = new Browser();
    const tokens = await signIn(browser);
    clock.advance(11 * 60); // past the ID token's exp (access_token_ttl, 10 min), within the idle timeout
    const res = await browser.fetch(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE }).href);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), BYE);
    assert.equal(browser.cookies.has('drawbridge_sso'), false);
  });

  it('without a hint: a confirmation page; a POST without (or with a wrong) CSRF token is refused; confirming signs out', async () => {
    const browser = new Browser();
    await signIn(browser);
    const res = await browser.fetch(client.buildEndSessionUrl(config, { post_logout_redirect_uri: BYE, state: 'z' }).href);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<h1>Sign out of Drawbridge\?<\/h1>/);
    assert.match(html, /<button type="submit" name="action" value="logout">Sign out<\/button>/);
    assert.match(html, /<button type="submit" name="action" value="cancel" class="secondary">Stay signed in<\/button>/);
    assert.match(res.headers.get('content-security-policy')!, /form-action 'self' https:\/\/app\.example/);
    assert.equal(await signedIn(browser), true, 'a GET alone signs nobody out');
    const form = parseForm(html);
    assert.equal(form.action, `${server.issuer}/oauth2/logout`);
    assert.ok(form.fields.some(([k]) => k === 'csrf_token'));

    const forged = await browser.fetch(form.action, { form: [...withoutField(form.fields, 'csrf_token'), ['action', 'logout']] });
    assert.equal(forged.status, 403);
    const wrong = await browser.fetch(form.action, { form: [...withField(form.fields, 'csrf_token', 'x'.repeat(43)), ['action', 'logout']] });
    assert.equal(wrong.status, 403);
    assert.equal(await signedIn(browser), true);

    const ok = await browser.fetch(form.action, { form: [...form.fields, ['action', 'logout']] });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), `${BYE}?state=z`);
    assert.equal(await signedIn(browser), false);
  });

  it('a hint naming another session (an old ID token) asks for confirmation; "Stay signed in" keeps the session', async () => {
    const browser = new Browser();
    const old = await signIn(browser);
    await browser.fetch(client.buildEndSessionUrl(config, { id_token_hint: old.id_token }).href); // signs out
    await signIn(browser); // a new session
    const res = await browser.fetch(client.buildEndSessionUrl(config, { id_token_hint: old.id_token, post_logout_redirect_uri: BYE, state: 'c' }).href);
    assert.equal(res.status, 200);
    const form = parseForm(await res.text());
    const cancel = await browser.fetch(form.action, { form: [...form.fields, ['action', 'cancel']] });
    assert.equal(cancel.status, 303);
    assert.equal(cancel.headers.get('location'), `${BYE}?state=c`);
    assert.equal(await signedIn(browser), true);
  });

  it('POSTed by the RP (form) with the hint: signed out, 303', async () => {
    const browser = new Browser();
    const tokens = await signIn(browser);
    const res = await browser.fetch(`${server.issuer}/oauth2/logout`, { form: [['id_token_hint', tokens.id_token], ['post_logout_redirect_uri', BYE], ['state', 'p']] });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), `${BYE}?state=p`);
    assert.equal(await signedIn(browser), false);
  });

  it('revoking a refresh token announces its grant\'s access tokens too (token.revoked per access token)', async () => {
    const browser = new Browser();
    const tokens = await signIn(browser);
    const rotated = (await (await refresh(tokens.refresh_token)).json()) as Tokens;
    const digests = [tokens.access_token, rotated.access_token].map((t) => createHash('sha256').update(t).digest('base64url'));
    const res = await postForm(`${server.issuer}/oauth2/revoke`, { token: rotated.refresh_token, token_type_hint: 'refresh_token', client_id: 'web' });
    assert.equal(res.status, 200);
    for (const digest of digests) await waitForEvent((e) => e.type === 'token.revoked' && e.digest === digest);
  });

  it('refresh token reuse revokes the family and announces its access tokens', async () => {
    const browser = new Browser();
    const tokens = await signIn(browser);
    const rotated = (await (await refresh(tokens.refresh_token)).json()) as Tokens;
    clock.advance(3600); // past the grace window: a second use of the old token is reuse
    const reuse = await refresh(tokens.refresh_token);
    assert.equal(reuse.status, 400);
    const digest = createHash('sha256').update(rotated.access_token).digest('base64url');
    await waitForEvent((e) => e.type === 'token.revoked' && e.digest === digest);
  });

  it('an authorization code used twice revokes its tokens and announces the access token', async () => {
    const browser = new Browser();
    await signIn(browser); // a session, so the next authorize answers at once
    const { url: start, verifier } = authorizeUrl();
    const res = await browser.fetch(start);
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const exchange = () => postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', code, redirect_uri: CB, client_id: 'web', code_verifier: verifier });
    const first = await exchange();
    assert.equal(first.status, 200);
    const digest = createHash('sha256').update(((await first.json()) as Tokens).access_token).digest('base64url');
    assert.equal((await exchange()).status, 400);
    await waitForEvent((e) => e.type === 'token.revoked' && e.digest === digest);
  });

  it('no session at all: nothing to confirm, redirected (or the signed-out page)', async () => {
    const browser = new Browser();
    const res = await browser.fetch(client.buildEndSessionUrl(config, { post_logout_redirect_uri: BYE, state: 'n' }).href);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `${BYE}?state=n`);
    const page = await browser.fetch(`${server.issuer}/oauth2/logout`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /You have signed out/);
  });
});
