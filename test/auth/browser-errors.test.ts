// Unexpected errors (a bug, a real 500) on the pages a browser reaches: the authorization
// endpoint, its login, TOTP and consent forms (they post back to it), and the end-session
// endpoint. A browser is at the other end, so never the back channel's JSON 500:
//   - the client and its redirect URI established: error=server_error at the redirect URI
//     (RFC 6749 §4.1.2.1), with state and iss, in the response mode asked for;
//   - before that (the client lookup itself failed), and at logout: an HTML error page, 500,
//     with nothing of the cause, only a request id to quote; the error is logged with that id.
// The fault is real code failing: the storage the server runs on, wrapped so that a chosen
// repository method throws a plain TypeError, as a bug in it would.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { startAuthServer, type RunningAuthServer } from '../../src/auth/start.js';
import { startTotpEnrolment, confirmTotpEnrolment } from '../../src/auth/mfa/user-mfa.js';
import { totp } from '../../src/auth/mfa/totp.js';
import { openKeyring } from '../../src/cli/run.js';
import { validateConfig } from '../../src/config/index.js';
import { systemClock } from '../../src/core/clock.js';
import { UnavailableError } from '../../src/core/errors.js';
import type { Keyring } from '../../src/crypto/keyring.js';
import { createAuditLog } from '../../src/observability/audit.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { freePort, testKeys, TEST_SECRET } from '../helpers/auth-server.js';
import { Browser, parseForm, type ParsedForm } from '../helpers/browser.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const CHALLENGE = createHash('sha256').update('v'.repeat(43)).digest('base64url');
const MODES = ['query', 'fragment', 'form_post'] as const;
type Mode = (typeof MODES)[number];
/** what the bug says; it must reach the log, never the browser */
const BUG = "Cannot read properties of undefined (reading 'scopeList')";

type Line = Record<string, unknown>;

/**
 * `storage` with every repository method behind a switch: `fail.set('consents.grant', …)`
 * makes that method reject with the error made, until deleted.
 */
function withFaults(storage: Storage, fail: Map<string, () => Error>): Storage {
  const repos = new Map<PropertyKey, unknown>();
  return new Proxy(storage, {
    get(target, repoName) {
      const repo: unknown = Reflect.get(target, repoName);
      if (typeof repo !== 'object' || repo === null) return repo;
      if (!repos.has(repoName)) {
        repos.set(repoName, new Proxy(repo, {
          get(r, method) {
            const fn: unknown = Reflect.get(r, method);
            if (typeof fn !== 'function') return fn;
            return (...args: unknown[]) => {
              const fault = fail.get(`${String(repoName)}.${String(method)}`);
              return fault ? Promise.reject(fault()) : (fn as (...a: unknown[]) => unknown).apply(r, args);
            };
          },
        }));
      }
      return repos.get(repoName);
    },
  });
}

const bug = () => new TypeError(BUG);

