// The consent form grants only what its page showed, to whom it was shown, for the sign-in it
// was shown after. The page carries a sealed consent ticket (user, SSO session, auth_time,
// client, redirect URI, response type, scopes, resources; 10 minutes): a POST whose request or
// signed-in user differs from the ticket's is refused with an error page and grants nothing.
// And a consent POST does not stand in for the re-authentication that prompt=login or max_age
// asks for: such a request gets the login page. Real HTTP, a cookie-jar browser, a fixed clock.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm, withField, withoutField, type ParsedForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const WEB_CB = 'https://app.example/cb';
const WEB2_CB = 'https://app2.example/cb';
const VERIFIER = 'b'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');
const USERS = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8', 'u9', 'u10', 'u11', 'u12', 'u13', 'u14'];

describe('consent forms are bound to the page that was shown', () => {
  let server: TestServer;
  const clock = fixedClock(Math.floor(Date.now() / 1000));

  before(async () => {
    server = await startAuth(
      {
        brute_force: { enabled: false },
        sessions: { idle_timeout: '1h', absolute_timeout: '12h' },
        users: USERS.map((username) => ({ username, password: PASSWORD, claims: { email: `${username}@example.com` } })),
        clients: [
          { client_id: 'web', client_name: 'Web', redirect_uris: [WEB_CB, `${WEB_CB}2`], scopes: ['openid', 'profile', 'email'] },
          { client_id: 'web2', client_name: 'Web Two', redirect_uris: [WEB2_CB], scopes: ['openid', 'profile', 'email'] },
          { client_id: 'fp', redirect_uris: [WEB_CB], scopes: ['openid'], consent: 'skip' },
        ],
      },
      {},
      { clock },
    );
  });

  after(() => server.close());

  function authorizeUrl(clientId: string, extra: Record<string, string> = {}): string {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const redirect = clientId === 'web2' ? WEB2_CB : WEB_CB;
    const params = { client_id: clientId, redirect_uri: redirect, response_type: 'code', scope: 'openid', state: 'st', code_challenge: CHALLENGE, code_challenge_method: 'S256', ...extra };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.href;
  }

  async function signIn(browser: Browser, url: string, username: string): Promise<Response> {
    const form = parseForm(await (await browser.fetch(url)).text());
    return browser.fetch(form.action, { form: [...form.fields, ['username', username], ['password', PASSWORD]] });
  }

  /** Signs in and returns the consent page's form. */
  async function consentPage(browser: Browser, username: string, extra: Record<string, string> = {}): Promise<ParsedForm> {
    const res = await signIn(browser, authorizeUrl('web', extra), username);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /Allow access\?/);
    return parseForm(html);
  }

  function allow(browser: Browser, form: ParsedForm, fields = form.fields): Promise<Response> {
    return browser.fetch(form.action, { form: [...fields, ['decision', 'allow']] });
  }

  function deny(browser: Browser, form: ParsedForm, fields = form.fields): Promise<Response> {
    return browser.fetch(form.action, { form: [...fields, ['decision', 'deny']] });
  }

  async function consents(username: string, clientId: string): Promise<string[]> {
    const user = await server.running.storage!.users.getByUsername(username);
    return server.running.storage!.consents.get(user!.id, clientId);
  }

  /** An error page: no redirect (so no code), nothing remembered. */
  async function assertRefused(res: Response, what: string): Promise<void> {
    assert.equal(res.status, 403, what);
    assert.equal(res.headers.get('location'), null, what);
    assert.match(await res.text(), /consent page has expired or does not match/, what);
  }

  it('the consent page carries a ticket; the untouched form grants what it showed', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'u1', { scope: 'openid email' });
    assert.ok(form.fields.some(([k]) => k === 'consent_ticket'), 'a consent_ticket field');
    const res = await allow(browser, form);
    assert.equal(res.status, 303);
    const cb = new URL(res.headers.get('location')!);
    assert.equal(cb.origin + cb.pathname, WEB_CB);
    assert.ok(cb.searchParams.get('code'));
    assert.deepEqual((await consents('u1', 'web')).sort(), ['email', 'openid']);
  });

  it("another client (and its redirect URI) posted with the page shown for 'web' → refused, no code for web2", async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'u2');
    const moved = withField(withField(form.fields, 'client_id', 'web2'), 'redirect_uri', WEB2_CB);
    await assertRefused(await allow(browser, form, moved), 'web2');
    assert.deepEqual(await consents('u2', 'web2'), []);
    assert.deepEqual(await consents('u2', 'web'), []);
  });

  it('another redirect URI of the same client → refused', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'u3');
    await assertRefused(await allow(browser, form, withField(form.fields, 'redirect_uri', `${WEB_CB}2`)), 'redirect_uri');
    assert.deepEqual(await consents('u3', 'web'), []);
  });

  it('an enlarged (or changed) scope → refused, the shown scope still works', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'u4', { scope: 'openid' });
    for (const scope of ['openid email', 'openid profile email', 'email']) {
      await assertRefused(await allow(browser, form, withField(form.fields, 'scope', scope)), scope);
    }
    assert.deepEqual(await consents('u4', 'web'), []);
    const ok = await allow(browser, form);
    assert.equal(ok.status, 303);
    assert.deepEqual(await consents('u4', 'web'), ['openid']);
  });

  it('without a ticket, with a forged one, or one from another page → refused', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'u5', { scope: 'openid' });
    const otherForm = await consentPage(new Browser(), 'u6', { scope: 'openid' });
    const otherTicket = otherForm.fields.find(([k]) => k === 'consent_ticket')![1];
    for (const [why, fields] of [
      ['none', withoutField(form.fields, 'consent_ticket')],
      ['forged', withField(form.fields, 'consent_ticket', 'v1.AAAA.BBBB.CCCC')],
      ['another user', withField(form.fields, 'consent_ticket', otherTicket)],
    ] as Array<[string, Array<[string, string]>]>) {
      await assertRefused(await allow(browser, form, fields), why);
    }
    assert.deepEqual(await consents('u5', 'web'), []);
  });

  it('Deny without a ticket, with a forged one, or one from another page → refused: no access_denied redirect, nothing granted', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'u12', { scope: 'openid' });
    const otherForm = await consentPage(new Browser(), 'u13', { scope: 'openid' });
    const otherTicket = otherForm.fields.find(([k]) => k === 'consent_ticket')![1];
    // the same user's page for another request (an enlarged scope) in another tab
    const wider = parseForm(await (await browser.fetch(authorizeUrl('web', { scope: 'openid email' }))).text());
    const widerTicket = wider.fields.find(([k]) => k === 'consent_ticket')![1];
    for (const [why, fields] of [
      ['none', withoutField(form.fields, 'consent_ticket')],
      ['empty', withField(form.fields, 'consent_ticket', '')],
      ['forged', withField(form.fields, 'consent_ticket', 'v1.AAAA.BBBB.CCCC')],
      ['another user', withField(form.fields, 'consent_ticket', otherTicket)],
      ['another request', withField(form.fields, 'consent_ticket', widerTicket)],
      ['another client', withField(withField(form.fields, 'client_id', 'web2'), 'redirect_uri', WEB2_CB)],
    ] as Array<[string, Array<[string, string]>]>) {
      await assertRefused(await deny(browser, form, fields), `deny, ${why}`);
    }
    assert.deepEqual(await consents('u12', 'web'), []);
    assert.deepEqual(await consents('u12', 'web2'), []);
    // the page's own Deny is still answered: access_denied at the redirect URI, nothing granted
    const res = await deny(browser, form);
    assert.equal(res.status, 303);
    const cb = new URL(res.headers.get('location')!);
    assert.equal(cb.origin + cb.pathname, WEB_CB);
    assert.equal(cb.searchParams.get('error'), 'access_denied');
    assert.equal(cb.searchParams.get('state'), 'st');
    assert.equal(cb.searchParams.get('code'), null);
    assert.deepEqual(await consents('u12', 'web'), []);
  });

  it('a consent page left open while another user signs in (another tab) grants nothing to the new user', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'u7', { scope: 'openid email' });
    // another tab of the same browser: u8 signs in to a first-party client
    const other = await signIn(browser, authorizeUrl('fp', { prompt: 'login' }), 'u8');
    assert.equal(other.status, 303);
    await assertRefused(await allow(browser, form), 'stale page');
    assert.deepEqual(await consents('u8', 'web'), []);
    assert.deepEqual(await consents('u7', 'web'), []);
  });

  it('the ticket expires after 10 minutes', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'u9');
    clock.advance(601);
    await assertRefused(await allow(browser, form), 'expired');
    assert.deepEqual(await consents('u9', 'web'), []);
  });

  describe('prompt=login and max_age are not skipped by a consent POST', () => {
    it('prompt=login (or max_age=0) added to a consent POST of a signed-in user → the login page, no grant', async () => {
      const browser = new Browser();
      const form = await consentPage(browser, 'u10');
      for (const extra of [['prompt', 'login'], ['max_age', '0'], ['prompt', 'select_account']] as Array<[string, string]>) {
        const res = await allow(browser, form, withField(form.fields, extra[0], extra[1]));
        assert.equal(res.status, 200, extra.join('='));
        assert.match(await res.text(), /autocomplete="current-password"/, `${extra.join('=')}: the login page`);
      }
      assert.deepEqual(await consents('u10', 'web'), []);
    });

    it('max_age: a consent POST after the session grew older than max_age → the login page; a fresh login then a consent page that works', async () => {
      const browser = new Browser();
      assert.equal((await signIn(browser, authorizeUrl('fp'), 'u11')).status, 303, 'a session');
      const page = await browser.fetch(authorizeUrl('web', { max_age: '300' }));
      assert.equal(page.status, 200);
      const form = parseForm(await page.text());
      assert.ok(form.fields.some(([k, v]) => k === 'max_age' && v === '300'), 'max_age is carried (the login was not forced by it)');
      clock.advance(301);
      const res = await allow(browser, form);
      assert.equal(res.status, 200);
      const login = await res.text();
      assert.match(login, /autocomplete="current-password"/);
      assert.deepEqual(await consents('u11', 'web'), []);
      // signing in again satisfies max_age; the new consent page works
      const again = await browser.fetch(parseForm(login).action, { form: [...parseForm(login).fields, ['username', 'u11'], ['password', PASSWORD]] });
      assert.equal(again.status, 200);
      const ok = await allow(browser, parseForm(await again.text()));
      assert.equal(ok.status, 303);
      assert.ok(new URL(ok.headers.get('location')!).searchParams.get('code'));
    });
  });
});
