// What the admin API's /users does to a user's sessions, black-box over HTTP against a real
// stack (auth server, gateway with oidc-login sessions, admin listener), on a SQLite file and
// on PostgreSQL with the SSO sessions in Redis, and with the gateway started alone (the auth
// server in its own run on the same database). A lock and a DELETE end every SSO session of
// the user, as `drawbridge session revoke --user` does: a browser's old SSO cookie lands on
// the login page after an unlock, and a relying party with a backchannel_logout_uri gets a
// logout token (verified against the server's JWKS). POST /users/{u}/logout signs the user
// out everywhere without locking them; a new password does so only when asked (sign_out).
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import { run, type Running } from '../../src/cli/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { SsoSessionRepo } from '../../src/storage/types.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { basic, freePort, postForm } from '../helpers/auth-server.js';
import type { Stack } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';
import { admin, type AdminReply } from './admin-support.js';
import { aloneConfig, startUsersStack, usersTargets, type UsersStack } from './admin-users-support.js';
import { gatewaySession, PASSWORD } from './oidc-support.js';

const RP_CB = 'https://rp.example/cb';
const PW_CLIENT = { client_id: 'pw-client', client_secret: 'pw-client-secret-0123456789abcdef0123', grant_types: ['password', 'refresh_token'], scopes: ['openid'] };
const OTHER_PASSWORD = 'another long passphrase 0451';

