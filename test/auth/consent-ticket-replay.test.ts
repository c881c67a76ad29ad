// A consent page is answered once. Its sealed ticket carries a random id, claimed in the shared
// one-time store (storage.jtis) by the POST it matches: the same form posted again, on this
// instance or another, or twice at once (a double click on Allow), is refused as a form that
// does not match its page is (the error page, 403), and gives no second authorization code.
// Two auth servers on one SQLite file, real HTTP, a cookie-jar browser, a fixed clock.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm, type ParsedForm } from '../helpers/browser.js';
import { foundWithin } from '../helpers/poll.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const VERIFIER = 'c'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');
const USERS = ['twice', 'elsewhere', 'double', 'deny-after'];

describe('a consent page is answered once, across instances', () => {
  let dir: string;
  let auditFile: string;
  let a: TestServer;
  let b: TestServer;
  const clock = fixedClock(Math.floor(Date.now() / 1000));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-consent-ticket-'));
    auditFile = join(dir, 'audit-a.jsonl');
    const auth = {
      brute_force: { enabled: false },
      users: USERS.map((username) => ({ username, password: PASSWORD })),
      clients: [{ client_id: 'app', client_name: 'App', redirect_uris: [CB], scopes: ['openid', 'email'] }],
    };
    const top = { storage: `sqlite:${join(dir, 'db.sqlite')}` };
    a = await startAuth({ ...auth, audit: { file: auditFile } }, top, { clock });
    b = await startAuth(auth, top, { clock });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Signs `username` in at instance A and returns the consent page's form. */
  async function consentPage(browser: Browser, username: string): Promise<ParsedForm> {
    const u = new URL(`${a.issuer}/oauth2/authorize`);
    const params = { client_id: 'app', redirect_uri: CB, response_type: 'code', scope: 'openid email', state: 'st', code_challenge: CHALLENGE, code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const login = parseForm(await (await browser.fetch(u.href)).text());
    const res = await browser.fetch(login.action, { form: [...login.fields, ['username', username], ['password', PASSWORD]] });
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /Allow access\?/);
    return parseForm(html);
  }

  /** The form posted with a decision, to `server` (same path), as a replaying browser would. */
  function answer(browser: Browser, form: ParsedForm, decision: 'allow' | 'deny', server = a): Promise<Response> {
    return browser.fetch(`${server.issuer}${new URL(form.action).pathname}`, { form: [...form.fields, ['decision', decision]] });
  }

  /** The code at the redirect URI of a 303. */
  function codeOf(res: Response, what: string): string {
    assert.equal(res.status, 303, what);
    const cb = new URL(res.headers.get('location')!);
    assert.equal(cb.origin + cb.pathname, CB, what);
    const code = cb.searchParams.get('code');
    assert.ok(code, `${what}: a code`);
    return code;
  }

  /** As a form that does not match its page is refused: an error page, no redirect, no code. */
  async function assertRefused(res: Response, what: string): Promise<void> {
    assert.equal(res.status, 403, what);
    assert.equal(res.headers.get('location'), null, what);
    assert.match(await res.text(), /consent page has expired or does not match/, what);
  }

  async function redeem(code: string): Promise<number> {
    const res = await postForm(`${a.issuer}/oauth2/token`, { grant_type: 'authorization_code', code, redirect_uri: CB, client_id: 'app', code_verifier: VERIFIER });
    await res.body?.cancel();
    return res.status;
  }

  function auditLine(username: string, event: string): Promise<Record<string, unknown>> {
    const lines = () => (existsSync(auditFile) ? readFileSync(auditFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) : []);
    return foundWithin(2000, () => lines().find((l) => l.event === event && l.username === username), `${event} for ${username}`);
  }

  it('the same consent form posted twice: the first gives a code at the redirect URI, the second the error page and none', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'twice');
    const code = codeOf(await answer(browser, form, 'allow'), 'first POST');
    await assertRefused(await answer(browser, form, 'allow'), 'second POST');
    assert.equal((await auditLine('twice', 'consent.refused')).reason, 'ticket_used');
    // what the first answer gave stands: the consent, and its code (once)
    assert.equal(await redeem(code), 200);
    // the page's Deny after its Allow: no access_denied redirect either
    await assertRefused(await answer(browser, form, 'deny'), 'Deny after Allow');
  });

  it('posted again to another instance: refused there too', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'elsewhere');
    codeOf(await answer(browser, form, 'allow', a), 'on A');
    await assertRefused(await answer(browser, form, 'allow', b), 'the same form on B');
  });

  it('a double click on Allow (three POSTs at once, on both instances): one code, the others refused', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'double');
    const answers = await Promise.all([answer(browser, form, 'allow', a), answer(browser, form, 'allow', b), answer(browser, form, 'allow', a)]);
    const won = answers.filter((res) => res.status === 303);
    assert.equal(won.length, 1, `one answer wins (${answers.map((res) => res.status).join(', ')})`);
    const code = codeOf(won[0]!, 'the winner');
    for (const res of answers.filter((r) => r !== won[0])) await assertRefused(res, 'the other clicks');
    assert.equal(await redeem(code), 200);
  });

  it('Deny answers the page once too: Allow after it is refused, nothing granted', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'deny-after');
    const denied = await answer(browser, form, 'deny');
    assert.equal(denied.status, 303);
    assert.equal(new URL(denied.headers.get('location')!).searchParams.get('error'), 'access_denied');
    await assertRefused(await answer(browser, form, 'allow', b), 'Allow after Deny');
    const user = await a.running.storage!.users.getByUsername('deny-after');
    assert.deepEqual(await a.running.storage!.consents.get(user!.id, 'app'), []);
  });
});
