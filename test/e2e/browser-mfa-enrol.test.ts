// Issue #3 in a real browser, TOTP enrolment inside the sign-in flow: a user who must have
// TOTP, and a client with mfa: required stepping up a password-only SSO session. Chromium
// reads the key off the page as a person would type it from the app, confirms with a code
// computed by src/auth/mfa/totp.ts, sees the recovery codes and continues to the
// openid-client relying party. One Chromium, a fresh context per test.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { totp } from '../../src/auth/mfa/totp.js';
import { rpStatus, submitLogin, waitForPath, watchPages } from '../helpers/browser-flow.js';
import { chromiumAvailable } from '../helpers/chromium.js';
import { PASSWORD, useMfaStack } from './mfa-stack.js';

const available = chromiumAvailable();

describe('TOTP enrolment in the browser sign-in (Chromium)', { skip: !available }, () => {
  const s = useMfaStack();
  const { freshPage, passwordStep, enterCode, ssoCookie, userId } = s;

  /** On the enrolment page: read the key as a person would type it, check the QR code and link. */
  async function readEnrolment(page: Page): Promise<string> {
    await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
    const secret = ((await page.locator('#totp-secret').textContent()) ?? '').replace(/\s/g, '');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    assert.equal(await page.locator('svg#totp-qr').isVisible(), true, 'the QR code is drawn');
    const link = new URL((await page.locator('#totp-link').getAttribute('href'))!);
    assert.equal(link.protocol, 'otpauth:');
    assert.equal(link.searchParams.get('secret'), secret);
    return secret;
  }

  /** On the recovery-codes page: the codes shown once; Continue. */
  async function readRecoveryCodes(page: Page): Promise<string[]> {
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    const codes = await page.locator('#recovery-codes li').allTextContents();
    assert.equal(codes.length, 10);
    for (const c of codes) assert.match(c, /^[0-9a-z]{4}(-[0-9a-z]{4}){3}$/);
    await page.getByRole('button', { name: 'Continue' }).click();
    return codes;
  }

  it('enrolment in the sign-in flow: scan (read the key), a wrong code, the right one, recovery codes, on to the RP', async () => {
    const { context, page } = await freshPage();
    const log = watchPages(context, s.server.issuer);
    await page.goto(`${s.web.origin}/login`);
    await submitLogin(page, 'quinn', PASSWORD);
    const secret = await readEnrolment(page);
    assert.equal(await ssoCookie(context), undefined, 'no session before the second factor is set up');
    await page.getByLabel('Code from the app').fill('000000');
    await page.getByRole('button', { name: 'Verify and turn on' }).click();
    await page.getByRole('alert').filter({ hasText: 'That code is not valid' }).waitFor();
    assert.equal(await readEnrolment(page), secret, 'the same key after a wrong code');
    await page.getByLabel('Code from the app').fill(totp(secret, Math.floor(Date.now() / 1000)));
    await page.getByRole('button', { name: 'Verify and turn on' }).click();
    const codes = await readRecoveryCodes(page);
    await waitForPath(page, s.web.origin, '/');
    assert.equal(await rpStatus(page), `signed in as ${await userId('quinn')}`);
    assert.deepEqual(s.web.logins.at(-1)!.claims!.amr, ['pwd', 'otp', 'mfa']);
    const mfa = await s.server.running.storage!.users.getMfa(await userId('quinn'));
    assert.equal(mfa!.recovery_codes_left, 10);
    assert.deepEqual(log.cspViolations, [], 'the enrolment pages (inline QR SVG) run within their CSP');
    await context.close();

    // from now on quinn is asked for a code at login, not enrolled again; a shown recovery code works
    const next = await freshPage();
    await passwordStep(next.page, 'quinn');
    await enterCode(next.page, codes[3]!);
    await waitForPath(next.page, s.web.origin, '/');
    assert.equal(await rpStatus(next.page), `signed in as ${await userId('quinn')}`);
    await next.context.close();
  });

  it('step-up: a password-only SSO session meets a client with mfa: required → enrolment without the password page', async () => {
    const { context, page } = await freshPage();
    await page.goto(`${s.web.origin}/login`);
    await submitLogin(page, 'sam', PASSWORD);
    await waitForPath(page, s.web.origin, '/');
    assert.deepEqual(s.web.logins.at(-1)!.claims!.amr, ['pwd']);
    const log = watchPages(context, s.server.issuer);
    await page.goto(`${s.bank.origin}/login`);
    const secret = await readEnrolment(page);
    await page.getByLabel('Code from the app').fill(totp(secret, Math.floor(Date.now() / 1000)));
    await page.getByRole('button', { name: 'Verify and turn on' }).click();
    await readRecoveryCodes(page);
    await waitForPath(page, s.bank.origin, '/');
    assert.equal(await rpStatus(page), `signed in as ${await userId('sam')}`);
    const claims = s.bank.logins.at(-1)!.claims!;
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.ok(!(await log.kinds()).includes('login'), `the password page appeared: ${JSON.stringify(log.pages)}`);
    await context.close();
  });
});
