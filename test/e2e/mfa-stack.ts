// The stack both TOTP browser suites share (browser-mfa*.test.ts): an auth server with a
// small brute-force budget, two openid-client relying parties — `web` (127.0.0.2) and `bank`
// (127.0.0.3, mfa: required) — one Chromium, and the steps of the TOTP pages. useMfaStack()
// registers the before/after hooks of the describe it is called in.
import * as assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { confirmTotpEnrolment, startTotpEnrolment } from '../../src/auth/mfa/user-mfa.js';
import { totp, TOTP_PERIOD } from '../../src/auth/mfa/totp.js';
import { startAuth, type TestServer } from '../helpers/auth-server.js';
import { submitLogin, waitForPath } from '../helpers/browser-flow.js';
import { launchChromium, type RunningChromium } from '../helpers/chromium.js';
import { startRp, type RelyingParty } from '../helpers/oidc-rp.js';

export const PASSWORD = 'correct horse battery staple 42';
export const LOCKOUT_SECONDS = 4; // long enough that a loaded machine still answers inside it
export const MAX_FAILURES = 3;
export const NOT_VALID = 'That code is not valid.';
export const LOCKED = 'Too many failed attempts. Try again later.';

export interface Enrolled {
  secret: string;
  recoveryCodes: string[];
  /** unix seconds inside the time step the enrolment used */
  enrolledAt: number;
}

export interface MfaStack {
  chrome: RunningChromium;
  server: TestServer;
  web: RelyingParty;
  /** mfa: required */
  bank: RelyingParty;
  /**
   * Enrolment as `drawbridge user` / the API does it: a secret, then a first code. Call it at
   * the start of a test, so the step after the enrolment's stays inside the ±1 step window.
   */
  enrol(username: string): Promise<Enrolled>;
  /** The code of the time step after the enrolment's: unused, and inside the ±1 step window. */
  nextCode(username: string): string;
  freshPage(): Promise<{ context: BrowserContext; page: Page }>;
  /** From web's /login through the password to the TOTP page. */
  passwordStep(page: Page, username: string): Promise<void>;
  enterCode(page: Page, code: string): Promise<void>;
  ssoCookie(context: BrowserContext): Promise<string | undefined>;
  userId(username: string): Promise<string>;
}

/** users: mia, noah, olga, plain, sam (no TOTP yet) and quinn (mfa_required). */
export function useMfaStack(): MfaStack {
  const enrolled = new Map<string, Enrolled>();
  const stack = {
    async enrol(username: string) {
      const ctx = stack.server.running.auth!.ctx;
      const user = (await ctx.storage.users.getByUsername(username))!;
      const { secret } = await startTotpEnrolment(ctx, user);
      const enrolledAt = Math.floor(Date.now() / 1000);
      const recoveryCodes = await confirmTotpEnrolment(ctx, user, totp(secret, enrolledAt));
      assert.ok(recoveryCodes, `enrolment of ${username} confirmed`);
      const e = { secret, recoveryCodes, enrolledAt };
      enrolled.set(username, e);
      return e;
    },
    nextCode(username: string) {
      const e = enrolled.get(username)!;
      return totp(e.secret, e.enrolledAt + TOTP_PERIOD);
    },
    async freshPage() {
      const context = await stack.chrome.newContext();
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      return { context, page };
    },
    async passwordStep(page: Page, username: string) {
      await page.goto(`${stack.web.origin}/login`);
      await waitForPath(page, stack.server.issuer, '/oauth2/authorize');
      await submitLogin(page, username, PASSWORD);
      await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    },
    async enterCode(page: Page, code: string) {
      await page.getByLabel('Code').fill(code);
      await page.getByRole('button', { name: 'Verify' }).click();
    },
    async ssoCookie(context: BrowserContext) {
      return (await context.cookies(stack.server.issuer)).find((c) => c.name === 'drawbridge_sso')?.value;
    },
    async userId(username: string) {
      return (await stack.server.running.storage!.users.getByUsername(username))!.id;
    },
  } as MfaStack;

  before(async () => {
    stack.web = await startRp('web', '127.0.0.2');
    stack.bank = await startRp('bank', '127.0.0.3');
    stack.server = await startAuth({
      brute_force: { max_failures: MAX_FAILURES, lockout: `${LOCKOUT_SECONDS}s`, delay_after: 100 },
      users: [
        ...['mia', 'noah', 'olga', 'plain', 'sam'].map((username) => ({ username, password: PASSWORD, claims: {} })),
        { username: 'quinn', password: PASSWORD, claims: {}, mfa_required: true },
      ],
      clients: [
        { client_id: 'web', client_name: 'Web App', redirect_uris: [stack.web.redirectUri], grant_types: ['authorization_code'], scopes: ['openid'], consent: 'skip' },
        {
          client_id: 'bank',
          client_name: 'Bank',
          redirect_uris: [stack.bank.redirectUri],
          grant_types: ['authorization_code'],
          scopes: ['openid'],
          consent: 'skip',
          mfa: 'required',
        },
      ],
    });
    await stack.web.connect(stack.server.issuer, { scope: 'openid' });
    await stack.bank.connect(stack.server.issuer, { scope: 'openid' });
    stack.chrome = await launchChromium();
  });

  after(async () => {
    await stack.chrome?.close();
    await stack.server?.close();
    await stack.web?.close();
    await stack.bank?.close();
  });

  return stack;
}
