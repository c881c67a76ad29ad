// A consent page is answered once. Its sealed ticket carries a random id, claimed in the shared
// one-time store (storage.jtis) by the POST it matches: the same form posted again, on this
// instance or another, or several times at once (a double click on Allow), grants and denies
// nothing more. That POST goes on as the request sent again would: through to a code when the
// first answer stored the consent (a double click lands where one click does), else to a fresh
// consent page. Each such repeat is audited as `consent.repeated` (with the decision it posted).
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
  let auditFileB: string;
  let a: TestServer;
  let b: TestServer;
  const clock = fixedClock(Math.floor(Date.now() / 1000));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-consent-ticket-'));
    auditFile = join(dir, 'audit-a.jsonl');
    auditFileB = join(dir, 'audit-b.jsonl');
    const auth = {
      brute_force: { enabled: false },
      users: USERS.map((username) => ({ username, password: PASSWORD })),
      clients: [{ client_id: 'app', client_name: 'App', redirect_uris: [CB], scopes: ['openid', 'email'] }],
    };
    const top = { storage: `sqlite:${join(dir, 'db.sqlite')}` };
    a = await startAuth({ ...auth, audit: { file: auditFile } }, top, { clock });
    b = await startAuth({ ...auth, audit: { file: auditFileB } }, top, { clock });
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

  /** The consent page shown afresh: a new form, no redirect, no code. */
  async function assertConsentPageAgain(res: Response, what: string): Promise<void> {
    assert.equal(res.status, 200, what);
    assert.equal(res.headers.get('location'), null, what);
    assert.match(await res.text(), /Allow access\?/, what);
  }

  async function redeem(code: string): Promise<number> {
    const res = await postForm(`${a.issuer}/oauth2/token`, { grant_type: 'authorization_code', code, redirect_uri: CB, client_id: 'app', code_verifier: VERIFIER });
    await res.body?.cancel();
    return res.status;
  }

  /** What the audit says of the repeated POSTs of `username`'s page: the decision each posted, once `count` are written. */
  async function repeats(username: string, count: number): Promise<string[]> {
    await foundWithin(2000, () => (auditLines(username, 'consent.repeated').length >= count ? true : undefined), `${count} consent.repeated`);
    const lines = auditLines(username, 'consent.repeated');
    for (const l of lines) {
      assert.equal(l.client_id, 'app');
      assert.equal(l.scope, 'openid email');
      assert.equal(typeof l.user_id, 'string');
    }
    return lines.map((l) => String(l.decision)).sort();
  }

  /** Every audit line of `event` for `username`, on both instances. */
  function auditLines(username: string, event: string): Array<Record<string, unknown>> {
    const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) : []);
    return [...read(auditFile), ...read(auditFileB)].filter((l) => l.event === event && l.username === username);
  }

  it('the same consent form posted twice: the first grants, the second grants nothing and lands at the client as a click would', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'twice');
    const first = codeOf(await answer(browser, form, 'allow'), 'first POST');
    await foundWithin(2000, () => auditLines('twice', 'consent.granted')[0], 'consent.granted');
    // the second: the stored consent lets the request through, with a code of its own
    const second = codeOf(await answer(browser, form, 'allow'), 'second POST');
    assert.notEqual(second, first);
    // the page's Deny after its Allow decides nothing either: no access_denied, the consent stands
    const deny = await answer(browser, form, 'deny');
    assert.equal(new URL(deny.headers.get('location')!).searchParams.get('error'), null, 'Deny after Allow');
    codeOf(deny, 'Deny after Allow');
    assert.equal(auditLines('twice', 'consent.granted').length, 1, 'granted once');
    assert.equal(auditLines('twice', 'consent.denied').length, 0, 'never denied');
    // the two repeats are audited, with what each posted, and are not refusals
    assert.deepEqual(await repeats('twice', 2), ['allow', 'deny']);
    assert.equal(auditLines('twice', 'consent.refused').length, 0);
    assert.equal(await redeem(second), 200);
    assert.equal(await redeem(first), 200);
  });

  it('posted again to another instance: it decides nothing there either', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'elsewhere');
    codeOf(await answer(browser, form, 'allow', a), 'on A');
    const deny = await answer(browser, form, 'deny', b);
    assert.equal(new URL(deny.headers.get('location')!).searchParams.get('error'), null, 'Deny on B after Allow on A');
    assert.equal(auditLines('elsewhere', 'consent.denied').length, 0);
    // audited by the instance it reached
    assert.deepEqual(await repeats('elsewhere', 1), ['deny']);
    assert.equal(readFileSync(auditFileB, 'utf8').includes('"consent.repeated"'), true);
  });

  it('a double click on Allow (three POSTs at once, on both instances): one grants, none is an error', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'double');
    const answers = await Promise.all([answer(browser, form, 'allow', a), answer(browser, form, 'allow', b), answer(browser, form, 'allow', a)]);
    // a click that ran before the winner stored the consent sees the page afresh; the others get a code
    for (const res of answers) {
      if (res.status === 303) codeOf(res, 'a click');
      else await assertConsentPageAgain(res, 'a click before the consent was stored');
    }
    assert.ok(answers.some((res) => res.status === 303), `${answers.map((res) => res.status).join(', ')}`);
    await foundWithin(2000, () => auditLines('double', 'consent.granted')[0], 'consent.granted');
    assert.equal(auditLines('double', 'consent.granted').length, 1, 'granted once');
    // the other two clicks: repeats
    assert.deepEqual(await repeats('double', 2), ['allow', 'allow']);
  });

  it('Deny answers the page once too: Allow after it grants nothing and shows the consent page afresh', async () => {
    const browser = new Browser();
    const form = await consentPage(browser, 'deny-after');
    const denied = await answer(browser, form, 'deny');
    assert.equal(denied.status, 303);
    assert.equal(new URL(denied.headers.get('location')!).searchParams.get('error'), 'access_denied');
    await assertConsentPageAgain(await answer(browser, form, 'allow', b), 'Allow after Deny');
    const user = await a.running.storage!.users.getByUsername('deny-after');
    assert.deepEqual(await a.running.storage!.consents.get(user!.id, 'app'), []);
    assert.equal(auditLines('deny-after', 'consent.granted').length, 0);
    assert.deepEqual(await repeats('deny-after', 1), ['allow']);
  });
});