/** A relying party's back-channel logout endpoint: keeps every logout token it is sent. */
interface Receiver {
  url: string;
  tokens: string[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const tokens: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      tokens.push(new URLSearchParams(body).get('logout_token') ?? '');
      res.writeHead(200).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}/backchannel`, tokens, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The relying party `rp`: code flow, refresh tokens, back-channel logout to the receiver. */
function rpClient(receiver: Receiver): Record<string, unknown> {
  return {
    client_id: 'rp',
    redirect_uris: [RP_CB],
    grant_types: ['authorization_code', 'refresh_token'],
    scopes: ['openid'],
    consent: 'skip',
    backchannel_logout_uri: receiver.url,
    backchannel_logout_session_required: true,
  };
}

/** A browser that signed in at the auth server for `rp`, and what it got. */
interface RpSignIn {
  browser: Browser;
  sid: string;
  refresh_token: string;
}

function authorizeUrl(issuer: string): { url: string; verifier: string } {
  const verifier = randomBytes(32).toString('base64url');
  const u = new URL(`${issuer}/oauth2/authorize`);
  const params = { client_id: 'rp', response_type: 'code', scope: 'openid', redirect_uri: RP_CB, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' };
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return { url: u.href, verifier };
}

async function signInAtRp(issuer: string, username: string, password = PASSWORD): Promise<RpSignIn> {
  const browser = new Browser();
  const { url, verifier } = authorizeUrl(issuer);
  const page = await browser.fetch(url);
  assert.equal(page.status, 200, 'the login page');
  const form = parseForm(await page.text());
  const res = await browser.fetch(form.action, { form: [...form.fields, ['username', username], ['password', password]] });
  const code = new URL(res.headers.get('location') ?? 'x:').searchParams.get('code');
  assert.ok(code, `signed in: ${res.status} ${res.headers.get('location')}`);
  const token = await postForm(`${issuer}/oauth2/token`, { grant_type: 'authorization_code', code, redirect_uri: RP_CB, client_id: 'rp', code_verifier: verifier });
  assert.equal(token.status, 200);
  const body = (await token.json()) as { id_token: string; refresh_token: string };
  return { browser, sid: jose.decodeJwt(body.id_token).sid as string, refresh_token: body.refresh_token };
}

/**
 * What the browser's SSO cookie does at a new authorization request: 'signed in' (straight back
 * to the RP with a code, no password asked) or 'login page'.
 */
async function ssoCookieAt(issuer: string, browser: Browser): Promise<'signed in' | 'login page'> {
  const res = await browser.fetch(authorizeUrl(issuer).url);
  const text = await res.text();
  if (res.status === 200 && /name="password"/.test(text)) return 'login page';
  const location = res.headers.get('location') ?? '';
  assert.ok(location.startsWith(RP_CB) && new URL(location).searchParams.get('code'), `${res.status} ${location} ${text.slice(0, 200)}`);
  return 'signed in';
}

async function refreshStatus(issuer: string, refreshToken: string, client: 'rp' | 'pw-client' = 'rp'): Promise<number> {
  const res =
    client === 'rp'
      ? await postForm(`${issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'rp' })
      : await postForm(`${issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, { authorization: basic(PW_CLIENT.client_id, PW_CLIENT.client_secret) });
  await res.arrayBuffer();
  return res.status;
}

/** The logout tokens the receiver holds for `sid`, each verified against the issuer's JWKS. */
async function logoutTokensFor(issuer: string, receiver: Receiver, sid: string): Promise<jose.JWTPayload[]> {
  const jwks = jose.createLocalJWKSet((await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as jose.JSONWebKeySet);
  const found: jose.JWTPayload[] = [];
  for (const t of receiver.tokens) {
    const { payload } = await jose.jwtVerify(t, jwks, { issuer, audience: 'rp', typ: 'logout+jwt' });
    if (payload.sid === sid) found.push(payload);
  }
  return found;
}

const TARGETS = usersTargets('drawbridge-admin-sign-out-', 'PostgreSQL, SSO sessions in Redis');

for (const target of TARGETS) {
  describe(`admin API /users ends SSO sessions (${target.name})`, { skip: target.skip }, () => {
    let started: UsersStack;
    let stack: Stack;
    let receiver: Receiver;
    let auditFile: string;
    let base: string;
    let gw: string;
    let issuer: string;
    /** where the auth server keeps its SSO sessions (Redis or SQL) */
    let ssoSessions: SsoSessionRepo;
    const call = (method: string, path: string, body?: unknown, opts?: Parameters<typeof admin>[4]): Promise<AdminReply> => admin(base, method, path, body, opts);

    before(async () => {
      receiver = await startReceiver();
      started = await startUsersStack(target, { prefix: 'drawbridge-admin-sign-out-', clients: [rpClient(receiver), PW_CLIENT], cookieName: 'sid_sign_out' });
      ({ stack, auditFile, base, gw, issuer } = started);
      ssoSessions = stack.running.auth!.ctx.ssoSessions ?? stack.running.storage.ssoSessions;
      for (const username of ['ivy', 'jay', 'kim', 'lee']) assert.equal((await call('POST', '/users', { username, password: PASSWORD })).status, 201);
    });

    after(async () => {
      await started?.close();
      await receiver?.close();
    });

    it('a lock ends the SSO sessions: after the unlock the old cookie lands on the login page; the RP got a logout token', async () => {
      const ivy = (await stack.running.storage.users.getByUsername('ivy'))!;
      const s = await signInAtRp(issuer, 'ivy');
      assert.equal(await ssoCookieAt(issuer, s.browser), 'signed in', 'the SSO session works before the lock');

      const locked = await call('PATCH', '/users/ivy', { locked: true });
      assert.equal(locked.status, 200, locked.text);
      assert.equal((await call('PATCH', '/users/ivy', { locked: false })).json.locked, false);
      assert.equal(await ssoCookieAt(issuer, s.browser), 'login page', 'no way back in without the password');
      assert.equal(await ssoSessions.get(s.sid), undefined, 'the SSO session is deleted');
      const tokens = await logoutTokensFor(issuer, receiver, s.sid);
      assert.equal(tokens.length, 1, 'one back-channel logout, delivered before the answer');
      assert.equal(tokens[0]!.sub, ivy.id);
      assert.equal(await refreshStatus(issuer, s.refresh_token), 400);
      // and the user may sign in again
      await signInAtRp(issuer, 'ivy');
    });

    it('DELETE ends the SSO sessions (back-channel logout sent) before the user goes', async () => {
      const s = await signInAtRp(issuer, 'jay');
      assert.equal((await call('DELETE', '/users/jay')).status, 204);
      assert.equal(await ssoSessions.get(s.sid), undefined);
      assert.equal((await logoutTokensFor(issuer, receiver, s.sid)).length, 1);
      assert.equal(await ssoCookieAt(issuer, s.browser), 'login page');
    });

    it('POST /users/{username}/logout signs the user out everywhere without locking them, and answers with what it ended', async () => {
      const rp = await signInAtRp(issuer, 'kim');
      const gateway = await gatewaySession(gw, 'kim');
      const pwGrant = await postForm(`${issuer}/oauth2/token`, { grant_type: 'password', username: 'kim', password: PASSWORD, scope: 'openid' }, { authorization: basic(PW_CLIENT.client_id, PW_CLIENT.client_secret) });
      const offline = ((await pwGrant.json()) as { refresh_token: string }).refresh_token;

      const out = await call('POST', '/users/kim/logout');
      assert.equal(out.status, 200, out.text);
      assert.equal(out.json.username, 'kim');
      const kinds = (out.json.sessions as Array<{ kind: string; id: string; clients: string[] }>).map((x) => x.kind).sort();
      assert.deepEqual(kinds, ['gateway', 'sso', 'sso'], out.text);
      assert.equal(out.json.sessions_ended, 3);
      assert.ok(out.json.sessions.some((x: { kind: string; id: string; clients: string[] }) => x.kind === 'sso' && x.id === rp.sid && x.clients.includes('rp')), out.text);
      assert.ok(out.json.tokens_revoked >= 3, out.text);
      assert.deepEqual(out.json.backchannel.map((d: { client_id: string; delivered: boolean }) => [d.client_id, d.delivered]), [['rp', true]]);
      assert.equal((await logoutTokensFor(issuer, receiver, rp.sid)).length, 1);

      assert.equal(await ssoCookieAt(issuer, rp.browser), 'login page');
      assert.equal(await refreshStatus(issuer, rp.refresh_token), 400);
      assert.equal(await refreshStatus(issuer, offline, 'pw-client'), 400, 'tokens outside any session too');
      assert.equal((await gateway.fetch(`${gw}/api/me`)).status, 401, 'the gateway session ended before the answer');
      assert.equal((await call('GET', '/users/kim')).json.locked, false);
      await signInAtRp(issuer, 'kim');

      // nothing to end: still a 200 with zeros
      const again = await call('POST', '/users/kim/logout', {});
      assert.equal(again.status, 200, again.text);
      assert.ok(again.json.sessions_ended >= 1, 'the sign-in just made');
      const none = await call('POST', '/users/kim/logout');
      assert.deepEqual([none.json.sessions_ended, none.json.tokens_revoked, none.json.backchannel], [0, 0, []]);

      assert.equal((await call('POST', '/users/nobody/logout')).status, 404);
      const get = await call('GET', '/users/kim/logout');
      assert.equal(get.status, 405);
      assert.equal(get.headers.get('allow'), 'POST');
      const extra = await call('POST', '/users/kim/logout', { everywhere: true });
      assert.equal(extra.status, 400);
      assert.deepEqual(Object.keys(extra.json.fields), ['everywhere']);
      assert.equal((await call('POST', '/users/kim/logout', undefined, { token: null })).status, 401);
    });

    it('a new password leaves the sessions by default; with sign_out: true it ends them as /logout does', async () => {
      const s = await signInAtRp(issuer, 'lee');
      const kept = await call('POST', '/users/lee/password', { password: OTHER_PASSWORD });
      assert.equal(kept.status, 200, kept.text);
      assert.equal(kept.json.signed_out, undefined);
      assert.equal(await ssoCookieAt(issuer, s.browser), 'signed in', 'the default keeps the sessions (as Keycloak does)');
      assert.equal(await refreshStatus(issuer, s.refresh_token), 200);

      assert.equal((await call('POST', '/users/lee/password', { password: PASSWORD, sign_out: 'maybe' })).status, 400);
      assert.equal((await call('POST', '/users/lee/password', { password: PASSWORD, sign_out: false })).status, 200);
      const gateway = await gatewaySession(gw, 'lee');
      const out = await call('POST', '/users/lee/password', { password: OTHER_PASSWORD, sign_out: true });
      assert.equal(out.status, 200, out.text);
      assert.equal(out.json.username, 'lee');
      assert.equal(out.json.has_password, true);
      assert.ok(out.json.signed_out.sessions_ended >= 2, out.text);
      assert.ok(out.json.signed_out.tokens_revoked >= 1, out.text);
      assert.deepEqual(out.json.signed_out.backchannel.map((d: { client_id: string; delivered: boolean }) => [d.client_id, d.delivered]), [['rp', true]]);
      assert.equal(await ssoCookieAt(issuer, s.browser), 'login page');
      assert.equal(await refreshStatus(issuer, s.refresh_token), 400);
      assert.equal((await gateway.fetch(`${gw}/api/me`)).status, 401);
      assert.equal((await logoutTokensFor(issuer, receiver, s.sid)).length, 1);
      // the new password holds; a form says sign_out=true too
      await signInAtRp(issuer, 'lee', OTHER_PASSWORD);
      const form = await call('POST', '/users/lee/password', `password=${encodeURIComponent(PASSWORD)}&sign_out=true`, { contentType: 'application/x-www-form-urlencoded' });
      assert.equal(form.status, 200, form.text);
      assert.equal(form.json.signed_out.sessions_ended, 1);
    });

    it('the sessions ended are audit events (source admin, request id)', async () => {
      const lines = (await readFile(auditFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const revoked = lines.filter((l) => l.event === 'user.revoked' && l.source === 'admin');
      assert.deepEqual([...new Set(revoked.map((l) => l.username))].sort(), ['ivy', 'jay', 'kim', 'lee']);
      for (const l of revoked) assert.equal(typeof l.request_id, 'string');
      const sessions = lines.filter((l) => l.event === 'session.revoked' && l.source === 'admin');
      assert.ok(sessions.length >= 5, JSON.stringify(sessions));
      for (const l of sessions) assert.equal(typeof l.sid, 'string');
      const lock = lines.find((l) => l.event === 'user.locked' && l.username === 'ivy')!;
      assert.equal(lock.sessions, 1);
    });
  });
}

describe('admin API /users of a gateway started alone ends SSO sessions the auth server keeps in SQL', () => {
  let dir: string;
  let receiver: Receiver;
  let auth: Running;
  let gateway: Running;
  let issuer: string;
  let base: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-admin-sign-out-alone-'));
    receiver = await startReceiver();
    const authPort = await freePort();
    issuer = `http://127.0.0.1:${authPort}`;
    const config = await aloneConfig(dir, issuer, { listen: `127.0.0.1:${authPort}`, brute_force: { enabled: false }, users: [{ username: 'mia', password: PASSWORD }], clients: [rpClient(receiver)] });
    // two runs on one database, as two processes would be
    auth = await run(config, { logger: silentLogger(), only: 'auth' });
    gateway = await run(config, { logger: silentLogger(), only: 'gateway' });
    base = gateway.gateway!.adminUrl!;
  });

  after(async () => {
    await gateway?.close();
    await auth?.close();
    await receiver?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a lock there ends the session, signs the logout token with the shared keys, and the old cookie asks for the password after the unlock', async () => {
    const s = await signInAtRp(issuer, 'mia');
    const locked = await admin(base, 'PATCH', '/users/mia', { locked: true });
    assert.equal(locked.status, 200, locked.text);
    assert.equal(await auth.storage.ssoSessions.get(s.sid), undefined);
    assert.equal((await logoutTokensFor(issuer, receiver, s.sid)).length, 1);
    assert.equal((await admin(base, 'PATCH', '/users/mia', { locked: false })).status, 200);
    assert.equal(await ssoCookieAt(issuer, s.browser), 'login page');

    const again = await signInAtRp(issuer, 'mia');
    const out = await admin(base, 'POST', '/users/mia/logout');
    assert.equal(out.status, 200, out.text);
    assert.equal(out.json.sessions_ended, 1);
    await within(1000, async () => (await logoutTokensFor(issuer, receiver, again.sid)).length === 1, 'the logout token');
    assert.equal(await ssoCookieAt(issuer, again.browser), 'login page');
  });
});
