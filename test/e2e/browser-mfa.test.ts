// Issue #3 in a real browser, second factor: Chromium signs in to an openid-client relying
// party as users with TOTP. Codes are computed with src/auth/mfa/totp.ts from the enrolled
// secret; each user's codes are used in time steps after the enrolment's (a step is
// accepted at most once), so no test waits for the clock. Enrolment inside the sign-in flow
// is in browser-mfa-enrol.test.ts. One Chromium, a fresh context per test.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rpStatus, submitLogin, waitForPath, watchPages } from '../helpers/browser-flow.js';
import { chromiumAvailable } from '../helpers/chromium.js';
import { LOCKED, LOCKOUT_SECONDS, MAX_FAILURES, NOT_VALID, PASSWORD, useMfaStack } from './mfa-stack.js';

const available = chromiumAvailable();

describe('browser sign-in with TOTP (Chromium)', { skip: !available }, () => {
  const s = useMfaStack();
  const { enrol, nextCode, freshPage, passwordStep, enterCode, ssoCookie, userId } = s;

  it('password, then the TOTP step (a wrong code first); amr says pwd+otp+mfa; a planted session id is replaced', async () => {
    await enrol('mia');
    const { context, page } = await freshPage();
    const planted = 'B'.repeat(43);
    await context.addCookies([{ name: 'drawbridge_sso', value: planted, url: s.server.issuer }]);
    const log = watchPages(context, s.server.issuer);
    await passwordStep(page, 'mia');
    assert.equal(await ssoCookie(context), planted, 'no session from the password alone');
    await enterCode(page, '000000');
    await page.getByRole('alert').filter({ hasText: NOT_VALID }).waitFor();
    assert.equal(await ssoCookie(context), planted);
    await enterCode(page, nextCode('mia'));
    await waitForPath(page, s.web.origin, '/');
    assert.equal(await rpStatus(page), `signed in as ${await userId('mia')}`);
    const login = s.web.logins.at(-1)!;
    assert.equal(login.error, undefined, login.error);
    assert.deepEqual(login.claims!.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(login.claims!.nonce, login.sentNonce);
    const session = await ssoCookie(context);
    assert.ok(session !== undefined && session !== planted, 'a new session id after the second factor');
    assert.deepEqual((await log.kinds()).filter((k) => k !== 'other'), ['login', 'mfa', 'mfa']);
    await context.close();
  });

  it('a TOTP code is accepted once: the same code in another browser is refused; a recovery code works once', async () => {
    const noah = await enrol('noah');
    const code = nextCode('noah');
    const first = await freshPage();
    await passwordStep(first.page, 'noah');
    await enterCode(first.page, code);
    await waitForPath(first.page, s.web.origin, '/');
    assert.equal(await rpStatus(first.page), `signed in as ${await userId('noah')}`);
    await first.context.close();

    // replay of the same code (an observed one, say): refused, no session
    const second = await freshPage();
    await passwordStep(second.page, 'noah');
    await enterCode(second.page, code);
    await second.page.getByRole('alert').filter({ hasText: NOT_VALID }).waitFor();
    assert.equal(await ssoCookie(second.context), undefined);
    // a recovery code instead (typed as shown, with its dash)
    const recovery = noah.recoveryCodes[0]!;
    await enterCode(second.page, recovery);
    await waitForPath(second.page, s.web.origin, '/');
    assert.equal(await rpStatus(second.page), `signed in as ${await userId('noah')}`);
    const mfa = await s.server.running.storage!.users.getMfa(await userId('noah'));
    assert.equal(mfa!.recovery_codes_left, noah.recoveryCodes.length - 1);
    await second.context.close();

    const third = await freshPage();
    await passwordStep(third.page, 'noah');
    await enterCode(third.page, recovery);
    await third.page.getByRole('alert').filter({ hasText: NOT_VALID }).waitFor();
    assert.equal(await ssoCookie(third.context), undefined);
    await third.context.close();
  });

  // the password step stays counted until the second factor succeeds (a right password must
  // not reset the count of guessed codes), so it takes one of the MAX_FAILURES attempts
  it(`the password step and ${MAX_FAILURES - 1} wrong codes lock the account; the right code is refused until the lock expires`, async () => {
    await enrol('olga');
    const { context, page } = await freshPage();
    await passwordStep(page, 'olga');
    for (let i = 1; i < MAX_FAILURES; i++) {
      await enterCode(page, String(100000 + i));
      await page.getByRole('alert').filter({ hasText: i < MAX_FAILURES - 1 ? NOT_VALID : LOCKED }).waitFor();
    }
    const lockedAt = Date.now();
    await enterCode(page, nextCode('olga'));
    await page.getByRole('alert').filter({ hasText: LOCKED }).waitFor();
    assert.ok(Date.now() - lockedAt < LOCKOUT_SECONDS * 1000, 'refused while the lock was on');
    assert.equal(await ssoCookie(context), undefined);
    // the refused attempt did not spend the code's time step: it works once the lock is over
    await page.waitForTimeout(LOCKOUT_SECONDS * 1000 + 300 - (Date.now() - lockedAt));
    await enterCode(page, nextCode('olga'));
    await waitForPath(page, s.web.origin, '/');
    assert.equal(await rpStatus(page), `signed in as ${await userId('olga')}`);
    assert.deepEqual(s.web.logins.at(-1)!.claims!.amr, ['pwd', 'otp', 'mfa']);
    await context.close();
  });

  it('a user without TOTP signs in with the password alone (amr pwd)', async () => {
    const { context, page } = await freshPage();
    const log = watchPages(context, s.server.issuer);
    await page.goto(`${s.web.origin}/login`);
    await submitLogin(page, 'plain', PASSWORD);
    await waitForPath(page, s.web.origin, '/');
    assert.deepEqual(s.web.logins.at(-1)!.claims!.amr, ['pwd']);
    assert.deepEqual((await log.kinds()).filter((k) => k !== 'other'), ['login']);
    await context.close();
  });
});
