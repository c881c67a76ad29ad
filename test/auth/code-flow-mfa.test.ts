// Issue #3, continued: the TOTP step for enrolled users, `consent: skip`, a denied consent,
// and SSO session timeouts (fixed clock).
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { confirmTotpEnrolment, startTotpEnrolment } from '../../src/auth/mfa/user-mfa.js';
import { totp } from '../../src/auth/mfa/totp.js';
import type { Clock } from '../../src/core/clock.js';
import { validateConfig } from '../../src/config/index.js';
import { postForm, startAuth, TEST_SECRET, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const VERIFIER = 'v'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

class FixedClock implements Clock {
  t = Math.floor(Date.now() / 1000);
  now(): number {
    return this.t;
  }
}

describe('authorization code flow: MFA, consent skip and deny, session timeouts', () => {
  let server: TestServer;
  const clock = new FixedClock();
  let totpSecret: string;

  before(async () => {
    server = await startAuth(
      {
        brute_force: { enabled: false },
        sessions: { idle_timeout: '10m', absolute_timeout: '1h' },
        branding: { product_name: 'Acme <ID>', primary_color: '#aa0011', logo_url: 'data:image/png;base64,iVBORw0KGgo=' },
        users: [
          { username: 'mallory', password: PASSWORD, claims: {} },
          { username: 'plain', password: PASSWORD, claims: {} },
        ],
        clients: [
          { client_id: 'first', redirect_uris: [CB], scopes: ['openid'], consent: 'skip' },
          { client_id: 'third', redirect_uris: [CB], scopes: ['openid'] },
        ],
      },
      {},
      { clock },
    );
    const ctx = server.running.auth!.ctx;
    const mallory = (await ctx.storage.users.getByUsername('mallory'))!;
    const enrolment = await startTotpEnrolment(ctx, mallory);
    totpSecret = enrolment.secret;
    assert.ok(await confirmTotpEnrolment(ctx, mallory, totp(totpSecret, clock.now())));
    clock.t += 60; // the confirming code's time step is spent
  });

  after(() => server.close());

  function authorizeUrl(clientId: string, extra: Record<string, string> = {}): string {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 's1', code_challenge: CHALLENGE, code_challenge_method: 'S256', ...extra };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.href;
  }

  async function passwordStep(browser: Browser, url: string, username: string): Promise<Response> {
    const form = parseForm(await (await browser.fetch(url)).text());
    return browser.fetch(form.action, { form: [...form.fields, ['username', username], ['password', PASSWORD]] });
  }

  it('an enrolled user must pass the TOTP step before the session exists; amr says so', async () => {
    const browser = new Browser();
    const mfaPage = await passwordStep(browser, authorizeUrl('first'), 'mallory');
    assert.equal(mfaPage.status, 200);
    assert.equal(browser.cookies.get('drawbridge_sso'), undefined, 'no session after the password alone');
    const html = await mfaPage.text();
    assert.match(html, /autocomplete="one-time-code"/);
    const form = parseForm(html);
    const wrong = await browser.fetch(form.action, { form: [...form.fields, ['otp', '000000']] });
    assert.equal(wrong.status, 200);
    assert.equal(browser.cookies.get('drawbridge_sso'), undefined);
    const forged = await browser.fetch(form.action, { form: [...form.fields.filter(([k]) => k !== 'mfa_ticket'), ['mfa_ticket', 'v1.forged'], ['otp', totp(totpSecret, clock.now())]] });
    assert.equal(forged.status, 403);
    const ok = await browser.fetch(form.action, { form: [...form.fields, ['otp', totp(totpSecret, clock.now())]] });
    assert.equal(ok.status, 303, 'consent: skip → straight to the client');
    const cb = new URL(ok.headers.get('location')!);
    assert.equal(cb.searchParams.get('state'), 's1');
    const token = await postForm(`${server.issuer}/oauth2/token`, {
      grant_type: 'authorization_code', client_id: 'first', code: cb.searchParams.get('code')!, redirect_uri: CB, code_verifier: VERIFIER,
    });
    assert.equal(token.status, 200);
    const { id_token } = (await token.json()) as { id_token: string };
    const claims = JSON.parse(Buffer.from(id_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.aud, 'first');
  });

  it('branding: name, color and logo on the pages; images only from self and data:', async () => {
    const res = await new Browser().fetch(authorizeUrl('third'));
    assert.equal(res.status, 200);
    assert.equal(
      res.headers.get('content-security-policy')!.replace(/nonce-[A-Za-z0-9_-]+/, 'nonce-X'),
      "default-src 'none'; style-src 'nonce-X'; img-src 'self' data:; form-action 'self' https://app.example; frame-ancestors 'none'; base-uri 'none'",
    );
    const html = await res.text();
    assert.match(html, /<title>Sign in · Acme &lt;ID&gt;<\/title>/);
    assert.match(html, /background:#aa0011/);
    assert.match(html, /<img class="logo" src="data:image\/png;base64,iVBORw0KGgo=" alt="Acme &lt;ID&gt;">/);
  });

  it('branding: an external logo URL is a config error', () => {
    for (const logo_url of ['https://evil.example/logo.png', '//evil.example/logo.png', 'javascript:alert(1)']) {
      assert.throws(
        () => validateConfig({ issuer: 'http://127.0.0.1:9000', storage: 'memory:', secret: TEST_SECRET, auth: { branding: { logo_url } } }),
        /auth\.branding\.logo_url/,
        logo_url,
      );
    }
  });

  it('denying consent → access_denied at the redirect URI, nothing remembered', async () => {
    const browser = new Browser();
    const consentPage = await passwordStep(browser, authorizeUrl('third'), 'plain');
    assert.equal(consentPage.status, 200);
    const form = parseForm(await consentPage.text());
    const res = await browser.fetch(form.action, { form: [...form.fields, ['decision', 'deny']] });
    assert.equal(res.status, 303);
    const cb = new URL(res.headers.get('location')!);
    assert.equal(cb.searchParams.get('error'), 'access_denied');
    assert.equal(cb.searchParams.get('state'), 's1');
    assert.equal(cb.searchParams.get('iss'), server.issuer);
    const again = await browser.fetch(authorizeUrl('third'));
    assert.equal(again.status, 200, 'asked again');
    assert.match(await again.text(), /Allow access\?/);
  });

  it('the SSO session ends after the idle timeout and after the absolute timeout', async () => {
    const browser = new Browser();
    const first = await passwordStep(browser, authorizeUrl('first'), 'plain');
    assert.equal(first.status, 303);
    const none = authorizeUrl('first', { prompt: 'none' });
    // used every 9 minutes: alive past the idle timeout of 10 minutes…
    for (let i = 0; i < 6; i++) {
      clock.t += 9 * 60;
      const res = await browser.fetch(none);
      assert.equal(res.status, 302);
      assert.ok(new URL(res.headers.get('location')!).searchParams.get('code'), `use ${i}`);
    }
    // …but not past the absolute one (1 h after login)
    clock.t += 9 * 60;
    const late = await browser.fetch(none);
    assert.equal(new URL(late.headers.get('location')!).searchParams.get('error'), 'login_required');

    const idle = new Browser();
    assert.equal((await passwordStep(idle, authorizeUrl('first'), 'plain')).status, 303);
    clock.t += 10 * 60;
    const res = await idle.fetch(none);
    assert.equal(new URL(res.headers.get('location')!).searchParams.get('error'), 'login_required');
  });
});
