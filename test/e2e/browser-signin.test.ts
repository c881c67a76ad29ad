// Issue #3 in a real browser: Debian Chromium signs in at a relying party built on
// openid-client v6 (test/helpers/oidc-rp.ts: code + PKCE S256, state, nonce; it validates the
// ID token's signature, iss, aud, nonce and at_hash). Covered: the first sign-in with consent,
// form_post under the pages' CSP, SSO into a second client without the password, consent
// remembered, a denied consent,
// lockout after repeated wrong passwords, the session cookie's flags as the browser holds
// them, and a fresh session id at login (fixation). One Chromium, a fresh context per test.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { startAuth, type TestServer } from '../helpers/auth-server.js';
import { rpStatus, submitLogin, waitForPath, watchPages } from '../helpers/browser-flow.js';
import { chromiumAvailable, launchChromium, type RunningChromium } from '../helpers/chromium.js';
import { startRp, type RelyingParty } from '../helpers/oidc-rp.js';

const available = chromiumAvailable();
const PASSWORD = 'correct horse battery staple 42';
const SHOP_SECRET = 'shop-client-secret-0123456789abcdef';
const LOCKOUT_SECONDS = 4; // long enough that a loaded machine still answers inside it
const MAX_FAILURES = 3;

describe('browser sign-in with Chromium and an openid-client relying party', { skip: !available }, () => {
  let chrome: RunningChromium;
  let server: TestServer;
  let web: RelyingParty; // public client, 127.0.0.2
  let shop: RelyingParty; // confidential client, 127.0.0.3

  before(async () => {
    web = await startRp('web', '127.0.0.2');
    shop = await startRp('shop', '127.0.0.3');
    server = await startAuth({
      brute_force: { max_failures: MAX_FAILURES, lockout: `${LOCKOUT_SECONDS}s`, delay_after: 100 },
      users: ['alice', 'dave', 'erin', 'bob', 'frank', 'gina', 'hana'].map((username) => ({
        username,
        password: PASSWORD,
        claims: { name: `${username[0]!.toUpperCase()}${username.slice(1)}`, email: `${username}@example.com`, email_verified: true },
      })),
      clients: [
        {
          client_id: 'web',
          client_name: 'Web App',
          redirect_uris: [web.redirectUri],
          grant_types: ['authorization_code', 'refresh_token'],
          scopes: ['openid', 'profile', 'email'],
        },
        {
          client_id: 'shop',
          client_name: 'Shop',
          client_secret: SHOP_SECRET,
          redirect_uris: [shop.redirectUri],
          grant_types: ['authorization_code'],
          scopes: ['openid', 'profile', 'email'],
        },
      ],
    });
    await web.connect(server.issuer);
    await shop.connect(server.issuer, { clientSecret: SHOP_SECRET });
    chrome = await launchChromium();
  });

  after(async () => {
    await chrome?.close();
    await server?.close();
    await web?.close();
    await shop?.close();
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

  /** From the RP's /login to its signed-in page, through login (and consent when shown). */
  async function signIn(page: Page, rp: RelyingParty, username: string, opts: { consent: boolean } = { consent: true }): Promise<void> {
    await page.goto(`${rp.origin}/login`);
    await waitForPath(page, server.issuer, '/oauth2/authorize');
    await submitLogin(page, username, PASSWORD);
    if (opts.consent) {
      await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
      await page.getByRole('button', { name: 'Allow' }).click();
    }
    await waitForPath(page, rp.origin, '/');
  }

  function claimsOf(rp: RelyingParty): Record<string, unknown> {
    const login = rp.logins.at(-1)!;
    assert.equal(login.error, undefined, `the RP refused the sign-in: ${login.error}`);
    return login.claims!;
  }

  it('code + PKCE: login page → consent → the RP shows the validated sub and ID token claims', async () => {
    const { context, page } = await freshPage();
    const log = watchPages(context, server.issuer);
    await page.goto(`${web.origin}/login`);
    await waitForPath(page, server.issuer, '/oauth2/authorize');
    assert.equal(await page.getByRole('heading', { name: 'Sign in' }).count(), 1);
    assert.match((await page.locator('body').textContent())!, /to continue to Web App/);
    await submitLogin(page, 'alice', PASSWORD);
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    assert.match((await page.locator('body').textContent())!, /Signed in as alice/);
    await page.getByRole('button', { name: 'Allow' }).click();
    await waitForPath(page, web.origin, '/');

    const sub = await userId('alice');
    assert.equal(await rpStatus(page), `signed in as ${sub}`);
    assert.equal(await page.locator('#at-hash').textContent(), 'at_hash checked');
    const shown = JSON.parse((await page.locator('#claims').textContent())!) as Record<string, unknown>;
    const login = web.logins.at(-1)!;
    const claims = claimsOf(web);
    assert.deepEqual(shown, claims);
    assert.equal(claims.iss, server.issuer);
    assert.equal(claims.aud, 'web');
    assert.equal(claims.sub, sub);
    assert.equal(claims.nonce, login.sentNonce, "the ID token's nonce is the one the RP sent");
    assert.equal(typeof claims.at_hash, 'string');
    assert.equal(login.atHashChecked, true);
    assert.equal(claims.email, 'alice@example.com');
    assert.equal(claims.name, 'Alice');
    assert.deepEqual(claims.amr, ['pwd']);
    assert.equal(typeof claims.sid, 'string');

    // the authorization request the browser carried: S256 PKCE, state and nonce
    const authUrl = new URL(login.authorizationUrl);
    assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
    assert.match(authUrl.searchParams.get('code_challenge')!, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(authUrl.searchParams.get('state'), login.sentState);
    // the pages shown, in order: RP redirect, login, consent, back to the RP
    assert.deepEqual(
      (await log.kinds()).filter((k) => k !== 'other'),
      ['login', 'consent'],
    );
    assert.deepEqual(log.cspViolations, [], 'the login and consent pages run within their CSP');
    const callback = log.pages.find((p) => p.url.startsWith(web.redirectUri))!;
    const cb = new URL(callback.url);
    assert.equal(cb.searchParams.get('iss'), server.issuer);
    assert.equal(cb.searchParams.get('state'), login.sentState);
    await context.close();
  });

  it('response_mode=form_post: the self-submitting form runs under the page CSP; the RP gets the code by POST', async () => {
    const { context, page } = await freshPage();
    const log = watchPages(context, server.issuer);
    await page.goto(`${web.origin}/login?response_mode=form_post`);
    await waitForPath(page, server.issuer, '/oauth2/authorize');
    await submitLogin(page, 'hana', PASSWORD);
    await page.getByRole('button', { name: 'Allow' }).click();
    await waitForPath(page, web.origin, '/');
    assert.equal(await rpStatus(page), `signed in as ${await userId('hana')}`);
    const login = web.logins.at(-1)!;
    assert.equal(login.callbackMethod, 'POST');
    assert.equal(new URL(login.authorizationUrl).searchParams.get('response_mode'), 'form_post');
    assert.equal(claimsOf(web).nonce, login.sentNonce);
    assert.deepEqual(log.cspViolations, []);
    // no code ever appeared in a URL
    for (const p of await log.settle()) assert.equal(new URL(p.url).searchParams.get('code'), null, p.url);
    await context.close();
  });

  it('SSO: a second client signs in without the password page; same sub and sid', async () => {
    const { context, page } = await freshPage();
    await signIn(page, web, 'dave');
    const first = claimsOf(web);
    const log = watchPages(context, server.issuer);
    await page.goto(`${shop.origin}/login`);
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    await page.getByRole('button', { name: 'Allow' }).click();
    await waitForPath(page, shop.origin, '/');
    assert.equal(await rpStatus(page), `signed in as ${await userId('dave')}`);
    const second = claimsOf(shop);
    assert.equal(second.sub, first.sub);
    assert.equal(second.sid, first.sid, 'one SSO session behind both sign-ins');
    assert.equal(second.aud, 'shop');
    assert.equal(second.auth_time, first.auth_time, 'no new authentication happened');
    const kinds = await log.kinds();
    assert.ok(!kinds.includes('login'), `the login page appeared: ${JSON.stringify(log.pages)}`);
    assert.deepEqual(kinds.filter((k) => k !== 'other'), ['consent']);
    await context.close();
  });

  it('consent is remembered: after signing out of the RP, and in a new browser, no consent page', async () => {
    const { context, page } = await freshPage();
    await signIn(page, web, 'erin');
    const firstSid = claimsOf(web).sid;
    // local sign-out at the RP: the SSO session stays, so neither login nor consent shows
    await page.goto(`${web.origin}/logout-local`);
    assert.equal(await rpStatus(page), 'not signed in');
    const log = watchPages(context, server.issuer);
    await page.goto(`${web.origin}/login`);
    await waitForPath(page, web.origin, '/');
    assert.equal(await rpStatus(page), `signed in as ${await userId('erin')}`);
    assert.equal(claimsOf(web).sid, firstSid);
    assert.deepEqual((await log.kinds()).filter((k) => k !== 'other'), []);
    await context.close();

    // another browser: the password again, but the consent is stored for the user
    const other = await freshPage();
    const log2 = watchPages(other.context, server.issuer);
    await signIn(other.page, web, 'erin', { consent: false });
    assert.equal(await rpStatus(other.page), `signed in as ${await userId('erin')}`);
    assert.notEqual(claimsOf(web).sid, firstSid);
    assert.deepEqual((await log2.kinds()).filter((k) => k !== 'other'), ['login']);
    await other.context.close();
  });

  it('a denied consent comes back to the RP as access_denied; nothing is remembered', async () => {
    const { context, page } = await freshPage();
    await page.goto(`${shop.origin}/login`);
    await submitLogin(page, 'gina', PASSWORD);
    await page.getByRole('button', { name: 'Deny' }).click();
    await waitForPath(page, shop.origin, '/cb');
    assert.equal(await rpStatus(page), 'sign-in failed');
    assert.match(shop.logins.at(-1)!.error!, /access_denied/);
    assert.deepEqual(await server.running.storage!.consents.get(await userId('gina'), 'shop'), []);
    await context.close();
  });

  it('the RP really checks: a wrong expected nonce or state makes openid-client refuse the response', async () => {
    const { context, page } = await freshPage();
    await signIn(page, web, 'alice', { consent: false });
    for (const tamper of ['nonce', 'state']) {
      await page.goto(`${web.origin}/login?tamper=${tamper}`);
      await waitForPath(page, web.origin, '/cb');
      assert.equal(await rpStatus(page), 'sign-in failed', tamper);
      const login = web.logins.at(-1)!;
      assert.equal(login.claims, undefined);
      assert.match(login.error!, new RegExp(tamper === 'nonce' ? '"nonce"' : '"state"'), login.error);
    }
    await context.close();
  });

  it(`lockout: ${MAX_FAILURES} wrong passwords lock the account; the right one is refused until the lock expires`, async () => {
    const { context, page } = await freshPage();
    await page.goto(`${web.origin}/login`);
    await waitForPath(page, server.issuer, '/oauth2/authorize');
    const alert = page.getByRole('alert');
    for (let i = 1; i <= MAX_FAILURES; i++) {
      await submitLogin(page, 'bob', `wrong password ${i}`);
      const expected = i < MAX_FAILURES ? 'Incorrect username or password.' : 'Too many failed attempts. Try again later.';
      await page.getByRole('alert').filter({ hasText: expected }).waitFor();
    }
    const lockedAt = Date.now();
    await submitLogin(page, 'bob', PASSWORD);
    await page.getByRole('alert').filter({ hasText: 'Too many failed attempts' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Allow access?' }).count(), 0);
    assert.equal((await context.cookies(server.issuer)).find((c) => c.name === 'drawbridge_sso'), undefined, 'no session while locked');
    assert.ok(Date.now() - lockedAt < LOCKOUT_SECONDS * 1000, 'the refusal came while the lock was still on');

    await page.waitForTimeout(LOCKOUT_SECONDS * 1000 + 300 - (Date.now() - lockedAt));
    await submitLogin(page, 'bob', PASSWORD);
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    assert.equal(await alert.count(), 0);
    await page.getByRole('button', { name: 'Allow' }).click();
    await waitForPath(page, web.origin, '/');
    assert.equal(await rpStatus(page), `signed in as ${await userId('bob')}`);
    await context.close();
  });

  it('cookies as Chromium holds them: HttpOnly, SameSite=Lax, host-only; invisible to page scripts', async () => {
    const { context, page } = await freshPage();
    await signIn(page, web, 'frank');
    const cookies = await context.cookies(server.issuer);
    for (const name of ['drawbridge_sso', 'drawbridge_csrf']) {
      const c = cookies.find((x) => x.name === name);
      assert.ok(c, `${name} is set`);
      assert.equal(c.httpOnly, true, `${name} HttpOnly`);
      assert.equal(c.sameSite, 'Lax', `${name} SameSite`);
      assert.equal(c.domain, '127.0.0.1', `${name} host-only`);
      assert.equal(c.path, '/');
      assert.equal(c.expires, -1, `${name} is a browser-session cookie`);
    }
    // scripts on the auth server's own origin cannot read them
    await page.goto(`${server.issuer}/.well-known/openid-configuration`);
    assert.equal(await page.evaluate('document.cookie'), '');
    // and the RP's origin never receives them (another site)
    assert.deepEqual((await context.cookies(web.origin)).map((c) => c.name).sort(), ['rp_session']);
    await context.close();
  });

  it('session fixation: a planted session cookie is replaced at login, and a new login rotates the id', async () => {
    const { context, page } = await freshPage();
    const planted = 'A'.repeat(43);
    await context.addCookies([{ name: 'drawbridge_sso', value: planted, url: server.issuer }]);
    await signIn(page, web, 'frank', { consent: false });
    const sso = async () => (await context.cookies(server.issuer)).find((c) => c.name === 'drawbridge_sso')?.value;
    const first = await sso();
    assert.ok(first !== undefined && first !== planted, 'the planted value was replaced');
    const firstSid = claimsOf(web).sid;

    // prompt=login: the password again, a new session id
    await page.goto(`${web.origin}/login?prompt=login`);
    await waitForPath(page, server.issuer, '/oauth2/authorize');
    await submitLogin(page, 'frank', PASSWORD);
    await waitForPath(page, web.origin, '/');
    const second = await sso();
    assert.ok(second !== undefined && second !== first, 'a new session id at the new login');
    assert.notEqual(claimsOf(web).sid, firstSid);

    // the old session id signs nobody in: a browser holding it gets login_required
    const stale = await freshPage();
    await stale.context.addCookies([{ name: 'drawbridge_sso', value: first, url: server.issuer }]);
    await stale.page.goto(`${web.origin}/login?prompt=none`);
    await waitForPath(stale.page, web.origin, '/cb');
    assert.match(web.logins.at(-1)!.error!, /login_required/);
    await stale.context.close();
    await context.close();
  });
});
