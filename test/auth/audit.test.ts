// The audit log (issue #3): JSON lines in auth.audit.file with time first, the event, request
// id, user, client and IP; never a password, token or code. Driven through the real token,
// revocation and authorization endpoints.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auditLine, createAuditLog, fileAudit, isSecretKey, noAudit } from '../../src/observability/audit.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { foundWithin } from '../helpers/poll.js';

const SECRET = 'audit-client-secret-0123456789abcdef';
const PASSWORD = 'correct horse battery staple 42';
const WRONG = 'Wr0ng-Pa55word-that-must-never-be-logged';
const CB = 'https://app.example/cb';

type Line = Record<string, unknown>;

describe('audit log', () => {
  let server: TestServer;
  let dir: string;
  let file: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drawbridge-audit-'));
    file = join(dir, 'logs', 'audit.jsonl');
    server = await startAuth({
      audit: { file },
      refresh_grace_period: '0s',
      brute_force: { max_failures: 3, delay_after: 10 },
      clients: [
        { client_id: 'legacy', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scopes: ['orders:read'] },
        { client_id: 'web', redirect_uris: [CB], scopes: ['openid'], grant_types: ['implicit'] },
      ],
      users: [
        { username: 'alice', password: PASSWORD },
        { username: 'victim', password: PASSWORD },
      ],
    });
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function lines(): Line[] {
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
  }

  /** Lines are written asynchronously: wait (briefly) until `match` finds one. */
  function waitFor(match: (l: Line) => boolean, what: string): Promise<Line> {
    return foundWithin(2000, () => lines().find(match), () => `no audit line for ${what}; have: ${readFileSync(file, 'utf8')}`);
  }

  function password(username: string, pw: string, requestId: string): Promise<Response> {
    return postForm(
      `${server.issuer}/oauth2/token`,
      { grant_type: 'password', username, password: pw, scope: 'orders:read' },
      { authorization: basic('legacy', SECRET), 'x-request-id': requestId },
    );
  }

  it('a failed login: event, time first, request id, user, client, IP, reason, and no password', async () => {
    const res = await password('alice', WRONG, 'req-failed-login-1');
    assert.equal(res.status, 400);
    const line = await waitFor((l) => l.event === 'login.failed' && l.request_id === 'req-failed-login-1', 'login.failed');
    assert.equal(Object.keys(line)[0], 'time', 'time is the first key');
    assert.ok(!Number.isNaN(Date.parse(String(line.time))) && String(line.time).endsWith('Z'), 'ISO 8601 UTC');
    assert.equal(line.username, 'alice');
    assert.equal(line.client_id, 'legacy');
    assert.equal(line.ip, '127.0.0.1');
    assert.equal(line.reason, 'wrong_password');
    assert.equal(typeof line.user_id, 'string');
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes(WRONG), 'the password is nowhere in the file');
    assert.ok(!text.includes(SECRET), 'the client secret is nowhere in the file');
  });

  it('login.succeeded and token.issued (grant_type, client, sub, scope), then token.refreshed and token.revoked', async () => {
    const res = await password('alice', PASSWORD, 'req-login-ok-1');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { access_token: string; refresh_token: string };
    const ok = await waitFor((l) => l.event === 'login.succeeded' && l.request_id === 'req-login-ok-1', 'login.succeeded');
    assert.equal(ok.username, 'alice');
    const issued = await waitFor((l) => l.event === 'token.issued' && l.request_id === 'req-login-ok-1', 'token.issued');
    assert.equal(issued.grant_type, 'password');
    assert.equal(issued.client_id, 'legacy');
    assert.equal(issued.sub, ok.user_id);
    assert.equal(issued.scope, 'orders:read');
    assert.deepEqual(issued.issued, ['access_token', 'refresh_token']);
    assert.equal(issued.ip, '127.0.0.1');

    const refreshed = await postForm(
      `${server.issuer}/oauth2/token`,
      { grant_type: 'refresh_token', refresh_token: body.refresh_token },
      { authorization: basic('legacy', SECRET), 'x-request-id': 'req-refresh-1' },
    );
    assert.equal(refreshed.status, 200);
    const next = (await refreshed.json()) as { access_token: string; refresh_token: string };
    const r = await waitFor((l) => l.event === 'token.refreshed' && l.request_id === 'req-refresh-1', 'token.refreshed');
    assert.equal(r.grant_type, 'refresh_token');
    assert.equal(r.sub, ok.user_id);
    assert.equal(r.client_id, 'legacy');

    // the retired refresh token again (no grace period): reuse detected, the family revoked
    const reused = await postForm(
      `${server.issuer}/oauth2/token`,
      { grant_type: 'refresh_token', refresh_token: body.refresh_token },
      { authorization: basic('legacy', SECRET), 'x-request-id': 'req-reuse-1' },
    );
    assert.equal(reused.status, 400);
    const reuse = await waitFor((l) => l.event === 'token.reuse_detected' && l.request_id === 'req-reuse-1', 'token.reuse_detected');
    assert.equal(reuse.credential, 'refresh_token');
    assert.equal(reuse.sub, ok.user_id);

    const again = await password('alice', PASSWORD, 'req-login-ok-2');
    const third = (await again.json()) as { access_token: string };
    const revoke = await postForm(
      `${server.issuer}/oauth2/revoke`,
      { token: third.access_token, token_type_hint: 'access_token' },
      { authorization: basic('legacy', SECRET), 'x-request-id': 'req-revoke-1' },
    );
    assert.equal(revoke.status, 200);
    const revoked = await waitFor((l) => l.event === 'token.revoked' && l.request_id === 'req-revoke-1', 'token.revoked');
    assert.equal(revoked.client_id, 'legacy');
    assert.equal(revoked.kind, 'access_token');
    assert.equal(revoked.sub, ok.user_id);

    const text = readFileSync(file, 'utf8');
    for (const t of [body.access_token, body.refresh_token, next.access_token, next.refresh_token, third.access_token]) {
      assert.ok(!text.includes(t), 'no token value in the audit log');
    }
  });

  it('a brute-force lockout: account.locked', async () => {
    for (let i = 0; i < 3; i++) await password('victim', `${WRONG}-${i}`, `req-lock-${i}`);
    const locked = await waitFor((l) => l.event === 'account.locked' && l.username === 'victim', 'account.locked');
    assert.equal(locked.client_id, 'legacy');
    assert.equal(typeof locked.lockout_seconds, 'number');
    const refused = await password('victim', PASSWORD, 'req-lock-after');
    assert.equal(refused.status, 429);
    const line = await waitFor((l) => l.event === 'login.failed' && l.request_id === 'req-lock-after', 'refused login');
    assert.equal(line.reason, 'locked_out');
  });

  it('the browser flow: login.succeeded, consent.granted and token.issued (implicit) with the request id', async () => {
    const browser = new Browser();
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    for (const [k, v] of Object.entries({ client_id: 'web', redirect_uri: CB, response_type: 'id_token', scope: 'openid', nonce: 'n-1', state: 's' })) u.searchParams.set(k, v);
    const login = parseForm(await (await browser.fetch(u.href)).text());
    const consentPage = await browser.fetch(login.action, { form: [...login.fields, ['username', 'alice'], ['password', PASSWORD]], headers: { 'x-request-id': 'req-web-login' } });
    assert.equal(consentPage.status, 200);
    const consent = parseForm(await consentPage.text());
    const done = await browser.fetch(consent.action, { form: [...consent.fields, ['decision', 'allow']], headers: { 'x-request-id': 'req-web-consent' } });
    assert.equal(done.status, 303);
    await waitFor((l) => l.event === 'login.succeeded' && l.request_id === 'req-web-login' && l.client_id === 'web', 'browser login');
    const granted = await waitFor((l) => l.event === 'consent.granted' && l.request_id === 'req-web-consent', 'consent.granted');
    assert.equal(granted.scope, 'openid');
    assert.equal(granted.username, 'alice');
    const issued = await waitFor((l) => l.event === 'token.issued' && l.request_id === 'req-web-consent', 'implicit token.issued');
    assert.equal(issued.grant_type, 'implicit');
    assert.equal(issued.client_id, 'web');
    const idToken = new URLSearchParams(new URL(done.headers.get('location')!).hash.slice(1)).get('id_token')!;
    assert.ok(!readFileSync(file, 'utf8').includes(idToken), 'no ID token in the audit log');

    // logout (the hint names this browser's session: signed out at once)
    const out = await browser.fetch(`${server.issuer}/oauth2/logout?id_token_hint=${idToken}`, { headers: { 'x-request-id': 'req-web-logout' } });
    assert.ok(out.status < 400, `logout answered ${out.status}`);
    const logout = await waitFor((l) => l.event === 'logout' && l.request_id === 'req-web-logout', 'logout');
    assert.equal(logout.user_id, issued.sub);
    assert.equal(logout.ip, '127.0.0.1');
    assert.ok(!readFileSync(file, 'utf8').includes(idToken), 'the hint is not logged either');
  });
});

