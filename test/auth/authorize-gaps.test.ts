// Issue #3, second "Done when" bullet: the attack cases code-flow.test.ts and refresh*.test.ts
// do not already cover. Open redirects through odd redirect_uri spellings and through the
// hidden fields of the login and consent forms; PKCE downgrade at the token endpoint (the
// challenge itself sent as a `plain` verifier, malformed verifiers); a code redeemed in
// parallel (exactly one wins) and its refresh token revoked on replay; CSRF on the TOTP step.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { confirmTotpEnrolment, startTotpEnrolment } from '../../src/auth/mfa/user-mfa.js';
import { totp } from '../../src/auth/mfa/totp.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { migratedPostgresSchema, postgresUrl } from '../helpers/services.js';
import { Browser, parseForm, withField, withoutField } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';

function pkce(): { verifier: string; challenge: string } {
  const verifier = createHash('sha256').update(String(Math.random())).digest('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeAt(issuer: string, clientId: string, challenge: string, extra: Record<string, string> = {}): URL {
  const u = new URL(`${issuer}/oauth2/authorize`);
  const params = { client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: CB, state: 'st', code_challenge: challenge, code_challenge_method: 'S256', ...extra };
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u;
}

/** Signs alice in at `web` in `browser` (when not signed in yet) and returns the code. */
async function signInForCode(issuer: string, browser: Browser, challenge: string, scope = 'openid'): Promise<string> {
  const url = authorizeAt(issuer, 'web', challenge, { scope }).href;
  let res = await browser.fetch(url);
  if (res.status === 200) {
    const form = parseForm(await res.text());
    res = await browser.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] });
  }
  assert.ok(res.status === 302 || res.status === 303, `a redirect, got ${res.status}`);
  const code = new URL(res.headers.get('location')!).searchParams.get('code');
  assert.ok(code, `a code in ${res.headers.get('location')}`);
  return code;
}

function redeemAt(issuer: string, code: string, verifier: string | undefined): Promise<Response> {
  const form: Record<string, string> = { grant_type: 'authorization_code', client_id: 'web', code, redirect_uri: CB };
  if (verifier !== undefined) form.code_verifier = verifier;
  return postForm(`${issuer}/oauth2/token`, form);
}

async function expectOAuthError(res: Response, status: number, error: string): Promise<void> {
  assert.equal(res.status, status);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(((await res.json()) as { error: string }).error, error);
}

