// Resource owner password credentials (RFC 6749 §4.3): a legacy grant, only for clients that
// list it. Through verifyLogin: one invalid_grant for every bad login, the brute-force
// lockout, and users with a second factor refused.
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';

const SECRET = 'password-grant-client-secret-0123456789';
const PASSWORD = 'correct horse battery staple 42';

async function body(res: Response, status: number): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  return JSON.parse(text) as Record<string, unknown>;
}

describe('password grant', () => {
  let server: TestServer;
  let token: string;

  before(async () => {
    server = await startAuth({
      clients: [
        { client_id: 'legacy', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scopes: ['orders:read', 'orders:write', 'groups'], default_scopes: ['orders:read'] },
        { client_id: 'legacy-once', client_secret: SECRET, grant_types: ['password'], scopes: ['orders:read'] },
        { client_id: 'svc', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['orders:read'] },
        { client_id: 'gateway', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
      users: [
        { username: 'alice', password: PASSWORD, claims: { email: 'alice@example.com', groups: ['staff', 'orders-team'] } },
        { username: 'bob', password: PASSWORD, mfa_required: true },
        { username: 'carol', password: PASSWORD },
      ],
      // no delays (delay_after above max_failures) so the lockout test runs fast
      brute_force: { max_failures: 3, delay_after: 10 },
    });
    token = `${server.issuer}/oauth2/token`;
  });

  after(async () => {
    await server?.close();
  });

  function login(clientId: string, username: string, password: string, extra: Record<string, string> = {}): Promise<Response> {
    return postForm(token, { grant_type: 'password', username, password, ...extra }, { authorization: basic(clientId, SECRET) });
  }

  async function introspect(t: string): Promise<Record<string, unknown>> {
    return body(await postForm(`${server.issuer}/oauth2/introspect`, { token: t }, { authorization: basic('gateway', SECRET) }), 200);
  }

  it('issues an access token for the user and a refresh token when the client may refresh', async () => {
    const res = await body(await login('legacy', 'alice', PASSWORD), 200);
    assert.equal(res.token_type, 'Bearer');
    assert.equal(res.expires_in, 600);
    assert.equal(res.scope, 'orders:read');
    assert.equal(typeof res.access_token, 'string');
    assert.match(String(res.refresh_token), /^[A-Za-z0-9_-]{43}$/);
    const alice = await server.running.storage.users.getByUsername('alice');
    const access = await introspect(String(res.access_token));
    assert.equal(access.active, true);
    assert.equal(access.sub, alice!.id);
    assert.notEqual(access.sub, 'alice');
    assert.equal(access.username, 'alice');
    assert.equal(access.client_id, 'legacy');
    const refresh = await introspect(String(res.refresh_token));
    assert.equal(refresh.active, true);
    assert.equal(refresh.token_use, 'refresh_token');
    assert.equal(refresh.token_type, undefined); // RFC 7662 §2.2: an access token type, which a refresh token has none of
    assert.equal(refresh.sub, alice!.id);
  });

  it('the groups scope puts the user\'s groups in the access token (and its refreshes), for the gateway\'s internal JWT', async () => {
    const without = await body(await login('legacy', 'alice', PASSWORD), 200);
    assert.equal((await introspect(String(without.access_token))).groups, undefined);
    const res = await body(await login('legacy', 'alice', PASSWORD, { scope: 'orders:read groups' }), 200);
    assert.deepEqual((await introspect(String(res.access_token))).groups, ['staff', 'orders-team']);
    const refreshed = await body(await postForm(token, { grant_type: 'refresh_token', refresh_token: String(res.refresh_token) }, { authorization: basic('legacy', SECRET) }), 200);
    assert.deepEqual((await introspect(String(refreshed.access_token))).groups, ['staff', 'orders-team']);
    const narrowed = await body(await postForm(token, { grant_type: 'refresh_token', refresh_token: String(refreshed.refresh_token), scope: 'orders:read' }, { authorization: basic('legacy', SECRET) }), 200);
    assert.equal((await introspect(String(narrowed.access_token))).groups, undefined);
  });

  it('asks for scopes within the client’s; others are invalid_scope', async () => {
    const res = await body(await login('legacy', 'alice', PASSWORD, { scope: 'orders:read orders:write' }), 200);
    assert.equal(res.scope, 'orders:read orders:write');
    const bad = await body(await login('legacy', 'alice', PASSWORD, { scope: 'admin' }), 400);
    assert.equal(bad.error, 'invalid_scope');
  });

  it('no refresh token for a client without the refresh_token grant', async () => {
    const res = await body(await login('legacy-once', 'alice', PASSWORD), 200);
    assert.equal(typeof res.access_token, 'string');
    assert.equal('refresh_token' in res, false);
  });

  it('refused with unauthorized_client for a client that does not list it', async () => {
    const res = await body(await login('svc', 'alice', PASSWORD), 400);
    assert.deepEqual(res, { error: 'unauthorized_client', error_description: 'client is not allowed to use the password grant' });
  });

  it('a wrong password and an unknown user get the very same invalid_grant', async () => {
    const wrong = await body(await login('legacy', 'alice', 'not the password at all'), 400);
    const unknown = await body(await login('legacy', 'nobody-here', PASSWORD), 400);
    assert.deepEqual(wrong, { error: 'invalid_grant', error_description: 'invalid username or password' });
    assert.deepEqual(unknown, wrong);
  });

  it('missing username or password → invalid_request', async () => {
    const res = await postForm(token, { grant_type: 'password', username: 'alice' }, { authorization: basic('legacy', SECRET) });
    assert.equal((await body(res, 400)).error, 'invalid_request');
  });

  it('a user who must use MFA is refused', async () => {
    const res = await body(await login('legacy', 'bob', PASSWORD), 400);
    assert.deepEqual(res, { error: 'invalid_grant', error_description: 'MFA required: use the authorization code flow' });
  });

  it('a bad client secret is invalid_client before any login is tried', async () => {
    const res = await postForm(token, { grant_type: 'password', username: 'alice', password: PASSWORD }, { authorization: basic('legacy', 'wrong-secret-0123456789') });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="drawbridge", charset="UTF-8"');
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  });

  it('locks the account out after max_failures: even the right password is refused (429, Retry-After)', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await body(await login('legacy', 'carol', `wrong-${i}-password`), 400)).error, 'invalid_grant');
    // the failure that reaches max_failures already answers with the lockout
    const third = await login('legacy', 'carol', 'wrong-2-password');
    assert.equal(third.status, 429);
    const locked = await login('legacy', 'carol', PASSWORD);
    assert.equal(locked.status, 429);
    assert.equal(locked.headers.get('retry-after'), '900');
    assert.equal(locked.headers.get('cache-control'), 'no-store');
    assert.equal(((await locked.json()) as { error: string }).error, 'temporarily_unavailable');
    // other accounts are unaffected
    assert.equal((await login('legacy', 'alice', PASSWORD)).status, 200);
  });
});
