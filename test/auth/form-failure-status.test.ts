// The login, TOTP and TOTP-enrolment forms shown again after a failed attempt. They used to
// answer 401 without a WWW-Authenticate field, which RFC 9110 §15.5.2 requires on every 401
// (a form is no HTTP authentication scheme to challenge with). Now: 200 with the error on the
// page, and 429 with Retry-After while the username (or IP) is locked out. Every answer of the
// auth server along the way is checked: none is a 401 without WWW-Authenticate.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { confirmTotpEnrolment, startTotpEnrolment } from '../../src/auth/mfa/user-mfa.js';
import { totp } from '../../src/auth/mfa/totp.js';
import { fixedClock } from '../../src/core/clock.js';
import { startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm, type ParsedForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const CHALLENGE = createHash('sha256').update('f'.repeat(43)).digest('base64url');
const MAX_FAILURES = 3;
const LOCKOUT_SECONDS = 120;
const LOCKED = /role="alert">Too many failed attempts/;

describe('failed attempts on the sign-in forms: 200 with the error, 429 with Retry-After when locked, never a bare 401', () => {
  let server: TestServer;
  const clock = fixedClock(Math.floor(Date.now() / 1000));
  /** every answer the auth server gave in this suite */
  const seen: Array<{ what: string; status: number; challenge: string | null }> = [];

  before(async () => {
    server = await startAuth(
      {
        brute_force: { max_failures: MAX_FAILURES, delay: '0s', lockout: `${LOCKOUT_SECONDS}s` },
        users: [
          { username: 'lena', password: PASSWORD },
          { username: 'otto', password: PASSWORD },
          { username: 'enno', password: PASSWORD, mfa_required: true },
        ],
        clients: [{ client_id: 'app', redirect_uris: [CB], scopes: ['openid'], consent: 'skip' }],
      },
      {},
      { clock },
    );
    const ctx = server.running.auth!.ctx;
    const otto = (await ctx.storage.users.getByUsername('otto'))!;
    const { secret } = await startTotpEnrolment(ctx, otto);
    assert.ok(await confirmTotpEnrolment(ctx, otto, totp(secret, clock.now())));
    clock.advance(60); // the confirming code's time step is spent
  });

  after(() => server.close());

  async function send(browser: Browser, what: string, url: string, form?: Array<[string, string]>): Promise<Response> {
    const res = await browser.fetch(url, form ? { form } : {});
    seen.push({ what, status: res.status, challenge: res.headers.get('www-authenticate') });
    return res;
  }

  function authorizeUrl(): string {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: 'app', redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's', code_challenge: CHALLENGE, code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.href;
  }

  async function loginForm(browser: Browser): Promise<ParsedForm> {
    return parseForm(await (await send(browser, 'login page', authorizeUrl())).text());
  }

  function login(browser: Browser, form: ParsedForm, username: string, password: string): Promise<Response> {
    return send(browser, `login as ${username}`, form.action, [...form.fields, ['username', username], ['password', password]]);
  }

  function code(browser: Browser, form: ParsedForm, what: string, otp: string): Promise<Response> {
    return send(browser, what, form.action, [...form.fields, ['otp', otp]]);
  }

  function assertLocked(res: Response, html: string, what: string): void {
    assert.equal(res.status, 429, what);
    const retryAfter = Number(res.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= LOCKOUT_SECONDS, `${what}: Retry-After ${res.headers.get('retry-after')}`);
    assert.match(html, LOCKED, what);
  }

  it('a wrong password: the login page again with 200; locked out: 429 with Retry-After, even for the right password', async () => {
    const browser = new Browser();
    let form = await loginForm(browser);
    for (let i = 1; i < MAX_FAILURES; i++) {
      const wrong = await login(browser, form, 'lena', `wrong ${i}`);
      const html = await wrong.text();
      assert.equal(wrong.status, 200, `wrong password ${i}`);
      assert.match(html, /role="alert">Incorrect username or password\./);
      assert.match(html, /id="password"/, 'the login form again');
      form = parseForm(html);
    }
    const last = await login(browser, form, 'lena', 'wrong again');
    const lastHtml = await last.text();
    assertLocked(last, lastHtml, 'the failure that locks');
    const right = await login(browser, parseForm(lastHtml), 'lena', PASSWORD);
    assertLocked(right, await right.text(), 'the right password while locked');
    assert.equal(browser.cookies.get('drawbridge_sso'), undefined);
  });

  it('a wrong TOTP code: the code page again with 200; locked out: 429 with Retry-After', async () => {
    const browser = new Browser();
    const step = await login(browser, await loginForm(browser), 'otto', PASSWORD);
    assert.equal(step.status, 200);
    let form = parseForm(await step.text());
    // the password step counts until the second factor completes the sign-in
    for (let i = 1; i < MAX_FAILURES - 1; i++) {
      const wrong = await code(browser, form, `wrong code ${i}`, '000000');
      const html = await wrong.text();
      assert.equal(wrong.status, 200, `wrong code ${i}`);
      assert.match(html, /role="alert">That code is not valid\./);
      assert.match(html, /autocomplete="one-time-code"/, 'the code form again');
      form = parseForm(html);
    }
    const last = await code(browser, form, 'the code that locks', '000000');
    assertLocked(last, await last.text(), 'the code that locks');
    assert.equal(browser.cookies.get('drawbridge_sso'), undefined);
  });

  it('a wrong enrolment code: the enrolment page again with 200; locked out: 429 with Retry-After', async () => {
    const browser = new Browser();
    const step = await login(browser, await loginForm(browser), 'enno', PASSWORD);
    assert.equal(step.status, 200);
    let html = await step.text();
    assert.match(html, /<h1>Set up two-step verification<\/h1>/);
    for (let i = 1; i < MAX_FAILURES - 1; i++) {
      const wrong = await code(browser, parseForm(html), `wrong enrolment code ${i}`, '000000');
      html = await wrong.text();
      assert.equal(wrong.status, 200, `wrong enrolment code ${i}`);
      assert.match(html, /role="alert">That code is not valid\./);
      assert.match(html, /<h1>Set up two-step verification<\/h1>/, 'the enrolment page again');
    }
    const last = await code(browser, parseForm(html), 'the enrolment code that locks', '000000');
    assertLocked(last, await last.text(), 'the enrolment code that locks');
  });

  it('no answer above was a 401 without WWW-Authenticate (RFC 9110 §15.5.2)', () => {
    assert.ok(seen.length >= 12, `answers seen: ${seen.length}`);
    const bare = seen.filter((s) => s.status === 401 && !s.challenge);
    assert.deepEqual(bare, []);
  });
});
