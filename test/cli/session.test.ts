// `drawbridge session list|revoke` against a running auth server on SQLite: the rows show the
// SSO sessions a browser made (with the clients used in each); revoking one by id prefix, or
// all of a user's, ends them, kills their refresh tokens and sends back-channel logout tokens
// (verified with jose against the server's JWKS) to a real receiver; one it refuses is left in
// the database for the running server to retry. `user lock`, `user delete` and `user
// set-password --sign-out` end the SSO sessions the same way: a browser's old SSO cookie lands
// on the login page after an unlock.
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import * as jose from 'jose';
import { IDLE_LOOK_MS } from '../../src/auth/logout/retries.js';
import { freePort, postForm, startAuth, TEST_SECRET, testKeys, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { redisUrl } from '../helpers/services.js';
import { runCli } from './spawn.js';

const redisUrlValue = await redisUrl();
const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://web.example/cb';

interface Row {
  kind: string;
  id: string;
  user: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  amr: string[];
  clients: string[];
}

describe('drawbridge session list | revoke', () => {
  let dir: string;
  let configFile: string;
  let server: TestServer;
  let receiver: Server;
  const logoutTokens: string[] = [];
  /** how many of the next deliveries the receiver refuses (500) */
  let refuse = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-session-cli-'));
    const storage = `sqlite:${join(dir, 'drawbridge.db')}`;
    const port = await freePort();
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        logoutTokens.push(new URLSearchParams(body).get('logout_token') ?? '');
        res.writeHead(refuse > 0 ? 500 : 200).end();
        if (refuse > 0) refuse--;
      });
    });
    await new Promise<void>((resolve) => receiver.listen(port, '127.0.0.1', resolve));
    server = await startAuth(
      {
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD, claims: {} }, { username: 'bob', password: PASSWORD, claims: {} }, { username: 'dan', password: PASSWORD, claims: {} }],
        clients: [
          { client_id: 'web', redirect_uris: [CB], scopes: ['openid'], consent: 'skip', backchannel_logout_uri: `http://127.0.0.1:${port}/bc`, backchannel_logout_session_required: true },
        ],
      },
      { storage },
    );
    configFile = join(dir, 'drawbridge.json');
    // the CLI signs logout tokens as this issuer, with the keys in the same database and the
    // server's key settings (another keys.id_token_algorithms would make it add a key of its own)
    await writeFile(configFile, JSON.stringify({ issuer: server.issuer, storage, secret: TEST_SECRET, keys: testKeys(undefined), log: { level: 'silent' }, auth: { listen: '127.0.0.1:0', backchannel_logout: { retry_delays: [3] } } }));
  });

  after(async () => {
    await server?.close();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function authorizeUrl(): { url: string; verifier: string } {
    const verifier = randomBytes(32).toString('base64url');
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: CB, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return { url: u.href, verifier };
  }

  async function signIn(username = 'alice', password = PASSWORD): Promise<{ id_token: string; refresh_token: string; sid: string; browser: Browser }> {
    const browser = new Browser();
    const { url, verifier } = authorizeUrl();
    const form = parseForm(await (await browser.fetch(url)).text());
    const res = await browser.fetch(form.action, { form: [...form.fields, ['username', username], ['password', password]] });
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const token = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', code, redirect_uri: CB, client_id: 'web', code_verifier: verifier });
    assert.equal(token.status, 200);
    const body = (await token.json()) as { id_token: string; refresh_token: string };
    return { ...body, sid: jose.decodeJwt(body.id_token).sid as string, browser };
  }

  /** What the browser's SSO cookie does at a new authorization request: back to the client with a code, or the login page. */
  async function ssoCookie(browser: Browser): Promise<'signed in' | 'login page'> {
    const res = await browser.fetch(authorizeUrl().url);
    const text = await res.text();
    if (res.status === 200 && /name="password"/.test(text)) return 'login page';
    const location = res.headers.get('location') ?? '';
    assert.ok(location.startsWith(CB) && new URL(location).searchParams.get('code'), `${res.status} ${location}`);
    return 'signed in';
  }

  /** The logout tokens received for `sid`, verified against the server's JWKS. */
  async function logoutTokensFor(sid: string): Promise<jose.JWTPayload[]> {
    const jwks = jose.createLocalJWKSet((await (await fetch(`${server.issuer}/.well-known/jwks.json`)).json()) as jose.JSONWebKeySet);
    const found: jose.JWTPayload[] = [];
    for (const t of logoutTokens) {
      const { payload } = await jose.jwtVerify(t, jwks, { issuer: server.issuer, audience: 'web', typ: 'logout+jwt' });
      if (payload.sid === sid) found.push(payload);
    }
    return found;
  }

  async function refreshStatus(token: string): Promise<number> {
    const res = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: token, client_id: 'web' });
    await res.arrayBuffer();
    return res.status;
  }

  function cli(...args: string[]) {
    return runCli([...args, '--config', configFile], { timeoutMs: 60_000 });
  }

  async function list(username: string): Promise<Row[]> {
    const r = await cli('session', 'list', '--user', username, '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Row[];
  }

  it('list shows the SSO sessions with the clients used in them; revoke --id (a prefix) ends one; revoke --user the rest', async () => {
    const aliceId = (await server.running.storage.users.getByUsername('alice'))!.id;
    const one = await signIn();
    const two = await signIn();
    const bobs = await signIn('bob');

    const rows = await list('alice');
    assert.deepEqual(rows.map((r) => r.id).sort(), [one.sid, two.sid].sort());
    for (const r of rows) {
      assert.equal(r.kind, 'sso');
      assert.equal(r.user, aliceId);
      assert.deepEqual(r.clients, ['web']);
      assert.deepEqual(r.amr, ['pwd']);
      assert.ok(r.expires_at > r.created_at);
    }
    const table = await cli('session', 'list', '--user', 'alice');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^KIND\s+ID\s+CREATED\s+LAST_SEEN\s+EXPIRES\s+AMR\s+CLIENTS/);
    assert.ok(table.stdout.includes(one.sid.slice(0, 12)), table.stdout);
    assert.ok(!table.stdout.includes(one.sid), 'the table shows a prefix, not the whole id');

    // one session, by the prefix the table shows
    logoutTokens.length = 0;
    const byId = await cli('session', 'revoke', '--user', 'alice', '--id', one.sid.slice(0, 12), '--json');
    assert.equal(byId.code, 0, byId.stderr);
    const out1 = JSON.parse(byId.stdout) as { username: string; sessions_ended: number; sessions: Array<{ id: string }>; backchannel: Array<{ client_id: string; delivered: boolean }> };
    assert.equal(out1.username, 'alice');
    assert.ok(!('user' in out1), byId.stdout);
    assert.equal(out1.sessions_ended, 1);
    assert.equal(out1.sessions[0]!.id, one.sid);
    assert.deepEqual(out1.backchannel.map((d) => [d.client_id, d.delivered]), [['web', true]]);
    assert.equal(await refreshStatus(one.refresh_token), 400);
    assert.deepEqual((await list('alice')).map((r) => r.id), [two.sid]);
    const jwks = jose.createLocalJWKSet((await (await fetch(`${server.issuer}/.well-known/jwks.json`)).json()) as jose.JSONWebKeySet);
    assert.equal(logoutTokens.length, 1);
    const { payload } = await jose.jwtVerify(logoutTokens[0]!, jwks, { issuer: server.issuer, audience: 'web', typ: 'logout+jwt' });
    assert.equal(payload.sid, one.sid);
    assert.equal(payload.sub, aliceId);

    // the rest of alice's: sign out everywhere
    const all = await cli('session', 'revoke', '--user', 'alice');
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /ended 1 session\(s\) of alice; revoked \d+ token\(s\)/);
    assert.match(all.stdout, /back-channel logout: 1 delivered, 0 failed/);
    assert.equal(await refreshStatus(two.refresh_token), 400);
    assert.deepEqual(await list('alice'), []);
    assert.equal(logoutTokens.length, 2);
    assert.equal(jose.decodeJwt(logoutTokens[1]!).sid, two.sid);

    // bob was not touched
    assert.deepEqual((await list('bob')).map((r) => r.id), [bobs.sid]);
    assert.equal(await refreshStatus(bobs.refresh_token), 200);
  });

  it('`user revoke` takes the same path: sessions ended, back-channel sent; --json answers as the admin API\'s /logout', async () => {
    const s = await signIn('bob');
    logoutTokens.length = 0;
    const r = await cli('user', 'revoke', 'bob', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { username: string; sessions_ended: number; sessions: Array<{ id: string }>; tokens_revoked: number; backchannel: Array<{ client_id: string; delivered: boolean }> };
    // core/signed-out.ts signedOutAnswer, beside the username (POST /users/{username}/logout)
    assert.deepEqual(Object.keys(out).sort(), ['backchannel', 'sessions', 'sessions_ended', 'tokens_revoked', 'username']);
    assert.equal(out.username, 'bob');
    assert.ok(out.sessions_ended >= 1);
    assert.equal(out.sessions.length, out.sessions_ended);
    assert.deepEqual(out.sessions.find((x) => x.id === s.sid), { kind: 'sso', id: s.sid, clients: ['web'] });
    assert.ok(out.backchannel.some((d) => d.client_id === 'web' && d.delivered));
    assert.equal(await refreshStatus(s.refresh_token), 400);
    assert.deepEqual(await list('bob'), []);
    assert.ok(logoutTokens.some((t) => jose.decodeJwt(t).sid === s.sid));
  });

  it('`session revoke --user --json` answers as `user revoke --json` (and POST /users/{username}/logout): `username`, not `user`', async () => {
    const s = await signIn('bob');
    const r = await cli('session', 'revoke', '--user', 'bob', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { username: string; sessions_ended: number; sessions: Array<{ kind: string; id: string; clients: string[] }> };
    assert.deepEqual(Object.keys(out).sort(), ['backchannel', 'sessions', 'sessions_ended', 'tokens_revoked', 'username']);
    assert.equal(out.username, 'bob');
    assert.deepEqual(out.sessions.find((x) => x.id === s.sid), { kind: 'sso', id: s.sid, clients: ['web'] });
    assert.equal(out.sessions.length, out.sessions_ended);
    // one session by its full id alone names no user: no `username` then
    const t = await signIn('bob');
    const byId = await cli('session', 'revoke', '--id', t.sid, '--json');
    assert.equal(byId.code, 0, byId.stderr);
    assert.deepEqual(Object.keys(JSON.parse(byId.stdout) as object).sort(), ['backchannel', 'sessions', 'sessions_ended', 'tokens_revoked']);
  });

  it('`user lock` ends the SSO sessions: after `user unlock` the old cookie lands on the login page; the client got a logout token', async () => {
    const s = await signIn('dan');
    assert.equal(await ssoCookie(s.browser), 'signed in', 'the SSO session works before the lock');
    const locked = await cli('user', 'lock', 'dan');
    assert.equal(locked.code, 0, locked.stderr);
    assert.equal((await cli('user', 'unlock', 'dan')).code, 0);
    assert.equal(await ssoCookie(s.browser), 'login page', 'no way back in without the password');
    assert.deepEqual(await list('dan'), []);
    const tokens = await logoutTokensFor(s.sid);
    assert.equal(tokens.length, 1);
    assert.equal(tokens[0]!.sub, (await server.running.storage.users.getByUsername('dan'))!.id);
    assert.equal(await refreshStatus(s.refresh_token), 400);
    assert.match(locked.stdout, /^locked dan; revoked \d+ token\(s\), ended 1 session\(s\)\nback-channel logout: 1 delivered, 0 failed\n$/);
  });

  it('`user set-password` keeps the sessions unless --sign-out; `user delete` ends them', async () => {
    const made = await cli('user', 'create', 'erin', '--json');
    assert.equal(made.code, 0, made.stderr);
    const first = (JSON.parse(made.stdout) as { password: string }).password;
    const s = await signIn('erin', first);

    const kept = await cli('user', 'set-password', 'erin', '--json');
    assert.equal(kept.code, 0, kept.stderr);
    const second = JSON.parse(kept.stdout) as { password: string; signed_out?: unknown };
    assert.equal(second.signed_out, undefined);
    assert.equal(await ssoCookie(s.browser), 'signed in', 'the default keeps the sessions');
    assert.equal(await refreshStatus(s.refresh_token), 200);

    const signedOut = await cli('user', 'set-password', 'erin', '--sign-out');
    assert.equal(signedOut.code, 0, signedOut.stderr);
    assert.match(signedOut.stdout, /^password of erin replaced; signed out everywhere: revoked \d+ token\(s\), ended 1 session\(s\)\nback-channel logout: 1 delivered, 0 failed\npassword: \S+/);
    assert.equal(await ssoCookie(s.browser), 'login page');
    assert.equal((await logoutTokensFor(s.sid)).length, 1);
    const third = /^password: (\S+)$/m.exec(signedOut.stdout)![1]!;

    const again = await signIn('erin', third);
    const deleted = await cli('user', 'delete', 'erin');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /^deleted user erin; revoked \d+ token\(s\), ended 1 session\(s\)\nback-channel logout: 1 delivered, 0 failed\n$/);
    assert.equal((await logoutTokensFor(again.sid)).length, 1);
    assert.equal(await server.running.storage.ssoSessions.get(again.sid), undefined);
    assert.equal(await refreshStatus(again.refresh_token), 400);
  });

  it('`user lock --json` and `user delete --json` answer as `user revoke --json`, counting every token revoked', async () => {
    const made = await cli('user', 'create', 'fay', '--json');
    assert.equal(made.code, 0, made.stderr);
    const password = (JSON.parse(made.stdout) as { password: string }).password;
    type Answer = { username: string; sessions_ended: number; sessions: Array<{ kind: string; id: string; clients: string[] }>; tokens_revoked: number; backchannel: Array<{ client_id: string; delivered: boolean }> };
    const keys = ['backchannel', 'sessions', 'sessions_ended', 'tokens_revoked', 'username'];
    for (const command of ['lock', 'delete']) {
      const s = await signIn('fay', password);
      const r = await cli('user', command, 'fay', '--json');
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as Answer;
      assert.deepEqual(Object.keys(out).sort(), keys, command);
      assert.equal(out.username, 'fay');
      assert.deepEqual(out.sessions, [{ kind: 'sso', id: s.sid, clients: ['web'] }], command);
      assert.equal(out.sessions_ended, 1);
      // the sign-in's access and refresh token at least
      assert.ok(out.tokens_revoked >= 2, `${command}: tokens_revoked ${out.tokens_revoked}`);
      assert.deepEqual(out.backchannel.map((d) => [d.client_id, d.delivered]), [['web', true]]);
      assert.equal(await refreshStatus(s.refresh_token), 400);
      if (command === 'lock') assert.equal((await cli('user', 'unlock', 'fay')).code, 0);
    }
    assert.equal(await server.running.storage.users.getByUsername('fay'), undefined);
  });

  it('usage errors: no --user/--id, an unknown user, an unknown id', async () => {
    const none = await cli('session', 'revoke');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /give --user NAME or --id ID/);
    const nobody = await cli('session', 'list', '--user', 'nobody');
    assert.equal(nobody.code, 2);
    assert.match(nobody.stderr, /no user "nobody"/);
    const unknown = await cli('session', 'revoke', '--id', 'no-such-session');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no session "no-such-session"/);
  });

  it('a delivery the CLI could not make is stored, and the running auth server retries it', async () => {
    const s = await signIn('bob');
    logoutTokens.length = 0;
    refuse = 1;
    const r = await cli('session', 'revoke', '--user', 'bob');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /back-channel logout: 0 delivered, 0 failed, 1 to be retried by the auth server \(web\)/);
    // The CLI prints that, and exits, only once its attempt failed and the retry is stored. From
    // then on the running server may claim and send it, as soon as it is due (3 s later): a slow
    // exit is enough for that, so neither the stored row nor the number of deliveries received
    // can be read here. What the CLI scheduled is in its own log line instead: stored ("will
    // retry") after its config's auth.backchannel_logout.retry_delays (3 s, and a second).
    assert.ok(logoutTokens.length >= 1, 'the CLI attempted it');
    const scheduled = r.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.event === 'logout.backchannel_retry');
    assert.deepEqual(
      scheduled.map((line) => [line.client_id, line.attempt, line.retry_in_s, line.msg]),
      [['web', 1, 4, 'back-channel logout failed; will retry']],
      r.stderr,
    );
    // the server's retries find it in the database at their next look (every IDLE_LOOK_MS) and
    // send it when due
    for (let i = 0; i < (IDLE_LOOK_MS + 5000) / 25 && logoutTokens.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.equal(logoutTokens.length, 2, 'retried by the server');
    assert.equal(jose.decodeJwt(logoutTokens[1]!).jti, jose.decodeJwt(logoutTokens[0]!).jti, 'the same logout');
    assert.equal(jose.decodeJwt(logoutTokens[1]!).sid, s.sid);
    // deleted once the server has the receiver's 200 (it sent the token before)
    for (let i = 0; i < 200 && (await server.running.storage.backchannelLogouts.list()).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.deepEqual(await server.running.storage.backchannelLogouts.list(), [], 'delivered: deleted');
  });
});

