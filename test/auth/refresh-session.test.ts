// Refresh tokens and SSO sessions: without offline_access a refresh token lives no longer
// than the session it came from; with it, it outlives the session. And "sign out everywhere"
// (`drawbridge user revoke`) revokes every token of the user and ends their sessions.
import * as assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as jose from 'jose';
import type { AuthContext } from '../../src/auth/context.js';
import { issueRefreshToken } from '../../src/auth/tokens/refresh-token.js';
import { fixedClock } from '../../src/core/clock.js';
import type { SsoSessionRecord } from '../../src/storage/types.js';
import { runCli } from '../cli/spawn.js';
import { basic, postForm, startAuth, TEST_SECRET, testKeys, type TestServer } from '../helpers/auth-server.js';

const SECRET = 'refresh-session-secret-0123456789abcdef';
const PASSWORD = 'correct horse battery staple 42';

describe('refresh tokens bound to SSO sessions; sign out everywhere', () => {
  let dir: string;
  let configFile: string;
  let server: TestServer;
  let ctx: AuthContext;
  let aliceId: string;
  const clock = fixedClock(Math.floor(Date.now() / 1000));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-refresh-session-'));
    const storage = `sqlite:${join(dir, 'drawbridge.db')}`;
    configFile = join(dir, 'drawbridge.json');
    await writeFile(configFile, JSON.stringify({ issuer: 'http://127.0.0.1:9', storage, secret: TEST_SECRET, keys: testKeys(undefined), log: { level: 'silent' }, auth: { listen: '127.0.0.1:0' } }));
    server = await startAuth(
      {
        clients: [
          { client_id: 'app', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scopes: ['orders:read'], default_scopes: ['orders:read'] },
          { client_id: 'gateway', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
        ],
        users: [{ username: 'alice', password: PASSWORD }],
        sessions: { idle_timeout: '30m', absolute_timeout: '12h' },
      },
      { storage },
      { clock },
    );
    ctx = server.running.auth!.ctx;
    aliceId = (await server.running.storage.users.getByUsername('alice'))!.id;
  });

  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function session(over: Partial<SsoSessionRecord> = {}): Promise<string> {
    const now = clock.now();
    const id = createHash('sha256').update(randomUUID()).digest('base64url');
    await server.running.storage.ssoSessions.insert({ id, user_id: aliceId, auth_time: now, amr: ['pwd'], acr: null, created_at: now, last_seen_at: now, expires_at: now + 12 * 3600, ...over });
    return id;
  }

  async function issue(sid: string, offline: boolean): Promise<string> {
    const client = (await ctx.clients.get('app'))!;
    return issueRefreshToken(ctx, { client, sub: aliceId, scope: ['orders:read'], grantId: randomUUID(), sid, authTime: clock.now(), offline });
  }

  function refresh(token: string): Promise<Response> {
    return postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: token }, { authorization: basic('app', SECRET) });
  }

  async function expectGrantError(res: Response, description: string): Promise<void> {
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: 'invalid_grant', error_description: description });
  }

  async function active(token: string): Promise<Record<string, unknown>> {
    const res = await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('gateway', SECRET) });
    assert.equal(res.status, 200);
    return (await res.json()) as Record<string, unknown>;
  }

  it('issueRefreshToken: a 43-character token, introspectable with sid and auth_time', async () => {
    const sid = await session();
    const token = await issue(sid, false);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const info = await active(token);
    assert.equal(info.active, true);
    assert.equal(info.token_use, 'refresh_token');
    assert.equal(info.token_type, undefined); // RFC 7662 §2.2: an access token type, which a refresh token has none of
    assert.equal(info.sid, sid);
    assert.equal(info.auth_time, clock.now());
    assert.equal(info.exp, clock.now() + 30 * 86400);
  });

  it('without offline_access: refreshes while the session lives, refused once it has ended', async () => {
    const sid = await session();
    const first = await issue(sid, false);
    const res = await refresh(first);
    assert.equal(res.status, 200);
    const pair = (await res.json()) as { refresh_token: string; access_token: string };
    const second = pair.refresh_token;
    // the new access token carries the session id
    assert.equal((await active(pair.access_token)).sid, sid);
    await server.running.storage.ssoSessions.delete(sid);
    await expectGrantError(await refresh(second), 'the session this refresh token belongs to has ended');
  });

  it('without offline_access: an idle-expired session ends the refresh token too', async () => {
    const sid = await session({ last_seen_at: clock.now() - 31 * 60 });
    await expectGrantError(await refresh(await issue(sid, false)), 'the session this refresh token belongs to has ended');
  });

  it('with openid in scope: a new ID token for the same authentication (sid, auth_time, at_hash, no nonce)', async () => {
    const sid = await session();
    const client = (await ctx.clients.get('app'))!;
    const authTime = clock.now() - 100;
    const token = await issueRefreshToken(ctx, { client, sub: aliceId, scope: ['openid', 'orders:read'], grantId: randomUUID(), sid, authTime, offline: false });
    const res = await refresh(token);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { id_token: string; access_token: string; scope: string };
    assert.equal(body.scope, 'openid orders:read');
    const jwks = jose.createLocalJWKSet((await (await fetch(`${server.issuer}/.well-known/jwks.json`)).json()) as jose.JSONWebKeySet);
    const { payload } = await jose.jwtVerify(body.id_token, jwks, { issuer: server.issuer, audience: 'app', currentDate: new Date(clock.now() * 1000) });
    assert.equal(payload.sub, aliceId);
    assert.equal(payload.sid, sid);
    assert.equal(payload.auth_time, authTime);
    assert.equal('nonce' in payload, false);
    const digest = createHash('sha256').update(body.access_token).digest();
    assert.equal(payload.at_hash, digest.subarray(0, 16).toString('base64url'));
  });

  it('with offline_access: outlives the session', async () => {
    const sid = await session();
    const token = await issue(sid, true);
    await server.running.storage.ssoSessions.delete(sid);
    assert.equal((await refresh(token)).status, 200);
  });

  it('`drawbridge user revoke` signs the user out everywhere: tokens revoked, sessions ended', async () => {
    const login = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'password', username: 'alice', password: PASSWORD }, { authorization: basic('app', SECRET) });
    assert.equal(login.status, 200);
    const pair = (await login.json()) as { access_token: string; refresh_token: string };
    const sid = await session();
    const bound = await issue(sid, false);
    const r = await runCli(['user', 'revoke', 'alice', '--config', configFile, '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { username: string; tokens_revoked: number; sessions_ended: number };
    assert.equal(out.username, 'alice');
    assert.ok(out.tokens_revoked >= 3, r.stdout);
    assert.ok(out.sessions_ended >= 1, r.stdout);
    assert.equal((await active(pair.access_token)).active, false);
    assert.equal((await active(pair.refresh_token)).active, false);
    await expectGrantError(await refresh(pair.refresh_token), 'refresh token is revoked');
    await expectGrantError(await refresh(bound), 'refresh token is revoked');
    assert.equal(await server.running.storage.ssoSessions.get(sid), undefined);
  });

  it('`drawbridge user revoke` of an unknown user fails with exit code 1', async () => {
    const r = await runCli(['user', 'revoke', 'nobody', '--config', configFile], { timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no user "nobody"/);
  });
});
