// The sealed tickets between the password and the second factor are single-use: the TOTP
// page's `mfa` ticket, the enrolment page's `enrol` ticket and the recovery-code page's
// `enrolled` ticket each finish one sign-in, claimed in the shared one-time store
// (storage.jtis), so a replay fails on any instance. A wrong code does not use the ticket up:
// the TOTP page is shown again with the same ticket and the next (right) code still works.
// Two auth servers on one SQLite file, real HTTP, a cookie-jar browser, a fixed clock.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { confirmTotpEnrolment, startTotpEnrolment } from '../../src/auth/mfa/user-mfa.js';
import { totp } from '../../src/auth/mfa/totp.js';
import { fixedClock } from '../../src/core/clock.js';
import { startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm, type ParsedForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const VERIFIER = 'r'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

describe('MFA tickets are single-use, across instances', () => {
  let dir: string;
  let a: TestServer;
  let b: TestServer;
  const clock = fixedClock(Math.floor(Date.now() / 1000));
  let totpSecret: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-mfa-ticket-'));
    const auth = {
      brute_force: { max_failures: 5, delay_after: 10 },
      users: [
        { username: 'totp', password: PASSWORD },
        { username: 'newbie', password: PASSWORD, mfa_required: true },
        { username: 'newbie2', password: PASSWORD, mfa_required: true },
      ],
      clients: [{ client_id: 'app', redirect_uris: [CB], scopes: ['openid'], consent: 'skip' }],
    };
    const top = { storage: `sqlite:${join(dir, 'db.sqlite')}` };
    a = await startAuth(auth, top, { clock });
    b = await startAuth(auth, top, { clock });
    const ctx = a.running.auth!.ctx;
    const user = (await ctx.storage.users.getByUsername('totp'))!;
    totpSecret = (await startTotpEnrolment(ctx, user)).secret;
    assert.ok(await confirmTotpEnrolment(ctx, user, totp(totpSecret, clock.now())));
    clock.advance(30); // the confirming code's time step is spent
  });

  after(async () => {
    await a?.close();
    await b?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function authorizeUrl(server: TestServer): string {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: 'app', redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', code_challenge: CHALLENGE, code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.href;
  }

  async function passwordStep(browser: Browser, server: TestServer, username: string): Promise<{ form: ParsedForm; html: string }> {
    const login = parseForm(await (await browser.fetch(authorizeUrl(server))).text());
    const res = await browser.fetch(login.action, { form: [...login.fields, ['username', username], ['password', PASSWORD]] });
    assert.equal(res.status, 200);
    const html = await res.text();
    return { form: parseForm(html), html };
  }

  function shownSecret(html: string): string {
    return /id="totp-secret">([A-Z2-7 ]+)</.exec(html)![1]!.replace(/ /g, '');
  }

  /** `form` posted to the other instance (same path), as a replaying browser would. */
  function on(server: TestServer, form: ParsedForm): ParsedForm {
    const url = new URL(form.action);
    return { ...form, action: `${server.issuer}${url.pathname}` };
  }

  function submit(browser: Browser, form: ParsedForm, extra: Array<[string, string]> = []): Promise<Response> {
    return browser.fetch(form.action, { form: [...form.fields, ...extra] });
  }

  function assertSignedIn(res: Response, browser: Browser, what: string): void {
    assert.equal(res.status, 303, what);
    assert.ok(new URL(res.headers.get('location')!).searchParams.get('code'), what);
    assert.ok(browser.cookies.get('drawbridge_sso'), `${what}: a session`);
  }

  function assertExpired(res: Response, browser: Browser, what: string): void {
    assert.equal(res.status, 403, what);
    assert.equal(res.headers.get('location'), null, what);
    assert.equal(browser.cookies.get('drawbridge_sso'), undefined, `${what}: no session`);
  }

  it('TOTP step: wrong codes keep the ticket, the right one uses it; a replay with a new code fails here and on the other instance', async () => {
    const browser = new Browser();
    const { form } = await passwordStep(browser, a, 'totp');
    for (let i = 0; i < 2; i++) {
      const wrong = await submit(browser, form, [['otp', '000000']]);
      assert.equal(wrong.status, 200, 'a wrong code: the page again');
      assert.equal(parseForm(await wrong.text()).fields.find(([k]) => k === 'mfa_ticket')![1], form.fields.find(([k]) => k === 'mfa_ticket')![1], 'the same ticket');
    }
    assertSignedIn(await submit(browser, form, [['otp', totp(totpSecret, clock.now())]]), browser, 'right code after wrong ones');

    // the same ticket again, with a new valid code (next time step), without the session
    for (const server of [a, b]) {
      clock.advance(30);
      browser.cookies.delete('drawbridge_sso');
      assertExpired(await submit(browser, on(server, form), [['otp', totp(totpSecret, clock.now())]]), browser, `replay on ${server === a ? 'A' : 'B'}`);
    }
    clock.advance(30);
  });

  it('enrolment: the recovery-code page’s Continue works once; the enrolment form does not open again', async () => {
    const browser = new Browser();
    const { form: enrol, html } = await passwordStep(browser, a, 'newbie');
    assert.ok(enrol.fields.some(([k, v]) => k === 'action' && v === 'enrol'));
    const secret = shownSecret(html);
    const codes = await submit(browser, enrol, [['otp', totp(secret, clock.now())]]);
    assert.equal(codes.status, 200);
    const cont = parseForm(await codes.text());
    assert.ok(cont.fields.some(([k, v]) => k === 'action' && v === 'enrolled'));
    assertSignedIn(await submit(browser, cont), browser, 'Continue');

    for (const server of [a, b]) {
      browser.cookies.delete('drawbridge_sso');
      assertExpired(await submit(browser, on(server, cont)), browser, `Continue replayed on ${server === a ? 'A' : 'B'}`);
    }
    // the enrolment page's ticket was used up by the enrolment: no code page from it
    clock.advance(30);
    const again = await submit(browser, on(b, enrol), [['otp', totp(secret, clock.now())]]);
    assertExpired(again, browser, 'enrolment form replayed');
    clock.advance(30);
  });

  it('a wrong enrolment code leaves the page usable (a new ticket), and the recovery-code page of that works once', async () => {
    const browser = new Browser();
    const { form: enrol } = await passwordStep(browser, b, 'newbie2');
    const wrong = await submit(browser, enrol, [['otp', '000000']]);
    assert.equal(wrong.status, 200);
    const wrongHtml = await wrong.text();
    const secret = shownSecret(wrongHtml);
    const codes = await submit(browser, parseForm(wrongHtml), [['otp', totp(secret, clock.now())]]);
    assert.equal(codes.status, 200);
    const cont = parseForm(await codes.text());
    assertSignedIn(await submit(browser, on(a, cont)), browser, 'Continue on the other instance');
    browser.cookies.delete('drawbridge_sso');
    assertExpired(await submit(browser, cont), browser, 'Continue replayed');
  });
});
