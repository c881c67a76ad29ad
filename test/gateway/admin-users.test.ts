// /users on the admin API: the auth server's users managed as `drawbridge user` manages them,
// black-box over HTTP against a real stack (auth server, gateway with oidc-login sessions in
// SQL, admin listener) on a SQLite file, and on PostgreSQL with Redis carrying the events.
// A user made here signs in (password grant, and the login form behind oidc-login); a lock
// here ends their refresh token and their gateway session; no answer ever holds a password,
// its hash, a TOTP secret or a recovery code; bad input is a 400 naming the field. A gateway
// started alone manages users by its config file's auth section and audit log.
import * as assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run, type Running } from '../../src/cli/run.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { Storage } from '../../src/storage/types.js';
import { basic, postForm } from '../helpers/auth-server.js';
import type { Stack } from '../helpers/gateway.js';
import { within } from '../helpers/poll.js';
import { admin, type AdminReply } from './admin-support.js';
import { aloneConfig, startUsersStack, usersTargets, type UsersStack } from './admin-users-support.js';
import { gatewaySession, PASSWORD as FILE_PASSWORD } from './oidc-support.js';

const PW_CLIENT = { client_id: 'pw-client', client_secret: 'pw-client-secret-0123456789abcdef0123', grant_types: ['password', 'refresh_token'], scopes: ['openid', 'email'] };
/** signInAtDrawbridge types this password: the users it signs in are created with it */
const PASSWORD = FILE_PASSWORD;
const OTHER_PASSWORD = 'another long passphrase 0451';

const TARGETS = usersTargets('drawbridge-admin-users-', 'PostgreSQL + Redis');