describe('unexpected errors on the browser-facing pages', () => {
  const fail = new Map<string, () => Error>();
  const lines: Line[] = [];
  let storage: Storage;
  let keyring: Keyring;
  let auth: RunningAuthServer;
  let issuer: string;

  before(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    const config = validateConfig({
      issuer,
      storage: 'memory:',
      secret: TEST_SECRET,
      log: { level: 'info' },
      keys: testKeys({}),
      auth: {
        listen: `127.0.0.1:${port}`,
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD }, { username: 'tess', password: PASSWORD }],
        clients: [
          { client_id: 'web', redirect_uris: [CB], scopes: ['openid', 'profile'], post_logout_redirect_uris: ['https://app.example/bye'] },
          { client_id: 'fresh', redirect_uris: [CB], scopes: ['openid'] },
        ],
      },
    });
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
    storage = await openStorage(config.storage);
    keyring = openKeyring(config, storage, systemClock, logger);
    await keyring.start();
    auth = await startAuthServer({ config, storage: withFaults(storage, fail), keyring, clock: systemClock, logger, audit: createAuditLog(undefined, { silent: true }) });
    // tess has TOTP: her password leads to the code page
    const tess = (await storage.users.getByUsername('tess'))!;
    const { secret } = await startTotpEnrolment(auth.ctx, tess);
    assert.ok(await confirmTotpEnrolment(auth.ctx, tess, totp(secret, systemClock.now())));
  });

  after(async () => {
    await auth?.close();
    keyring?.stop();
    await storage?.close();
  });

  beforeEach(() => fail.clear());

  function authorizeUrl(clientId: string, extra: Record<string, string> = {}): string {
    const u = new URL(`${issuer}/oauth2/authorize`);
    const params = { client_id: clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state: 'st-1', code_challenge: CHALLENGE, code_challenge_method: 'S256', ...extra };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u.href;
  }

  /** The page a step answers with (login, code, consent, logout confirmation): its form. */
  async function page(res: Promise<Response>): Promise<ParsedForm> {
    const r = await res;
    const html = await r.text();
    assert.equal(r.status, 200, html.slice(0, 300));
    return parseForm(html);
  }

  function login(browser: Browser, form: ParsedForm, username = 'alice'): Promise<Response> {
    return browser.fetch(form.action, { form: [...form.fields, ['username', username], ['password', PASSWORD]] });
  }

  /** The error was logged at error level with the request id the browser got. */
  function assertLogged(requestId: string, what: string): void {
    const line = lines.find((l) => l.requestId === requestId && l.level === 50);
    assert.ok(line, `${what}: an error line with request id ${requestId}`);
    assert.match(JSON.stringify(line.err), /scopeList/, `${what}: the cause is in the log`);
  }

  /** The HTML error page: 500, the request id to quote, nothing of the cause. */
  async function assertErrorPage(res: Response, what: string, requestId: string): Promise<void> {
    const body = await res.text();
    assert.equal(res.status, 500, `${what}: status (body: ${body.slice(0, 300)})`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html\b/, `${what}: an HTML page, not JSON`);
    assert.equal(res.headers.get('cache-control'), 'no-store', `${what}: Cache-Control`);
    assert.equal(res.headers.get('location'), null, `${what}: no redirect`);
    assert.equal(res.headers.get('x-request-id'), requestId, what);
    assert.match(body, /<h1>[^<]+<\/h1>/, `${what}: the page's title`);
    assert.ok(body.includes(requestId), `${what}: the request id to quote`);
    assert.doesNotMatch(body, /scopeList|TypeError|undefined|\n\s+at |server_error/, `${what}: nothing of the cause`);
    assertLogged(requestId, what);
  }

  /** error=server_error back at the redirect URI, the way the client asked. */
  async function assertServerError(res: Response, mode: Mode, what: string): Promise<void> {
    let got: URLSearchParams;
    if (mode === 'form_post') {
      const body = await res.text();
      assert.equal(res.status, 200, `${what}: the form_post page (body: ${body.slice(0, 300)})`);
      const form = parseForm(body);
      assert.equal(form.action, CB, what);
      got = new URLSearchParams(form.fields);
    } else {
      const body = await res.text();
      assert.ok(res.status === 302 || res.status === 303, `${what}: a redirect, got ${res.status} (${body.slice(0, 300)})`);
      const location = new URL(res.headers.get('location')!);
      assert.equal(location.origin + location.pathname, CB, what);
      got = new URLSearchParams(mode === 'query' ? location.search : location.hash.slice(1));
    }
    assert.equal(got.get('error'), 'server_error', what);
    assert.equal(got.get('state'), 'st-1', `${what}: state`);
    assert.equal(got.get('iss'), issuer, `${what}: iss`);
    assert.equal(got.get('code'), null, `${what}: no code`);
    assert.doesNotMatch(got.get('error_description') ?? '', /scopeList|TypeError/, `${what}: nothing of the cause`);
    assertLogged(res.headers.get('x-request-id')!, what);
  }

  it('the client lookup fails: an HTML 500 page with the request id (GET, and the login POST)', async () => {
    fail.set('clients.get', bug);
    const browser = new Browser();
    await assertErrorPage(await browser.fetch(authorizeUrl('fresh'), { headers: { 'x-request-id': 'support-ref-1' } }), 'GET', 'support-ref-1');
    const res = await browser.fetch(`${issuer}/oauth2/authorize`, {
      form: [['client_id', 'fresh'], ['redirect_uri', CB], ['response_type', 'code'], ['state', 'st-1'], ['action', 'login'], ['username', 'alice'], ['password', PASSWORD]],
    });
    await assertErrorPage(res, 'login POST', res.headers.get('x-request-id')!);
  });

  it('the login POST fails: server_error at the redirect URI, in every response mode', async () => {
    for (const mode of MODES) {
      const browser = new Browser();
      const form = await page(browser.fetch(authorizeUrl('web', { response_mode: mode })));
      fail.set('users.getByUsername', bug);
      await assertServerError(await login(browser, form), mode, `login, ${mode}`);
      fail.clear();
    }
  });

  it('the TOTP POST fails: server_error at the redirect URI', async () => {
    const browser = new Browser();
    const loginForm = await page(browser.fetch(authorizeUrl('web')));
    const codeForm = await page(login(browser, loginForm, 'tess'));
    assert.ok(codeForm.fields.some(([k, v]) => k === 'action' && v === 'mfa'), 'the code page');
    fail.set('users.getMfa', bug);
    await assertServerError(await browser.fetch(codeForm.action, { form: [...codeForm.fields, ['otp', '123456']] }), 'query', 'TOTP');
  });

  it('the consent POST fails, and a signed-in GET fails: server_error at the redirect URI', async () => {
    const browser = new Browser();
    const loginForm = await page(browser.fetch(authorizeUrl('web', { scope: 'openid profile' })));
    const consentForm = await page(login(browser, loginForm));
    assert.ok(consentForm.fields.some(([k]) => k === 'consent_ticket'), 'the consent page');
    fail.set('consents.grant', bug);
    await assertServerError(await browser.fetch(consentForm.action, { form: [...consentForm.fields, ['decision', 'allow']] }), 'query', 'consent');
    fail.clear();
    fail.set('consents.get', bug);
    await assertServerError(await browser.fetch(authorizeUrl('web', { response_mode: 'fragment' })), 'fragment', 'signed-in GET');
  });

  it('logout: an unexpected error is an HTML 500 page; an outage a 503 page with Retry-After', async () => {
    const browser = new Browser();
    const loginForm = await page(browser.fetch(authorizeUrl('web')));
    const consentForm = await page(login(browser, loginForm));
    const done = await browser.fetch(consentForm.action, { form: [...consentForm.fields, ['decision', 'allow']] });
    assert.equal(done.status, 303);
    const logoutUrl = `${issuer}/oauth2/logout?client_id=web&post_logout_redirect_uri=${encodeURIComponent('https://app.example/bye')}&state=k`;

    // the confirmation page cannot be made
    fail.set('users.get', bug);
    let res = await browser.fetch(logoutUrl);
    await assertErrorPage(res, 'logout GET', res.headers.get('x-request-id')!);
    fail.clear();

    // the confirmed sign-out fails half-way: the page, not a redirect that says it worked
    const confirm = await page(browser.fetch(logoutUrl));
    fail.set('ssoSessions.end', bug);
    res = await browser.fetch(confirm.action, { form: [...confirm.fields, ['action', 'logout']] });
    await assertErrorPage(res, 'logout POST', res.headers.get('x-request-id')!);
    fail.clear();

    // the client cannot be looked up: storage is down
    fail.set('clients.get', () => new UnavailableError('storage unavailable', { cause: new Error('connect ECONNREFUSED 127.0.0.1:5432') }));
    res = await new Browser().fetch(`${issuer}/oauth2/logout?client_id=fresh`);
    const body = await res.text();
    assert.equal(res.status, 503, body.slice(0, 300));
    assert.match(res.headers.get('content-type') ?? '', /^text\/html\b/);
    assert.match(res.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
    assert.match(body, /temporarily unavailable/i);
    assert.doesNotMatch(body, /storage|ECONN/i);
    fail.clear();

    // and once it works again, the sign-out goes through
    const again = await page(browser.fetch(logoutUrl));
    res = await browser.fetch(again.action, { form: [...again.fields, ['action', 'logout']] });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), 'https://app.example/bye?state=k');
  });
});
