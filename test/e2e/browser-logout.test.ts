// Issue #3 in a real browser, signing out: RP-initiated logout (OIDC RP-Initiated Logout 1.0)
// started at an openid-client relying party (buildEndSessionUrl with id_token_hint,
// post_logout_redirect_uri and state), the confirmation page for requests that cannot prove
// they come from this session, and OIDC Back-Channel Logout: a receiver in this file gets
// the logout tokens and verifies them with jose against the issuer's JWKS.
import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import * as jose from 'jose';
import type { BrowserContext, Page } from 'playwright-core';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { rpStatus, submitLogin, waitForPath, watchPages } from '../helpers/browser-flow.js';
import { chromiumAvailable, launchChromium, type RunningChromium } from '../helpers/chromium.js';
import { startRp, type RelyingParty } from '../helpers/oidc-rp.js';

const available = chromiumAvailable();
const PASSWORD = 'correct horse battery staple 42';
const SHOP_SECRET = 'shop-client-secret-0123456789abcdef';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

interface Received {
  client: string;
  /** the verified claims, or why verification failed */
  payload?: jose.JWTPayload;
  header?: jose.JWTHeaderParameters;
  error?: string;
}

/**
 * A back-channel logout receiver for several clients (/bc/<client_id>), as an RP would write
 * one (OIDC Back-Channel Logout §2.6): the token verified with jose against the issuer's JWKS
 * (signature, iss, aud, iat, typ logout+jwt), an events claim with the logout event, sub or
 * sid, no nonce. 200 when valid, 400 otherwise.
 */
class BackchannelReceiver {
  readonly received: Received[] = [];
  #server: Server;
  #jwks: ReturnType<typeof jose.createRemoteJWKSet> | undefined;
  #issuer = '';
  #waiters: Array<() => void> = [];
  origin = '';