describe('audit lines', () => {
  it('drop secret-looking keys at any depth and keep time first', () => {
    const line = auditLine(
      {
        event: 'login.failed', username: 'a', password: 'p', client_secret: 's', otp: '123456', code: 'c', refresh_token: 'r',
        detail: { access_token: 'x', ok: 1, list: [{ id_token: 'y', fine: true }] }, grant_type: 'password', token_type_hint: 'access_token',
      },
      new Date('2026-01-02T03:04:05.000Z'),
    );
    const parsed = JSON.parse(line) as Line;
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line');
    assert.deepEqual(Object.keys(parsed), ['time', 'event', 'username', 'detail', 'grant_type', 'token_type_hint']);
    assert.equal(parsed.time, '2026-01-02T03:04:05.000Z');
    assert.deepEqual(parsed.detail, { ok: 1, list: [{ fine: true }] });
    for (const k of ['password', 'new_password', 'client_secret', 'otp', 'code', 'mfa_ticket', 'csrf_token', 'refresh_token']) assert.ok(isSecretKey(k), k);
    for (const k of ['grant_type', 'scope', 'client_id', 'reason', 'event']) assert.ok(!isSecretKey(k), k);
  });

  it('enabled: false records nothing; a silent process log without a file records nothing', () => {
    assert.equal(createAuditLog({ enabled: false, file: '/nonexistent/x.log' }), noAudit);
    assert.equal(createAuditLog(undefined, { silent: true }), noAudit);
    assert.notEqual(createAuditLog(undefined, { silent: false }), noAudit);
  });

  it('without a file, lines go to stdout marked "type":"audit"', () => {
    const line = auditLine({ event: 'x' }, new Date(0), { type: 'audit' });
    assert.deepEqual(Object.keys(JSON.parse(line) as Line), ['time', 'type', 'event']);
  });

  it('reopen() after logrotate moved the file: new lines go to a new file under the old name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drawbridge-audit-rotate-'));
    try {
      const path = join(dir, 'audit.log');
      const log = fileAudit(path);
      log.record({ event: 'before.rotation' });
      await new Promise((r) => setTimeout(r, 50));
      renameSync(path, `${path}.1`);
      log.record({ event: 'still.old' }); // the old stream writes to the moved file until reopened
      log.reopen!();
      log.record({ event: 'after.rotation' });
      await log.close!();
      const events = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as Line).event);
      assert.deepEqual(events(`${path}.1`), ['before.rotation', 'still.old']);
      assert.deepEqual(events(path), ['after.rotation']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
