// TOTP enrolment inside the sign-in flow (issue #3): a user who must have TOTP (per user, or
// because the client says `mfa: required`) and has none is shown the QR code, the secret and a
// code field; a right code shows the recovery codes once; Continue finishes the sign-in with
// amr [pwd, otp, mfa]. Recovery codes work once. A password-only SSO session is stepped up
// for a client that requires MFA. Driven like a browser (cookie jar, real HTTP), with codes
// computed by our own TOTP on a fixed clock.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { confirmTotpEnrolment, startTotpEnrolment } from '../../src/auth/mfa/user-mfa.js';
import { recoveryCodeDigest } from '../../src/auth/mfa/recovery-codes.js';
import { totp } from '../../src/auth/mfa/totp.js';
import type { Clock } from '../../src/core/clock.js';
import { postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm, withField, type ParsedForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const VERIFIER = 'w'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

class FixedClock implements Clock {
  t = Math.floor(Date.now() / 1000);
  now(): number {
    return this.t;
  }
}

describe('MFA enrolment pages', () => {
  let server: TestServer;
  const clock = new FixedClock();
  const dir = mkdtempSync(join(tmpdir(), 'drawbridge-mfa-audit-'));
  const auditFile = join(dir, 'audit.jsonl');

  before(async () => {
    server = await startAuth(
      {
        audit: { file: auditFile },
        brute_force: { max_failures: 3, delay_after: 10 },
        users: [
          { username: 'newbie', password: PASSWORD, mfa_required: true },
          { username: 'plain', password: PASSWORD },
          { username: 'stepper', password: PASSWORD },
          { username: 'guesser', password: PASSWORD, mfa_required: true },
          { username: 'quiet', password: PASSWORD },
          { username: 'twotabs', password: PASSWORD, mfa_required: true },
        ],
        clients: [
          { client_id: 'app', redirect_uris: [CB], scopes: ['openid'], consent: 'skip' },
          { client_id: 'secure', client_name: 'Payroll', redirect_uris: [CB], scopes: ['openid'], consent: 'skip', mfa: 'required' },
        ],
      },
      {},
      { clock },
    );
  });

  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function authorizeUrl(clientId: string, extra: Record<string, string> = {}): string {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st', code_challenge: CHALLENGE, code_challenge_method: 'S256', ...extra };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.href;
  }

  async function passwordStep(browser: Browser, url: string, username: string): Promise<Response> {
    const form = parseForm(await (await browser.fetch(url)).text());
    return browser.fetch(form.action, { form: [...form.fields, ['username', username], ['password', PASSWORD]] });
  }

  function submit(browser: Browser, form: ParsedForm, extra: Array<[string, string]> = []): Promise<Response> {
    return browser.fetch(form.action, { form: [...form.fields, ...extra] });
  }

  /** The base32 secret shown for typing by hand (grouped by four). */
  function shownSecret(html: string): string {
    const m = /<code id="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(html);
    assert.ok(m, 'the secret is on the page');
    return m[1]!.replace(/ /g, '');
  }

  function nextStep(): void {
    clock.t += 30; // each TOTP time step is accepted once per user
  }

  async function idTokenClaims(location: string, clientId: string): Promise<Record<string, unknown>> {
    const cb = new URL(location);
    assert.equal(cb.origin + cb.pathname, CB);
    const code = cb.searchParams.get('code');
    assert.ok(code, `a code at the redirect URI: ${location}`);
    const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', client_id: clientId, code, redirect_uri: CB, code_verifier: VERIFIER });
    const body = (await res.json()) as { id_token: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    return JSON.parse(Buffer.from(body.id_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  }

  let newbieRecovery: string[] = [];

  it('per-user requirement: enrolment page with inline QR SVG, secret, otpauth link, labelled code field; no session yet', async () => {
    const browser = new Browser();
    const res = await passwordStep(browser, authorizeUrl('app'), 'newbie');
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<h1>Set up two-step verification<\/h1>/);
    assert.match(html, /<svg [^>]*id="totp-qr"[^>]*viewBox="0 0 \d+ \d+"/);
    assert.match(html, /<title>QR code to add Drawbridge to an authenticator app<\/title>/);
    assert.match(html, /href="otpauth:\/\/totp\/Drawbridge:newbie\?secret=[A-Z2-7]{32}&amp;issuer=Drawbridge/);
    assert.match(html, /<label for="otp">Code from the app<\/label><input type="text" id="otp" name="otp" autocomplete="one-time-code"/);
    assert.match(html, /<button type="submit">Verify and turn on<\/button>/);
    assert.match(html, /name="csrf_token"/);
    assert.ok(!/<img|https?:\/\/(?!127\.0\.0\.1)[^"]*\.(js|css|png|svg)/.test(html), 'no external assets');
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.ok(!csp.includes('img-src'), 'the inline SVG needs no image source');
    assert.equal(browser.cookies.get('drawbridge_sso'), undefined, 'no SSO session after the password alone');

    const secret = shownSecret(html);
    const form = parseForm(html);
    assert.deepEqual(form.fields.filter(([k]) => k === 'action'), [['action', 'enrol']]);
    // a forged ticket is refused; the ticket is the only proof of the password step
    const forged = await submit(browser, { ...form, fields: withField(form.fields, 'mfa_ticket', 'v1.forged') }, [['otp', totp(secret, clock.now())]]);
    assert.equal(forged.status, 403);
    // a wrong code: the page again, with an error and the same secret
    const wrong = await submit(browser, form, [['otp', '000000']]);
    assert.equal(wrong.status, 200);
    const wrongHtml = await wrong.text();
    assert.match(wrongHtml, /role="alert">That code is not valid/);
    assert.equal(shownSecret(wrongHtml), secret, 'the pending secret is kept');
    const ctx = server.running.auth!.ctx;
    const user = (await ctx.storage.users.getByUsername('newbie'))!;
    assert.equal((await ctx.storage.users.getMfa(user.id))?.totp_confirmed_at ?? null, null, 'not enrolled before a right code');

    // the right code: the recovery codes, once; still no session until Continue
    const codesPage = await submit(browser, parseForm(wrongHtml), [['otp', totp(secret, clock.now())]]);
    nextStep();
    assert.equal(codesPage.status, 200);
    const codesHtml = await codesPage.text();
    assert.match(codesHtml, /<h1>Save your recovery codes<\/h1>/);
    newbieRecovery = [...codesHtml.matchAll(/<li><code>([0-9a-z-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    assert.equal(newbieRecovery.length, 10);
    assert.equal(browser.cookies.get('drawbridge_sso'), undefined);
    const mfa = (await ctx.storage.users.getMfa(user.id))!;
    assert.notEqual(mfa.totp_confirmed_at, null, 'enrolled');
    assert.equal(mfa.recovery_codes_left, 10);
    assert.ok(!JSON.stringify(mfa).includes(newbieRecovery[0]!) && !JSON.stringify(mfa).includes(secret), 'neither codes nor secret in clear');

    const cont = parseForm(codesHtml);
    assert.match(codesHtml, /<button type="submit">Continue<\/button>/);
    const done = await submit(browser, cont);
    assert.equal(done.status, 303);
    assert.ok(browser.cookies.get('drawbridge_sso'), 'the session exists now');
    const claims = await idTokenClaims(done.headers.get('location')!, 'app');
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.sub, user.id);
  });

  it('after enrolment: the code page (not enrolment) at the next sign-in; a recovery code works once', async () => {
    assert.equal(newbieRecovery.length, 10, 'runs after the enrolment test');
    const first = new Browser();
    const page = await passwordStep(first, authorizeUrl('app'), 'newbie');
    const html = await page.text();
    assert.match(html, /<h1>Two-step verification<\/h1>/);
    assert.ok(!html.includes('Save your recovery codes') && !html.includes('totp-secret'), 'codes and secret are never shown again');
    const ok = await submit(first, parseForm(html), [['otp', newbieRecovery[0]!.toUpperCase()]]);
    assert.equal(ok.status, 303, 'a recovery code signs in');
    assert.deepEqual((await idTokenClaims(ok.headers.get('location')!, 'app')).amr, ['pwd', 'otp', 'mfa']);

    const second = new Browser();
    const again = await submit(second, parseForm(await (await passwordStep(second, authorizeUrl('app'), 'newbie')).text()), [['otp', newbieRecovery[0]!]]);
    assert.equal(again.status, 200, 'the same recovery code a second time: the code page again');
    const ctx = server.running.auth!.ctx;
    const user = (await ctx.storage.users.getByUsername('newbie'))!;
    assert.equal((await ctx.storage.users.getMfa(user.id))?.recovery_codes_left, 9);
    // stored as digests: the digest of an unused code is consumable, proving what storage keeps
    assert.equal(await ctx.storage.users.useRecoveryCode(user.id, recoveryCodeDigest(newbieRecovery[1]!)!), true);
  });

  it('per-client requirement: a user without TOTP enrols when signing in to an `mfa: required` client, not to others', async () => {
    const other = new Browser();
    const direct = await passwordStep(other, authorizeUrl('app'), 'quiet');
    assert.equal(direct.status, 303, 'no MFA for a client that does not require it');

    const browser = new Browser();
    const res = await passwordStep(browser, authorizeUrl('secure'), 'plain');
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<h1>Set up two-step verification<\/h1>/);
    assert.match(html, /<strong>Payroll<\/strong> requires a second step/);
    const secret = shownSecret(html);
    const codes = await submit(browser, parseForm(html), [['otp', totp(secret, clock.now())]]);
    nextStep();
    assert.equal(codes.status, 200);
    const done = await submit(browser, parseForm(await codes.text()));
    assert.equal(done.status, 303);
    assert.deepEqual((await idTokenClaims(done.headers.get('location')!, 'secure')).amr, ['pwd', 'otp', 'mfa']);
  });

  it('step-up: a password-only SSO session is asked for the TOTP code by an `mfa: required` client', async () => {
    const browser = new Browser();
    const first = await passwordStep(browser, authorizeUrl('app'), 'stepper');
    assert.equal(first.status, 303);
    assert.deepEqual((await idTokenClaims(first.headers.get('location')!, 'app')).amr, ['pwd']);
    // an administrator enrols the user meanwhile (the session stays password-only)
    const ctx = server.running.auth!.ctx;
    const user = (await ctx.storage.users.getByUsername('stepper'))!;
    const enrolment = await startTotpEnrolment(ctx, user);
    assert.ok(await confirmTotpEnrolment(ctx, user, totp(enrolment.secret, clock.now())));
    nextStep();

    // the first-party client still signs in silently; prompt=none at the MFA client cannot
    const silent = await browser.fetch(authorizeUrl('app'));
    assert.equal(silent.status, 302);
    const none = await browser.fetch(authorizeUrl('secure', { prompt: 'none' }));
    assert.equal(new URL(none.headers.get('location')!).searchParams.get('error'), 'interaction_required');

    const ask = await browser.fetch(authorizeUrl('secure'));
    assert.equal(ask.status, 200);
    const html = await ask.text();
    assert.match(html, /<h1>Two-step verification<\/h1>/, 'the code page, not the login page');
    assert.ok(!html.includes('id="password"'));
    const done = await submit(browser, parseForm(html), [['otp', totp(enrolment.secret, clock.now())]]);
    nextStep();
    assert.equal(done.status, 303);
    const claims = await idTokenClaims(done.headers.get('location')!, 'secure');
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.sub, user.id);
  });

  it('step-up without TOTP: the enrolment page; a ticket made for one client does not open at another', async () => {
    const browser = new Browser();
    assert.equal((await passwordStep(browser, authorizeUrl('app'), 'quiet')).status, 303);
    const res = await browser.fetch(authorizeUrl('secure'));
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<h1>Set up two-step verification<\/h1>/);
    const form = parseForm(html);
    const moved = await submit(browser, { ...form, fields: withField(form.fields, 'client_id', 'app') }, [['otp', totp(shownSecret(html), clock.now())]]);
    assert.equal(moved.status, 403, 'the ticket names the client it was made for');
  });

  it('enrolled in another tab meanwhile: the stale enrolment form leads to the code page, recovery codes are not replaced', async () => {
    const tab1 = new Browser();
    const tab2 = new Browser();
    const page1 = await (await passwordStep(tab1, authorizeUrl('app'), 'twotabs')).text();
    const page2 = await (await passwordStep(tab2, authorizeUrl('app'), 'twotabs')).text();
    const secret = shownSecret(page2); // the later page's secret replaced the earlier one
    const codes = await submit(tab2, parseForm(page2), [['otp', totp(secret, clock.now())]]);
    nextStep();
    assert.equal(codes.status, 200);
    const stale = await submit(tab1, parseForm(page1), [['otp', totp(secret, clock.now())]]);
    assert.equal(stale.status, 200);
    const html = await stale.text();
    assert.match(html, /<h1>Two-step verification<\/h1>/);
    assert.ok(!html.includes('recovery-codes'), 'no second set of recovery codes');
    const done = await submit(tab1, parseForm(html), [['otp', totp(secret, clock.now())]]);
    nextStep();
    assert.equal(done.status, 303);
  });

  it('wrong enrolment codes count as failed logins: locked out after max_failures', async () => {
    const browser = new Browser();
    // the password step counts as an attempt until the second factor completes the sign-in
    // (else signing in again would clear the wrong codes: mfa-brute-force.test.ts), so with
    // max_failures 3 the second wrong code locks
    let html = await (await passwordStep(browser, authorizeUrl('app'), 'guesser')).text();
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await submit(browser, parseForm(html), [['otp', '111111']]);
      statuses.push(res.status);
      html = await res.text();
    }
    assert.deepEqual(statuses, [200, 429]);
    assert.match(html, /Too many failed attempts/);
  });

  it('the audit log has the MFA events, and no code, secret or recovery code', async () => {
    await new Promise((r) => setTimeout(r, 100)); // lines are written asynchronously
    const text = readFileSync(auditFile, 'utf8');
    const events = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const of = (event: string, username: string) => events.filter((e) => e.event === event && e.username === username);
    assert.equal(of('mfa.enrolled', 'newbie').length, 1);
    assert.ok(of('mfa.failed', 'newbie').some((e) => e.during === 'enrolment' && e.reason === 'invalid_code'));
    assert.equal(of('mfa.recovery_code_used', 'newbie')[0]?.recovery_codes_left, 9);
    assert.ok(of('mfa.succeeded', 'stepper').some((e) => e.method === 'totp' && e.client_id === 'secure'));
    assert.equal(of('account.locked', 'guesser').length, 1);
    for (const code of newbieRecovery) assert.ok(!text.includes(code), 'no recovery code in the audit log');
    assert.ok(!/"otp"|"mfa_ticket"|"secret"/.test(text));
  });
});