async function passwordGrant(issuer: string, username: string, password: string): Promise<{ status: number; json: Record<string, any> }> {
  const res = await postForm(`${issuer}/oauth2/token`, { grant_type: 'password', username, password, scope: 'openid email' }, { authorization: basic(PW_CLIENT.client_id, PW_CLIENT.client_secret) });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

async function refresh(issuer: string, refreshToken: string): Promise<{ status: number; json: Record<string, any> }> {
  const res = await postForm(`${issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: refreshToken }, { authorization: basic(PW_CLIENT.client_id, PW_CLIENT.client_secret) });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

for (const target of TARGETS) {
  describe(`admin API /users (${target.name})`, { skip: target.skip }, () => {
    let started: UsersStack;
    let stack: Stack;
    let auditFile: string;
    let storage: Storage;
    let base: string;
    let gw: string;
    let issuer: string;
    /** every admin answer, checked for secrets at the end */
    const answers: AdminReply[] = [];
    const call = async (method: string, path: string, body?: unknown, opts?: Parameters<typeof admin>[4]): Promise<AdminReply> => {
      const reply = await admin(base, method, path, body, opts);
      answers.push(reply);
      return reply;
    };

    before(async () => {
      started = await startUsersStack(target, {
        prefix: 'drawbridge-admin-users-',
        users: [
          { username: 'file-alice', password: FILE_PASSWORD, claims: { email: 'file-alice@example.com' } },
          { username: 'file-nopass', claims: {}, mfa_required: true },
        ],
        clients: [PW_CLIENT],
        cookieName: 'sid_users',
      });
      ({ stack, auditFile, base, gw, issuer } = started);
      storage = stack.running.storage;
    });

    after(async () => {
      await started?.close();
    });

    it('is listed in the admin index and needs the admin token', async () => {
      assert.ok((await call('GET', '/')).json.endpoints.includes('/users'));
      for (const [method, path] of [['GET', '/users'], ['POST', '/users'], ['GET', '/users/file-alice'], ['PATCH', '/users/file-alice'], ['DELETE', '/users/file-alice'], ['POST', '/users/file-alice/password'], ['DELETE', '/users/file-alice/mfa']] as const) {
        const none = await call(method, path, method === 'GET' || method === 'DELETE' ? undefined : { locked: true }, { token: null });
        assert.equal(none.status, 401, `${method} ${path}`);
        assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm="drawbridge-admin"$/);
        assert.equal(none.json.error, 'unauthorized');
        assert.equal((await call(method, path, undefined, { token: 'wrong-token' })).status, 401);
      }
      assert.equal((await storage.users.getByUsername('file-alice'))?.locked, false, 'nothing changed without the token');
    });

    it('creates a user who signs in at once: password grant and the login form behind oidc-login', async () => {
      const res = await call('POST', '/users', { username: 'bob', password: PASSWORD, claims: { email: 'bob@example.com', groups: ['ops'] } });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.json.username, 'bob');
      assert.match(res.json.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual(res.json.claims, { email: 'bob@example.com', groups: ['ops'] });
      assert.equal(res.json.source, 'admin');
      assert.equal(res.json.locked, false);
      assert.equal(res.json.has_password, true);
      assert.deepEqual(res.json.mfa, { required: false, totp: false, recovery_codes_left: 0 });
      assert.equal(typeof res.json.created_at, 'number');
      assert.equal('password_hash' in res.json || 'password' in res.json, false);
      // hashed as the CLI hashes: argon2id at OWASP's parameters
      assert.match((await storage.users.getByUsername('bob'))!.password_hash!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);

      const tokens = await passwordGrant(issuer, 'bob', PASSWORD);
      assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
      const userinfo = await fetch(`${issuer}/oauth2/userinfo`, { headers: { authorization: `Bearer ${tokens.json.access_token}` } });
      assert.deepEqual(await userinfo.json(), { email: 'bob@example.com', sub: res.json.id });
      await gatewaySession(gw, 'bob');
    });

    it('lists users (paged, the config file\'s marked) and shows one; an unknown one is a 404', async () => {
      const list = await call('GET', '/users');
      assert.equal(list.status, 200);
      const names = list.json.data.map((u: { username: string }) => u.username);
      for (const name of ['bob', 'file-alice', 'file-nopass']) assert.ok(names.includes(name), names.join());
      const fileAlice = list.json.data.find((u: { username: string }) => u.username === 'file-alice');
      assert.equal(fileAlice.source, 'config');
      assert.deepEqual(fileAlice.claims, { email: 'file-alice@example.com' });
      assert.equal(list.json.data.find((u: { username: string }) => u.username === 'file-nopass').mfa.required, true);

      const seen: string[] = [];
      let page = await call('GET', '/users?size=1');
      for (;;) {
        assert.equal(page.status, 200);
        assert.equal(page.json.data.length, 1);
        seen.push(page.json.data[0].username);
        if (page.json.next === null) break;
        page = await call('GET', page.json.next);
      }
      assert.deepEqual(seen, [...names].sort());

      const one = await call('GET', '/users/bob');
      assert.equal(one.status, 200);
      assert.equal(one.json.username, 'bob');
      const missing = await call('GET', '/users/nobody');
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error, 'not_found');
      assert.equal(typeof missing.json.request_id, 'string');
      for (const [method, path, body] of [['PATCH', '/users/nobody', { locked: true }], ['DELETE', '/users/nobody', undefined], ['POST', '/users/nobody/password', { password: OTHER_PASSWORD }], ['DELETE', '/users/nobody/mfa', undefined]] as const) {
        assert.equal((await call(method, path, body)).status, 404, `${method} ${path}`);
      }
      assert.equal((await call('GET', '/users/bob/other')).status, 404);
    });

    it('bad input is a 400 naming the field, and changes nothing', async () => {
      const cases: Array<[string, string, unknown, string]> = [
        ['POST', '/users', { password: PASSWORD }, 'username'],
        ['POST', '/users', { username: 42, password: PASSWORD }, 'username'],
        ['POST', '/users', { username: ' carol', password: PASSWORD }, 'username'],
        ['POST', '/users', { username: 'x'.repeat(257), password: PASSWORD }, 'username'],
        ['POST', '/users', { username: 'carol', password: 'short' }, 'password'],
        ['POST', '/users', { username: 'carol', password: 'password123' }, 'password'],
        ['POST', '/users', { username: 'carol-the-user-42', password: 'Carol-the-user-42' }, 'password'],
        ['POST', '/users', { username: 'carol', password: ['x'] }, 'password'],
        ['POST', '/users', { username: 'carol', password: PASSWORD, claims: ['email'] }, 'claims'],
        ['POST', '/users', { username: 'carol', password: PASSWORD, claims: { sub: 'admin' } }, 'claims.sub'],
        ['POST', '/users', { username: 'carol', password: PASSWORD, require_mfa: 'maybe' }, 'require_mfa'],
        ['POST', '/users', { username: 'carol', password: PASSWORD, locked: false }, 'locked'],
        ['POST', '/users', { username: 'carol', password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA' }, 'password_hash'],
        ['PATCH', '/users/bob', { locked: 'yes' }, 'locked'],
        ['PATCH', '/users/bob', { claims: 'email' }, 'claims'],
        ['PATCH', '/users/bob', { claims: { iss: 'x' } }, 'claims.iss'],
        ['PATCH', '/users/bob', { username: 'robert' }, 'username'],
        ['PATCH', '/users/bob', { password: OTHER_PASSWORD }, 'password'],
        ['POST', '/users/bob/password', {}, 'password'],
        ['POST', '/users/bob/password', { password: 'short' }, 'password'],
        ['POST', '/users/bob/password', { password: OTHER_PASSWORD, extra: 1 }, 'extra'],
      ];
      const before = await storage.users.getByUsername('bob');
      for (const [method, path, body, field] of cases) {
        const res = await call(method, path, body);
        assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${res.text}`);
        assert.equal(res.json.error, 'invalid_request');
        assert.deepEqual(Object.keys(res.json.fields), [field], res.text);
      }
      assert.equal(await storage.users.getByUsername('carol'), undefined);
      assert.deepEqual(await storage.users.getByUsername('bob'), before);
      // not JSON, and a form with the same mistakes
      assert.equal((await call('POST', '/users', '{"username":', { contentType: 'application/json' })).status, 400);
      const form = await call('POST', '/users', 'username=carol&password=short', { contentType: 'application/x-www-form-urlencoded' });
      assert.deepEqual(Object.keys(form.json.fields), ['password']);
    });

    it('a taken username or one of the config file is a 409; PUT is a 405', async () => {
      const taken = await call('POST', '/users', { username: 'bob', password: OTHER_PASSWORD });
      assert.equal(taken.status, 409, taken.text);
      assert.equal(taken.json.error, 'conflict');
      assert.deepEqual(Object.keys(taken.json.fields), ['username']);
      assert.equal((await passwordGrant(issuer, 'bob', PASSWORD)).status, 200, 'the first password still works');
      assert.equal((await call('POST', '/users', { username: 'file-alice', password: OTHER_PASSWORD })).status, 409);
      const put = await call('PUT', '/users/bob', { locked: true });
      assert.equal(put.status, 405);
      assert.equal(put.headers.get('allow'), 'GET, PATCH, DELETE');
      assert.equal((await call('PUT', '/users', {})).status, 405);
      assert.equal((await call('GET', '/users/bob/password')).status, 405);
      assert.equal((await call('POST', '/users/bob/mfa')).status, 405);
    });

    it('of parallel creates of one username exactly one succeeds, and its password is the one stored', async () => {
      const passwords = ['first racing passphrase 1', 'second racing passphrase 2', 'third racing passphrase 3', 'fourth racing passphrase 4'];
      const replies = await Promise.all(passwords.map((password) => call('POST', '/users', { username: 'racer', password })));
      assert.deepEqual(replies.map((r) => r.status).sort(), [201, 409, 409, 409]);
      const winner = passwords[replies.findIndex((r) => r.status === 201)]!;
      for (const password of passwords) assert.equal((await passwordGrant(issuer, 'racer', password)).status, password === winner ? 200 : 400, password);
    });

    it('config-file users: what the file says is read-only (409); their lock and MFA enrolment are not, as in the CLI', async () => {
      for (const [method, path, body] of [
        ['DELETE', '/users/file-alice', undefined],
        ['PATCH', '/users/file-alice', { claims: { name: 'Alice' } }],
        ['POST', '/users/file-alice/password', { password: OTHER_PASSWORD }],
        ['PATCH', '/users/file-nopass', { require_mfa: false }],
      ] as const) {
        const res = await call(method, path, body);
        assert.equal(res.status, 409, `${method} ${path}: ${res.text}`);
        assert.match(res.json.error_description, /config file/);
      }
      assert.equal((await call('GET', '/users/file-alice')).json.claims.name, undefined);
      // the file gives file-nopass no password: one may be set here, as `drawbridge user set-password` may
      const set = await call('POST', '/users/file-nopass/password', { password: OTHER_PASSWORD });
      assert.equal(set.status, 200, set.text);
      assert.equal(set.json.has_password, true);
      const locked = await call('PATCH', '/users/file-alice', { locked: true });
      assert.equal(locked.status, 200, locked.text);
      assert.equal(locked.json.locked, true);
      assert.equal((await passwordGrant(issuer, 'file-alice', FILE_PASSWORD)).status, 400);
      assert.equal((await call('PATCH', '/users/file-alice', { locked: false })).json.locked, false);
      assert.equal((await passwordGrant(issuer, 'file-alice', FILE_PASSWORD)).status, 200);
    });

    it('lock ends the refresh token and the gateway session at once; unlock lets the user sign in again', async () => {
      const created = await call('POST', '/users', { username: 'dave', password: PASSWORD });
      assert.equal(created.status, 201);
      const tokens = await passwordGrant(issuer, 'dave', PASSWORD);
      assert.equal(tokens.status, 200);
      assert.equal(typeof tokens.json.refresh_token, 'string');
      const browser = await gatewaySession(gw, 'dave');

      const locked = await call('PATCH', '/users/dave', { locked: true });
      assert.equal(locked.status, 200, locked.text);
      assert.equal(locked.json.locked, true);
      const refused = await refresh(issuer, tokens.json.refresh_token);
      assert.equal(refused.status, 400);
      assert.equal(refused.json.error, 'invalid_grant');
      const introspected = await postForm(`${issuer}/oauth2/introspect`, { token: tokens.json.access_token }, { authorization: basic(PW_CLIENT.client_id, PW_CLIENT.client_secret) });
      assert.equal(((await introspected.json()) as { active: boolean }).active, false);
      await within(1000, async () => (await browser.fetch(`${gw}/api/me`)).status === 401, 'the gateway session ends');
      assert.equal((await passwordGrant(issuer, 'dave', PASSWORD)).status, 400);

      const unlocked = await call('PATCH', '/users/dave', { locked: 'false' });
      assert.equal(unlocked.json.locked, false);
      assert.equal((await passwordGrant(issuer, 'dave', PASSWORD)).status, 200);
    });

    it('PATCH merges claims (null removes one) and sets require_mfa; a form body works too', async () => {
      await call('POST', '/users', { username: 'erin', password: PASSWORD, claims: { email: 'erin@example.com', name: 'Erin' } });
      const patched = await call('PATCH', '/users/erin', { claims: { name: null, groups: ['dev'] }, require_mfa: true });
      assert.equal(patched.status, 200, patched.text);
      assert.deepEqual(patched.json.claims, { email: 'erin@example.com', groups: ['dev'] });
      assert.equal(patched.json.mfa.required, true);
      assert.equal((await passwordGrant(issuer, 'erin', PASSWORD)).json.error_description, 'MFA required: use the authorization code flow');
      const form = await call('PATCH', '/users/erin', 'require_mfa=false&claims.email=erin%40example.org', { contentType: 'application/x-www-form-urlencoded' });
      assert.equal(form.status, 200, form.text);
      assert.deepEqual(form.json.claims, { email: 'erin@example.org', groups: ['dev'] });
      assert.equal(form.json.mfa.required, false);
    });

    it('a new password replaces the old one (the policy applies); DELETE …/mfa forgets the authenticator', async () => {
      const changed = await call('POST', '/users/erin/password', { password: OTHER_PASSWORD });
      assert.equal(changed.status, 200, changed.text);
      assert.equal((await passwordGrant(issuer, 'erin', PASSWORD)).status, 400);
      assert.equal((await passwordGrant(issuer, 'erin', OTHER_PASSWORD)).status, 200);

      const erin = (await storage.users.getByUsername('erin'))!;
      await storage.users.setTotpSecret(erin.id, 'v1.sealed-totp-secret-of-erin', 1);
      await storage.users.confirmTotp(erin.id, 2);
      await storage.users.setRecoveryCodes(erin.id, ['recovery-digest-one', 'recovery-digest-two'], 2);
      const enrolled = await call('GET', '/users/erin');
      assert.deepEqual(enrolled.json.mfa, { required: false, totp: true, recovery_codes_left: 2 });
      const reset = await call('DELETE', '/users/erin/mfa');
      assert.equal(reset.status, 204);
      assert.deepEqual((await call('GET', '/users/erin')).json.mfa, { required: false, totp: false, recovery_codes_left: 0 });
      assert.equal((await storage.users.getMfa(erin.id))?.totp_secret, null);
    });

    it('DELETE removes the user, revokes their tokens and ends their gateway session', async () => {
      await call('POST', '/users', { username: 'frank', password: PASSWORD });
      const tokens = await passwordGrant(issuer, 'frank', PASSWORD);
      const browser = await gatewaySession(gw, 'frank');
      const gone = await call('DELETE', '/users/frank');
      assert.equal(gone.status, 204);
      assert.equal((await refresh(issuer, tokens.json.refresh_token)).status, 400);
      await within(1000, async () => (await browser.fetch(`${gw}/api/me`)).status === 401, 'the gateway session ends');
      assert.equal((await call('GET', '/users/frank')).status, 404);
      assert.equal((await call('DELETE', '/users/frank')).status, 404);
      assert.equal((await passwordGrant(issuer, 'frank', PASSWORD)).status, 400);
    });

    it('a user created without a password cannot sign in until one is set', async () => {
      const made = await call('POST', '/users', { username: 'grace', require_mfa: false });
      assert.equal(made.status, 201, made.text);
      assert.equal(made.json.has_password, false);
      assert.equal((await passwordGrant(issuer, 'grace', '')).status, 400);
      assert.equal((await call('POST', '/users/grace/password', { password: PASSWORD })).status, 200);
      assert.equal((await passwordGrant(issuer, 'grace', PASSWORD)).status, 200);
    });

    it('every change is an audit event (source admin, request id); no answer and no audit line holds a secret', async () => {
      const lines = (await readFile(auditFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const ours = lines.filter((l) => typeof l.event === 'string' && (l.event as string).startsWith('user.'));
      const events = new Set(ours.map((l) => `${l.event}:${l.username}`));
      for (const e of ['user.created:bob', 'user.locked:dave', 'user.unlocked:dave', 'user.claims_changed:erin', 'user.mfa_required:erin', 'user.password_set:erin', 'user.mfa_reset:erin', 'user.deleted:frank', 'user.locked:file-alice']) {
        assert.ok(events.has(e), `${e} in ${[...events].join(' ')}`);
      }
      for (const l of ours) {
        assert.equal(l.source, 'admin');
        assert.equal(typeof l.request_id, 'string');
        assert.equal(typeof l.user_id, 'string');
      }
      const secrets = [PASSWORD, OTHER_PASSWORD, 'racing passphrase', '$argon2', 'sealed-totp-secret', 'recovery-digest', 'bob@example.com'];
      const auditText = await readFile(auditFile, 'utf8');
      for (const l of ours) for (const s of secrets) assert.ok(!JSON.stringify(l).includes(s), `audit line holds ${s}: ${JSON.stringify(l)}`);
      assert.ok(!auditText.includes('$argon2'));
      assert.ok(answers.length > 50);
      for (const reply of answers) {
        for (const s of [PASSWORD, OTHER_PASSWORD, 'racing passphrase', '$argon2', 'sealed-totp-secret', 'recovery-digest']) {
          assert.ok(!reply.text.includes(s), `an answer holds ${s}: ${reply.text.slice(0, 300)}`);
        }
        // a 400 may name a field it refused; a user shown has none of these
        if (reply.status < 300) assert.doesNotMatch(reply.text, /"(password|password_hash|totp_secret|recovery_codes)"/);
      }
    });
  });
}