describe('drawbridge session list | revoke with redis: (sessions and events in Redis)', { skip: redisUrlValue === undefined ? 'Redis not reachable' : undefined }, () => {
  let dir: string;
  let configFile: string;
  let server: TestServer;
  let sub: Redis;
  const events: Array<Record<string, unknown>> = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drawbridge-session-cli-redis-'));
    const storage = `sqlite:${join(dir, 'drawbridge.db')}`;
    server = await startAuth(
      {
        brute_force: { enabled: false },
        users: [{ username: 'carol', password: PASSWORD, claims: {} }],
        clients: [{ client_id: 'web', redirect_uris: [CB], scopes: ['openid'], consent: 'skip' }],
      },
      { storage, redis: redisUrlValue },
    );
    configFile = join(dir, 'drawbridge.json');
    await writeFile(configFile, JSON.stringify({ issuer: server.issuer, storage, redis: redisUrlValue, secret: TEST_SECRET, keys: testKeys(undefined), log: { level: 'silent' }, auth: { listen: '127.0.0.1:0' } }));
    sub = new Redis(redisUrlValue!, { maxRetriesPerRequest: 1 });
    await sub.subscribe('drawbridge:events');
    sub.on('message', (_c, m) => events.push(JSON.parse(m) as Record<string, unknown>));
  });

  after(async () => {
    await sub?.quit();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists the Redis-held session, revokes it, and tells the gateways', async () => {
    const browser = new Browser();
    const verifier = randomBytes(32).toString('base64url');
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: CB, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const form = parseForm(await (await browser.fetch(u.href)).text());
    const res = await browser.fetch(form.action, { form: [...form.fields, ['username', 'carol'], ['password', PASSWORD]] });
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const token = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', code, redirect_uri: CB, client_id: 'web', code_verifier: verifier });
    const body = (await token.json()) as { id_token: string; refresh_token: string };
    const sid = jose.decodeJwt(body.id_token).sid as string;
    assert.equal(await server.running.storage.ssoSessions.get(sid), undefined, 'the session is in Redis, not SQL');

    const cli = (...args: string[]) => runCli([...args, '--config', configFile], { timeoutMs: 60_000 });
    const listed = await cli('session', 'list', '--user', 'carol', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as Row[];
    assert.deepEqual(rows.map((r) => [r.kind, r.id, r.clients]), [['sso', sid, ['web']]]);

    const revoked = await cli('session', 'revoke', '--user', 'carol', '--json');
    assert.equal(revoked.code, 0, revoked.stderr);
    const answer = JSON.parse(revoked.stdout) as { username: string; sessions_ended: number };
    assert.equal(answer.sessions_ended, 1);
    assert.equal(answer.username, 'carol');
    const refreshed = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', refresh_token: body.refresh_token, client_id: 'web' });
    assert.equal(refreshed.status, 400);
    assert.equal(await server.running.auth!.ctx.ssoSessions!.get(sid), undefined);
    const carol = (await server.running.storage.users.getByUsername('carol'))!.id;
    for (let i = 0; i < 100 && !(events.some((e) => e.type === 'session.revoked' && e.sid === sid) && events.some((e) => e.type === 'user.revoked' && e.sub === carol)); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(events.some((e) => e.type === 'session.revoked' && e.sid === sid), JSON.stringify(events));
    assert.ok(events.some((e) => e.type === 'user.revoked' && e.sub === carol), JSON.stringify(events));
  });
});
