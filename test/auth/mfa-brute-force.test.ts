// Guessing the second factor: an attacker who has the password must not get more TOTP
// guesses than the brute-force guard allows. Two ways round it were open: signing in with the
// password again cleared the username's failures before the TOTP step (so 4 guesses, the
// password, 4 more… never locked; the password grant's "MFA required" answer did the same),
// and wrong codes were counted only after they were checked and the answer's delay waited
// out, so codes sent in parallel were all checked against a budget none of them had spent.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { confirmTotpEnrolment, startTotpEnrolment } from '../../src/auth/mfa/user-mfa.js';
import { totp } from '../../src/auth/mfa/totp.js';
import { postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm, type ParsedForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const CHALLENGE = createHash('sha256').update('v'.repeat(43)).digest('base64url');
const MAX_FAILURES = 5;
const LEGACY = `Basic ${Buffer.from('legacy:legacy-secret-legacy-secret').toString('base64')}`;

interface Harness {
  server: TestServer;
  secrets: Map<string, string>;
}

/** An auth server whose users all have TOTP, with these brute-force settings. */
async function startEnrolled(bruteForce: Record<string, unknown>, usernames: string[]): Promise<Harness> {
  const server = await startAuth({
    brute_force: { max_failures: MAX_FAILURES, max_failures_per_ip: 1000, lockout: '15m', ...bruteForce },
    users: usernames.map((username) => ({ username, password: PASSWORD, claims: {} })),
    clients: [
      { client_id: 'app', redirect_uris: [CB], scopes: ['openid'], consent: 'skip' },
      { client_id: 'legacy', client_secret: 'legacy-secret-legacy-secret', grant_types: ['password'], scopes: ['openid'] },
    ],
  });
  const ctx = server.running.auth!.ctx;
  const secrets = new Map<string, string>();
  for (const name of usernames) {
    const user = (await ctx.storage.users.getByUsername(name))!;
    const { secret } = await startTotpEnrolment(ctx, user);
    secrets.set(name, secret);
    assert.ok(await confirmTotpEnrolment(ctx, user, totp(secret, Math.floor(Date.now() / 1000))));
  }
  return { server, secrets };
}

/** The password step; the TOTP page's form, or undefined when the password step was refused. */
async function passwordStep(h: Harness, browser: Browser, username: string): Promise<ParsedForm | undefined> {
  const u = new URL(`${h.server.issuer}/oauth2/authorize`);
  const params = { client_id: 'app', redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's1', code_challenge: CHALLENGE, code_challenge_method: 'S256' };
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  const login = parseForm(await (await browser.fetch(u.href)).text());
  const res = await browser.fetch(login.action, { form: [...login.fields, ['username', username], ['password', PASSWORD]] });
  const html = await res.text();
  return res.status === 200 && html.includes('mfa_ticket') ? parseForm(html) : undefined;
}

/** A code of `username`'s that is not the right one now (nor in the steps around it). */
function wrongCode(h: Harness, username: string, i: number): string {
  const now = Math.floor(Date.now() / 1000);
  const right = new Set([-1, 0, 1].map((d) => totp(h.secrets.get(username)!, now + 30 * d)));
  for (let n = 100000 + i * 7; ; n++) if (!right.has(String(n))) return String(n);
}

function sendCode(browser: Browser, form: ParsedForm, code: string): Promise<number> {
  return browser.fetch(form.action, { form: [...form.fields, ['otp', code]] }).then((r) => r.status);
}

describe('TOTP guessing: signing in with the password again does not clear the failures', () => {
  let h: Harness;
  // no delays (the test would only wait), lockouts as configured
  before(async () => (h = await startEnrolled({ delay: '0s' }, ['mallory', 'victor', 'peggy'])));
  after(() => h.server.close());

  it('wrong codes count across password steps until the lockout', async () => {
    const statuses: number[] = [];
    let guesses = 0;
    for (let round = 0; round < 4 && !statuses.includes(429); round++) {
      const browser = new Browser();
      const form = await passwordStep(h, browser, 'mallory');
      if (form === undefined) {
        statuses.push(429);
        break;
      }
      for (let i = 0; i < MAX_FAILURES - 1 && !statuses.includes(429); i++) statuses.push(await sendCode(browser, form, wrongCode(h, 'mallory', guesses++)));
    }
    const checked = statuses.filter((s) => s === 200).length;
    assert.ok(statuses.includes(429), `locked out at last (${statuses.join(' ')})`);
    assert.ok(checked < MAX_FAILURES, `fewer than ${MAX_FAILURES} wrong codes answered before the lockout, got ${checked}`);
    // and the right password does not get through while locked
    assert.equal(await passwordStep(h, new Browser(), 'mallory'), undefined);
  });

  it('the password grant (MFA required) does not clear them either', async () => {
    const browser = new Browser();
    const form = (await passwordStep(h, browser, 'victor'))!;
    const statuses: number[] = [];
    for (let i = 0; i < 2 * MAX_FAILURES && !statuses.includes(429); i++) {
      const grant = await postForm(`${h.server.issuer}/oauth2/token`, { grant_type: 'password', username: 'victor', password: PASSWORD }, { authorization: LEGACY });
      assert.ok(grant.status === 400 || grant.status === 429, String(grant.status));
      statuses.push(await sendCode(browser, form, wrongCode(h, 'victor', i)));
    }
    assert.ok(statuses.includes(429), `locked out (${statuses.join(' ')})`);
  });

  it('a right code still signs in after wrong ones, and clears them', async () => {
    const browser = new Browser();
    const form = (await passwordStep(h, browser, 'peggy'))!;
    for (let i = 0; i < 2; i++) assert.equal(await sendCode(browser, form, wrongCode(h, 'peggy', i)), 200);
    // the next time step's code (the current one was spent confirming the enrolment)
    assert.equal(await sendCode(browser, form, totp(h.secrets.get('peggy')!, Math.floor(Date.now() / 1000) + 30)), 303);
    // counted afresh: the password step and MAX_FAILURES - 2 wrong codes stay below the limit
    const again = new Browser();
    const next = (await passwordStep(h, again, 'peggy'))!;
    for (let i = 0; i < MAX_FAILURES - 2; i++) assert.equal(await sendCode(again, next, wrongCode(h, 'peggy', 10 + i)), 200, `wrong code ${i + 1}`);
  });
});

describe('TOTP guessing: codes sent in parallel are counted before they are checked', () => {
  let h: Harness;
  // every answer waits a little (as after a few failures by default), the window in which
  // parallel guesses used to pass the check before any of them was counted
  before(async () => (h = await startEnrolled({ delay_after: 0, delay: '1s', max_delay: '1s' }, ['trudy'])));
  after(() => h.server.close());

  it(`at most ${MAX_FAILURES} of many parallel codes are checked`, async () => {
    const browser = new Browser();
    const form = (await passwordStep(h, browser, 'trudy'))!;
    const statuses = await Promise.all(Array.from({ length: 4 * MAX_FAILURES }, (_, i) => sendCode(browser, form, wrongCode(h, 'trudy', i))));
    const checked = statuses.filter((s) => s === 200).length;
    assert.ok(checked < MAX_FAILURES, `fewer than ${MAX_FAILURES} of ${statuses.length} parallel codes answered 200 (the page again), got ${checked}`);
    assert.equal(statuses.filter((s) => s === 429).length, statuses.length - checked);
  });
});