async function isActive(issuer: string, token: string): Promise<boolean> {
  const res = await postForm(`${issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', RS_SECRET) });
  return ((await res.json()) as { active: boolean }).active;
}

/** One code redeemed `n` times at once: exactly one wins, and the replays revoke what it got. */
async function parallelRedemption(issuer: string, n: number): Promise<void> {
  const browser = new Browser();
  const { verifier, challenge } = pkce();
  const code = await signInForCode(issuer, browser, challenge);
  const responses = await Promise.all(Array.from({ length: n }, () => redeemAt(issuer, code, verifier)));
  const ok = responses.filter((r) => r.status === 200);
  // one request consumed the code; when a replay raced it, that winner may be refused too
  // (its tokens are revoked before it answers): never more than one gets tokens
  assert.ok(ok.length <= 1, `statuses: ${responses.map((r) => r.status).join(',')}`);
  for (const r of responses.filter((x) => x.status !== 200)) await expectOAuthError(r, 400, 'invalid_grant');
  if (ok.length === 0) return;
  const tokens = (await ok[0]!.json()) as { access_token: string; refresh_token: string };
  // the losers were replays: everything issued from the code is revoked, even when the
  // winner stored its tokens after a loser's revocation ran
  assert.equal(await isActive(issuer, tokens.access_token), false, 'the access token of the winner is revoked');
  assert.equal(await isActive(issuer, tokens.refresh_token), false, 'the refresh token of the winner is revoked');
}

const CLIENTS = [
  {
    client_id: 'web',
    redirect_uris: [CB],
    grant_types: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'offline_access'],
    consent: 'skip',
  },
  { client_id: 'third', redirect_uris: [CB], grant_types: ['authorization_code'], scopes: ['openid'] },
  { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
];

describe('authorization endpoint and code grant: attack cases not covered elsewhere', () => {
  let server: TestServer;
  let totpSecret: string;

  before(async () => {
    server = await startAuth({
      brute_force: { enabled: false },
      users: [
        { username: 'alice', password: PASSWORD, claims: {} },
        { username: 'bob', password: PASSWORD, claims: {} },
        { username: 'tess', password: PASSWORD, claims: {} },
      ],
      clients: CLIENTS,
    });
    const ctx = server.running.auth!.ctx;
    const tess = (await ctx.storage.users.getByUsername('tess'))!;
    totpSecret = (await startTotpEnrolment(ctx, tess)).secret;
    assert.ok(await confirmTotpEnrolment(ctx, tess, totp(totpSecret, Math.floor(Date.now() / 1000))));
  });

  after(() => server?.close());

  const authorizeUrl = (clientId: string, challenge: string, extra: Record<string, string> = {}) => authorizeAt(server.issuer, clientId, challenge, extra);
  const codeFor = (browser: Browser, challenge: string, scope = 'openid') => signInForCode(server.issuer, browser, challenge, scope);
  const redeem = (code: string, verifier: string | undefined) => redeemAt(server.issuer, code, verifier);
  const active = (token: string) => isActive(server.issuer, token);

  function assertRefusedPage(res: Response, what: string): void {
    assert.equal(res.status, 400, what);
    assert.equal(res.headers.get('location'), null, `${what}: no Location`);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8', what);
  }

  describe('open redirects: more redirect_uri spellings → an error page, never a Location', () => {
    const cases: Array<[string, string]> = [
      ['javascript: URI', 'javascript:alert(document.domain)//https://app.example/cb'],
      ['data: URI', 'data:text/html,<script>alert(1)</script>'],
      ['scheme-relative', '//evil.example/cb'],
      ['userinfo trick', 'https://app.example@evil.example/cb'],
      ['userinfo on the right host', 'https://evil.example@app.example/cb'],
      ['trailing slash', `${CB}/`],
      ['fragment', `${CB}#x`],
      ['dot segments', 'https://app.example/cb/../evil'],
      ['percent-encoded path', 'https://app.example/%63b'],
      ['another port', 'https://app.example:8443/cb'],
      ['http instead of https', 'http://app.example/cb'],
      ['backslash host', 'https://evil.example\\@app.example/cb'],
      ['not a URL', 'cb'],
    ];
    for (const [name, redirectUri] of cases) {
      it(name, async () => {
        const url = authorizeUrl('web', pkce().challenge, { redirect_uri: redirectUri });
        assertRefusedPage(await new Browser().fetch(url.href), name);
      });
    }

    it('a repeated redirect_uri (one good, one evil) and a POSTed evil one', async () => {
      const url = authorizeUrl('web', pkce().challenge);
      url.searchParams.append('redirect_uri', 'https://evil.example/cb');
      assertRefusedPage(await new Browser().fetch(url.href), 'repeated');
      const form = [...authorizeUrl('web', pkce().challenge, { redirect_uri: 'https://evil.example/cb' }).searchParams];
      assertRefusedPage(await new Browser().fetch(`${server.issuer}/oauth2/authorize`, { form }), 'POST');
    });

    it('an error in the request (bad scope, prompt=none) still goes nowhere when the redirect_uri is not registered', async () => {
      for (const extra of [{ scope: 'openid admin' }, { prompt: 'none' }, { response_type: 'token' }] as Array<Record<string, string>>) {
        const url = authorizeUrl('web', pkce().challenge, { ...extra, redirect_uri: 'https://evil.example/cb' });
        assertRefusedPage(await new Browser().fetch(url.href), JSON.stringify(extra));
      }
    });

    it('the login form: an evil redirect_uri swapped into its hidden fields → error page, no session', async () => {
      const browser = new Browser();
      const form = parseForm(await (await browser.fetch(authorizeUrl('web', pkce().challenge).href)).text());
      const res = await browser.fetch(form.action, {
        form: [...withField(form.fields, 'redirect_uri', 'https://evil.example/cb'), ['username', 'alice'], ['password', PASSWORD]],
      });
      assertRefusedPage(res, 'login');
      assert.equal(browser.cookies.get('drawbridge_sso'), undefined);
    });

    it('the consent form: an evil redirect_uri swapped into its hidden fields → error page, nothing remembered', async () => {
      const browser = new Browser();
      const login = parseForm(await (await browser.fetch(authorizeUrl('third', pkce().challenge).href)).text());
      const consentPage = await browser.fetch(login.action, { form: [...login.fields, ['username', 'bob'], ['password', PASSWORD]] });
      assert.equal(consentPage.status, 200);
      const form = parseForm(await consentPage.text());
      const res = await browser.fetch(form.action, { form: [...withField(form.fields, 'redirect_uri', 'https://evil.example/cb'), ['decision', 'allow']] });
      assertRefusedPage(res, 'consent');
      const bob = await server.running.storage!.users.getByUsername('bob');
      assert.deepEqual(await server.running.storage!.consents.get(bob!.id, 'third'), []);
      // the untouched form still works: the refusal was about the redirect URI alone
      const ok = await browser.fetch(form.action, { form: [...form.fields, ['decision', 'allow']] });
      assert.equal(ok.status, 303);
      assert.equal(new URL(ok.headers.get('location')!).origin, 'https://app.example');
    });
  });

  describe('PKCE downgrade', () => {
    it('code_challenge_method spelled otherwise (s256, S512, empty) or a challenge that is no SHA-256 → invalid_request at the client', async () => {
      const good = pkce().challenge;
      for (const [extra, why] of [
        [{ code_challenge_method: 's256' }, 's256'],
        [{ code_challenge_method: 'S512' }, 'S512'],
        [{ code_challenge_method: '' }, 'empty method'],
        [{ code_challenge: good.slice(0, 42) }, '42 characters'],
        [{ code_challenge: `${good}A` }, '44 characters'],
        [{ code_challenge: `${good.slice(0, 42)}=` }, 'padding'],
      ] as Array<[Record<string, string>, string]>) {
        const res = await new Browser().fetch(authorizeUrl('web', good, extra).href);
        assert.equal(res.status, 302, why);
        const cb = new URL(res.headers.get('location')!);
        assert.equal(`${cb.origin}${cb.pathname}`, CB, why);
        assert.equal(cb.searchParams.get('error'), 'invalid_request', why);
        assert.equal(cb.searchParams.get('code'), null, why);
      }
    });

    it('the challenge itself sent as the verifier (a `plain` downgrade) → invalid_grant, and the code is spent', async () => {
      const browser = new Browser();
      const { verifier, challenge } = pkce();
      const code = await codeFor(browser, challenge);
      await expectOAuthError(await redeem(code, challenge), 400, 'invalid_grant');
      await expectOAuthError(await redeem(code, verifier), 400, 'invalid_grant');
    });

    it('a malformed verifier (too short, too long, bad characters) → invalid_request; the code is spent', async () => {
      const browser = new Browser();
      for (const bad of ['a'.repeat(42), 'a'.repeat(129), `${'a'.repeat(42)}+`, `${'a'.repeat(42)} `]) {
        const { verifier, challenge } = pkce();
        const code = await codeFor(browser, challenge);
        await expectOAuthError(await redeem(code, bad), 400, 'invalid_request');
        await expectOAuthError(await redeem(code, verifier), 400, 'invalid_grant');
      }
    });

    it('a 43-character verifier of the allowed alphabet but not the one behind the challenge → invalid_grant', async () => {
      const browser = new Browser();
      const { challenge } = pkce();
      const code = await codeFor(browser, challenge);
      await expectOAuthError(await redeem(code, `${'~._-'.repeat(10)}abc`), 400, 'invalid_grant');
    });
  });

  describe('code replay', () => {
    it('8 parallel redemptions of one code: exactly one succeeds, and its tokens end up revoked', () => parallelRedemption(server.issuer, 8));

    it('a replay later revokes the refresh token issued from the code (also an offline one)', async () => {
      const browser = new Browser();
      const { verifier, challenge } = pkce();
      const code = await codeFor(browser, challenge, 'openid offline_access');
      const first = await redeem(code, verifier);
      assert.equal(first.status, 200);
      const tokens = (await first.json()) as { access_token: string; refresh_token: string };
      assert.equal(await active(tokens.refresh_token), true);
      await expectOAuthError(await redeem(code, verifier), 400, 'invalid_grant');
      assert.equal(await active(tokens.access_token), false);
      assert.equal(await active(tokens.refresh_token), false);
      await expectOAuthError(
        await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', client_id: 'web', refresh_token: tokens.refresh_token }),
        400,
        'invalid_grant',
      );
    });
  });

  describe('CSRF on the TOTP step', () => {
    it('the code form without, with a wrong, or with another browser’s token → 403, no session', async () => {
      const browser = new Browser();
      const login = parseForm(await (await browser.fetch(authorizeUrl('web', pkce().challenge).href)).text());
      const mfaPage = await browser.fetch(login.action, { form: [...login.fields, ['username', 'tess'], ['password', PASSWORD]] });
      assert.equal(mfaPage.status, 200);
      const form = parseForm(await mfaPage.text());
      const code = totp(totpSecret, Math.floor(Date.now() / 1000) + 30);
      const attacker = new Browser();
      const theirs = parseForm(await (await attacker.fetch(authorizeUrl('web', pkce().challenge).href)).text());
      const theirToken = theirs.fields.find(([k]) => k === 'csrf_token')![1];
      for (const fields of [withoutField(form.fields, 'csrf_token'), withField(form.fields, 'csrf_token', 'x'.repeat(43)), withField(form.fields, 'csrf_token', theirToken)]) {
        const res = await browser.fetch(form.action, { form: [...fields, ['otp', code]] });
        assert.equal(res.status, 403);
        assert.equal(res.headers.get('location'), null);
        assert.equal(browser.cookies.get('drawbridge_sso'), undefined);
      }
      // the refused posts did not spend the code: the genuine form goes through with it
      const ok = await browser.fetch(form.action, { form: [...form.fields, ['otp', code]] });
      assert.equal(ok.status, 303);
      assert.ok(browser.cookies.get('drawbridge_sso'));
    });

    it('a cross-site login POST from a browser without the CSRF cookie → 403', async () => {
      const victim = new Browser();
      const attacker = new Browser();
      const form = parseForm(await (await attacker.fetch(authorizeUrl('web', pkce().challenge).href)).text());
      // the victim's browser posts the attacker's form (its own cookie jar is empty)
      const res = await victim.fetch(form.action, { form: [...form.fields, ['username', 'alice'], ['password', PASSWORD]] });
      assert.equal(res.status, 403);
      assert.equal(victim.cookies.get('drawbridge_sso'), undefined);
    });
  });
});