describe('admin API /users of a gateway started alone (--only gateway)', () => {
  let dir: string;
  let running: Running;
  let base: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-admin-users-alone-'));
    // the auth server runs elsewhere; its section still says the policy, the file's users and the audit file
    const config = await aloneConfig(dir, 'http://127.0.0.1:9', {
      listen: '127.0.0.1:0',
      password_policy: { min_length: 20 },
      audit: { file: join(dir, 'audit.log') },
      users: [{ username: 'file-user', password: 'a file password of some length' }],
    });
    running = await run(config, { logger: silentLogger(), only: 'gateway' });
    base = running.gateway!.adminUrl!;
  });

  after(async () => {
    await running?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("applies the file's password policy and rules, and audits where auth.audit says", async () => {
    const short = await admin(base, 'POST', '/users', { username: 'henry', password: 'fifteen chars 1' });
    assert.equal(short.status, 400, short.text);
    assert.match(short.json.fields.password, /at least 20 characters/);
    assert.equal((await admin(base, 'POST', '/users', { username: 'file-user', password: 'long enough for the policy 123' })).status, 409);
    const made = await admin(base, 'POST', '/users', { username: 'henry', password: 'long enough for the policy 123' });
    assert.equal(made.status, 201, made.text);
    assert.equal((await admin(base, 'PATCH', '/users/henry', { locked: true })).json.locked, true);
    await running.close();
    const lines = (await readFile(join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    // the lock signs henry out everywhere (user.revoked, none of his sessions to end here)
    assert.deepEqual(lines.map((l) => [l.event, l.username, l.source]), [['user.created', 'henry', 'admin'], ['user.revoked', 'henry', 'admin'], ['user.locked', 'henry', 'admin']]);
  });
});