  constructor() {
    this.#server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const client = (req.url ?? '').replace(/^\/bc\//, '');
        this.#verify(client, req.method ?? '', req.headers['content-type'] ?? '', body).then((r) => {
          this.received.push(r);
          for (const w of this.#waiters.splice(0)) w();
          res.writeHead(r.error === undefined ? 200 : 400, { 'cache-control': 'no-store' });
          res.end();
        });
      });
    });
  }

  async start(host: string): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, host, resolve));
    this.origin = `http://${host}:${(this.#server.address() as AddressInfo).port}`;
  }

  uri(clientId: string): string {
    return `${this.origin}/bc/${clientId}`;
  }

  connect(issuer: string, jwksUri: string): void {
    this.#issuer = issuer;
    this.#jwks = jose.createRemoteJWKSet(new URL(jwksUri));
  }

  async #verify(client: string, method: string, contentType: string, body: string): Promise<Received> {
    try {
      assert.equal(method, 'POST');
      assert.equal(contentType.split(';')[0], 'application/x-www-form-urlencoded');
      const token = new URLSearchParams(body).get('logout_token');
      assert.ok(token, 'a logout_token parameter');
      const { payload, protectedHeader } = await jose.jwtVerify(token, this.#jwks!, {
        issuer: this.#issuer,
        audience: client,
        typ: 'logout+jwt',
        maxTokenAge: '2m',
        requiredClaims: ['iat', 'jti', 'events'],
      });
      const events = payload.events as Record<string, unknown> | undefined;
      assert.ok(events && typeof events[BACKCHANNEL_EVENT] === 'object', 'the back-channel logout event');
      assert.ok(typeof payload.sub === 'string' || typeof payload.sid === 'string', 'sub or sid');
      assert.equal(payload.nonce, undefined, 'a logout token never has a nonce');
      return { client, payload, header: protectedHeader };
    } catch (err) {
      return { client, error: (err as Error).message };
    }
  }

  /** Resolves once `n` tokens arrived in all; fails after `ms`. */
  async waitFor(n: number, ms = 8000): Promise<Received[]> {
    const until = Date.now() + ms;
    while (this.received.length < n) {
      const left = until - Date.now();
      if (left <= 0) throw new Error(`expected ${n} logout tokens, got ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.received;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

describe('browser sign-out: RP-initiated logout and back-channel logout (Chromium)', { skip: !available }, () => {
  let chrome: RunningChromium;
  let server: TestServer;
  let web: RelyingParty; // public client, 127.0.0.2
  let shop: RelyingParty; // confidential client, 127.0.0.3
  const receiver = new BackchannelReceiver(); // 127.0.0.4

  before(async () => {
    web = await startRp('web', '127.0.0.2');
    shop = await startRp('shop', '127.0.0.3');
    await receiver.start('127.0.0.4');
    server = await startAuth({
      brute_force: { enabled: false },
      users: ['alice', 'bob', 'carol'].map((username) => ({ username, password: PASSWORD, claims: { email: `${username}@example.com` } })),
      clients: [
        {
          client_id: 'web',
          client_name: 'Web App',
          redirect_uris: [web.redirectUri],
          post_logout_redirect_uris: [web.postLogoutRedirectUri],
          backchannel_logout_uri: receiver.uri('web'),
          backchannel_logout_session_required: true,
          grant_types: ['authorization_code', 'refresh_token'],
          scopes: ['openid', 'email'],
        },
        {
          client_id: 'shop',
          client_name: 'Shop',
          client_secret: SHOP_SECRET,
          redirect_uris: [shop.redirectUri],
          post_logout_redirect_uris: [shop.postLogoutRedirectUri],
          backchannel_logout_uri: receiver.uri('shop'),
          grant_types: ['authorization_code'],
          scopes: ['openid', 'email'],
          consent: 'skip',
        },
        { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    });
    await web.connect(server.issuer, { scope: 'openid email' });
    await shop.connect(server.issuer, { clientSecret: SHOP_SECRET, scope: 'openid email' });
    receiver.connect(server.issuer, web.config().serverMetadata().jwks_uri!);
    chrome = await launchChromium();
  });

  after(async () => {
    await chrome?.close();
    await server?.close();
    await web?.close();
    await shop?.close();
    await receiver.close();
  });

  beforeEach(() => {
    receiver.received.length = 0;
  });

  async function freshPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await chrome.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    return { context, page };
  }

  async function userId(username: string): Promise<string> {
    return (await server.running.storage!.users.getByUsername(username))!.id;
  }

  const ssoCookie = async (context: BrowserContext) =>
    (await context.cookies(server.issuer)).find((c) => c.name === 'drawbridge_sso')?.value;

  /** web (login + consent), then shop by SSO; returns the session id (the ID tokens' sid). */
  async function signInToBoth(page: Page, username: string): Promise<string> {
    await page.goto(`${web.origin}/login`);
    await submitLogin(page, username, PASSWORD);
    await page.getByRole('button', { name: 'Allow' }).click();
    await waitForPath(page, web.origin, '/');
    await page.goto(`${shop.origin}/login`);
    await waitForPath(page, shop.origin, '/');
    assert.equal(await rpStatus(page), `signed in as ${await userId(username)}`);
    const sid = web.logins.at(-1)!.claims!.sid as string;
    assert.equal(shop.logins.at(-1)!.claims!.sid, sid);
    return sid;
  }

  async function active(token: string): Promise<boolean> {
    const res = await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', RS_SECRET) });
    return ((await res.json()) as { active: boolean }).active;
  }

  it('discovery advertises the end-session endpoint and back-channel logout', () => {
    const m = web.config().serverMetadata();
    assert.equal(m.end_session_endpoint, `${server.issuer}/oauth2/logout`);
    assert.equal(m.backchannel_logout_supported, true);
    assert.equal(m.backchannel_logout_session_supported, true);
  });

  it('RP-initiated logout: back at the RP with the same state; the SSO session is gone; both clients get a verified logout token', async () => {
    const { context, page } = await freshPage();
    const sid = await signInToBoth(page, 'alice');
    const webLogin = web.logins.at(-1)!;
    assert.ok(webLogin.refreshToken, 'web holds a refresh token bound to the session');
    assert.equal(await active(webLogin.refreshToken), true);

    const log = watchPages(context, server.issuer);
    await page.goto(`${web.origin}/logout`);
    await waitForPath(page, web.origin, '/logged-out');
    // the ID token hint named this very session: no confirmation page, straight back
    const logout = web.logouts.at(-1)!;
    const endSession = new URL(logout.endSessionUrl);
    assert.equal(`${endSession.origin}${endSession.pathname}`, `${server.issuer}/oauth2/logout`);
    assert.equal(endSession.searchParams.get('id_token_hint'), webLogin.idToken);
    assert.equal(endSession.searchParams.get('post_logout_redirect_uri'), web.postLogoutRedirectUri);
    assert.equal(await page.locator('#state').textContent(), 'state matches');
    assert.equal(logout.returnedState, logout.sentState);
    assert.deepEqual((await log.kinds()).filter((k) => k !== 'other'), []);
    assert.equal(await ssoCookie(context), undefined, 'the SSO cookie is cleared');

    // back-channel: one token per client that received tokens in the session
    const received = await receiver.waitFor(2);
    const byClient = new Map(received.map((r) => [r.client, r]));
    assert.deepEqual([...byClient.keys()].sort(), ['shop', 'web']);
    for (const r of received) {
      assert.equal(r.error, undefined, `${r.client}: ${r.error}`);
      assert.equal(r.header!.typ, 'logout+jwt');
      assert.equal(r.payload!.iss, server.issuer);
      assert.equal(r.payload!.aud, r.client);
      assert.equal(r.payload!.sub, await userId('alice'));
      assert.equal(r.payload!.sid, sid, "sid is the ID token's sid");
      assert.equal(typeof r.payload!.jti, 'string');
    }
    assert.notEqual(byClient.get('web')!.payload!.jti, byClient.get('shop')!.payload!.jti);

    // the session's tokens are revoked
    assert.equal(await active(webLogin.refreshToken), false);
    assert.equal(await active(webLogin.accessToken!), false);

    // the next sign-in anywhere asks for the password again
    const again = watchPages(context, server.issuer);
    await page.goto(`${shop.origin}/login`);
    await waitForPath(page, server.issuer, '/oauth2/authorize');
    await submitLogin(page, 'alice', PASSWORD);
    await waitForPath(page, shop.origin, '/');
    assert.deepEqual((await again.kinds()).filter((k) => k !== 'other'), ['login']);
    assert.notEqual(shop.logins.at(-1)!.claims!.sid, sid, 'a new session');

    // the old ID token names the ended session: replayed as a hint, it cannot end the new
    // session silently (a cross-site link carrying it gets the confirmation page)
    const newCookie = await ssoCookie(context);
    await page.goto(logout.endSessionUrl);
    await page.getByRole('heading', { name: 'Sign out of Drawbridge?' }).waitFor();
    await page.getByRole('button', { name: 'Stay signed in' }).click();
    await waitForPath(page, web.origin, '/logged-out');
    assert.equal(await ssoCookie(context), newCookie, 'still signed in');
    await context.close();
  });

  it('a logout request without id_token_hint asks first: "Stay signed in" keeps the session, "Sign out" ends it', async () => {
    const { context, page } = await freshPage();
    const sid = await signInToBoth(page, 'bob');
    const cookie = await ssoCookie(context);
    const url = new URL(`${server.issuer}/oauth2/logout`);
    url.searchParams.set('client_id', 'web');
    url.searchParams.set('post_logout_redirect_uri', web.postLogoutRedirectUri);
    url.searchParams.set('state', 'from-a-link');

    const log = watchPages(context, server.issuer);
    await page.goto(url.href);
    await page.getByRole('heading', { name: 'Sign out of Drawbridge?' }).waitFor();
    assert.match((await page.locator('body').textContent())!, /Signed in as bob/);
    await page.getByRole('button', { name: 'Stay signed in' }).click();
    await waitForPath(page, web.origin, '/logged-out');
    assert.equal(new URL(page.url()).searchParams.get('state'), 'from-a-link');
    assert.equal(await ssoCookie(context), cookie, 'still signed in');
    assert.deepEqual(log.cspViolations, [], 'the confirmation page runs within its CSP');
    // the session still signs in silently
    await page.goto(`${shop.origin}/login?prompt=none`);
    await waitForPath(page, shop.origin, '/');
    assert.equal(shop.logins.at(-1)!.claims!.sid, sid);
    assert.equal(receiver.received.length, 0, 'no logout token for a cancelled sign-out');

    await page.goto(url.href);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await waitForPath(page, web.origin, '/logged-out');
    assert.equal(new URL(page.url()).searchParams.get('state'), 'from-a-link');
    assert.equal(await ssoCookie(context), undefined);
    const received = await receiver.waitFor(2);
    for (const r of received) {
      assert.equal(r.error, undefined, r.error);
      assert.equal(r.payload!.sid, sid);
    }
    await page.goto(`${shop.origin}/login?prompt=none`);
    await waitForPath(page, shop.origin, '/cb');
    assert.match(shop.logins.at(-1)!.error!, /login_required/);
    await context.close();
  });

  it('open redirect: an unregistered post_logout_redirect_uri gets an error page; nobody is signed out', async () => {
    const { context, page } = await freshPage();
    await signInToBoth(page, 'carol');
    const cookie = await ssoCookie(context);
    const idToken = web.logins.at(-1)!.idToken!;
    for (const target of ['https://evil.example/logged-out', `${web.postLogoutRedirectUri}/x`, shop.postLogoutRedirectUri]) {
      const url = new URL(`${server.issuer}/oauth2/logout`);
      url.searchParams.set('id_token_hint', idToken);
      url.searchParams.set('post_logout_redirect_uri', target);
      const res = await page.goto(url.href);
      assert.equal(res!.status(), 400, target);
      assert.equal(new URL(page.url()).origin, server.issuer, `${target}: the browser stayed at the issuer`);
      assert.match((await page.locator('body').textContent())!, /Sign-out request refused/);
    }
    assert.equal(await ssoCookie(context), cookie);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.received.length, 0);
    await context.close();
  });
});