// The same race on storage that really runs concurrently: PostgreSQL answers asynchronously,
// so a loser's revocation can run before the winner has stored its tokens.
describe('parallel redemption of one code on PostgreSQL and SQLite', () => {
  // a loser's revocation can run before the winner has stored its tokens: the loser marks the
  // code as replayed and the winner, once its tokens are stored, sees the mark and revokes them
  it('PostgreSQL: 3 rounds of 8 parallel redemptions', async (t) => {
    const base = await postgresUrl();
    if (base === undefined) return t.skip('PostgreSQL not reachable');
    const schema = await migratedPostgresSchema(base);
    t.after(() => schema.drop());
    const server = await startAuth({ brute_force: { enabled: false }, users: [{ username: 'alice', password: PASSWORD, claims: {} }], clients: CLIENTS }, { storage: schema.url });
    t.after(() => server.close());
    for (let i = 0; i < 3; i++) await parallelRedemption(server.issuer, 8);
  });

  it('SQLite file: 3 rounds of 8 parallel redemptions', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'drawbridge-code-race-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const server = await startAuth({ brute_force: { enabled: false }, users: [{ username: 'alice', password: PASSWORD, claims: {} }], clients: CLIENTS }, { storage: `sqlite:${join(dir, 'db.sqlite')}` });
    t.after(() => server.close());
    for (let i = 0; i < 3; i++) await parallelRedemption(server.issuer, 8);
  });
});
