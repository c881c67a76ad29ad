// A refresh under way while the user's tokens are revoked (`drawbridge session revoke`, `user
// revoke`, RP-initiated logout), on PostgreSQL. The refresh stores its new pair and then
// rotates the old token with one conditional UPDATE, so a revocation that reaches the old token
// first makes the rotation fail, and one that comes after the rotation sees the new pair: on
// SQLite and memory: nothing escapes. But PostgreSQL (READ COMMITTED) runs each UPDATE on the
// rows committed when the statement started: a revoking UPDATE that started before the new
// pair was stored, and reached the old token only after the rotation, skipped it (revoked by
// the rotation) and never saw the pair, which stayed active (an offline refresh token: for its
// whole 30 days, after a sign-out everywhere). The revocations now run a second pass, which
// starts after the first has seen the rotation and so sees the pair.
//
// Deterministic: a row lock held by the test on a token the revoking UPDATE reaches before the
// old one stops it there, after its start; meanwhile the refresh, held by a hook on storage
// until then, stores its pair and rotates; then the lock is released.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { endSsoSession, endUserSessions, logoutDeps } from '../../src/auth/logout/end-sessions.js';
import { sha256Base64url } from '../../src/core/crypto-util.js';
import { openStorage } from '../../src/storage/open.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { freshPostgresSchema, postgresUrl, type TestSchema } from '../helpers/services.js';

const PASSWORD = 'correct horse battery staple 42';
const CB = 'https://app.example/cb';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';
const VERIFIER = 'v'.repeat(43);
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');

interface Tokens {
  access_token: string;
  refresh_token: string;
}

const base = await postgresUrl();

describe('a refresh racing the revocation of its tokens, on PostgreSQL', { skip: base === undefined ? 'PostgreSQL not reachable' : undefined }, () => {
  // each test on a fresh schema: the rows' order in the table is the order they were stored in
  let schema: TestSchema;
  let server: TestServer;
  let locker: pg.Client;
  let observer: pg.Client;
  let userId: string;
  /** armed: the next access token stored for the user waits for `release` */
  let hold: { stored: () => void; release: Promise<void>; rotated: () => void } | undefined;

  beforeEach(async () => {
    schema = await freshPostgresSchema(base!);
    await (await openStorage(schema.url, { autoMigrate: true })).close(); // PostgreSQL is never migrated implicitly
    server = await startAuth(
      {
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD, claims: {} }],
        clients: [
          { client_id: 'web', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scopes: ['openid', 'offline_access'], consent: 'skip' },
          { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
        ],
      },
      { storage: schema.url },
    );
    const tokens = server.running.storage.tokens;
    userId = (await server.running.storage.users.getByUsername('alice'))!.id;
    const insert = tokens.insert.bind(tokens);
    tokens.insert = async (rec) => {
      const held = hold;
      if (held && rec.kind === 'access_token' && rec.sub === userId) {
        held.stored();
        await held.release;
      }
      return insert(rec);
    };
    const rotate = tokens.rotateRefresh.bind(tokens);
    tokens.rotateRefresh = async (...args) => {
      const rotated = await rotate(...args);
      hold?.rotated();
      return rotated;
    };
    locker = new pg.Client({ connectionString: schema.url });
    observer = new pg.Client({ connectionString: schema.url });
    await Promise.all([locker.connect(), observer.connect()]);
  });

  afterEach(async () => {
    hold = undefined;
    await Promise.all([locker?.end(), observer?.end()]);
    await server?.close();
    await schema?.drop();
  });

  const active = async (token: string) =>
    ((await (await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', RS_SECRET) })).json()) as { active: boolean }).active;

  async function signIn(scope: string): Promise<Tokens> {
    const u = new URL(`${server.issuer}/oauth2/authorize`);
    const params = { client_id: 'web', redirect_uri: CB, response_type: 'code', scope, state: 'st', code_challenge: CHALLENGE, code_challenge_method: 'S256' };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const browser = new Browser();
    const login = parseForm(await (await browser.fetch(u.href)).text());
    const res = await browser.fetch(login.action, { form: [...login.fields, ['username', 'alice'], ['password', PASSWORD]] });
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    const exchanged = await postForm(`${server.issuer}/oauth2/token`, { grant_type: 'authorization_code', client_id: 'web', code, redirect_uri: CB, code_verifier: VERIFIER });
    assert.equal(exchanged.status, 200);
    return (await exchanged.json()) as Tokens;
  }

  /** Resolves once a statement of another connection waits for a lock the locker holds. */
  async function blockedByLocker(): Promise<void> {
    const pid = (await locker.query('select pg_backend_pid() as pid')).rows[0].pid as number;
    for (let i = 0; i < 1000; i++) {
      const { rows } = await observer.query('select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [pid]);
      if (rows[0].n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the revocation never waited for the lock');
  }

  /**
   * The refresh of `old` runs until it stores its new access token; `revoke` starts and is held
   * by the lock on `lockedDigest`; the refresh stores its pair and rotates; the lock goes.
   * Returns the refresh's answer once both are done.
   */
  async function race(old: Tokens, lockedDigest: string, revoke: () => Promise<unknown>): Promise<Response> {
    let stored!: () => void;
    let release!: () => void;
    let rotated!: () => void;
    const isStored = new Promise<void>((resolve) => (stored = resolve));
    const isRotated = new Promise<void>((resolve) => (rotated = resolve));
    hold = { stored, rotated, release: new Promise<void>((resolve) => (release = resolve)) };
    await locker.query('begin');
    await locker.query('select 1 from tokens where digest = $1 for update', [lockedDigest]);
    const refreshing = postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', client_id: 'web', refresh_token: old.refresh_token });
    try {
      await isStored; // the refresh passed its checks and is about to store its pair
      const revoking = revoke();
      revoking.catch(() => undefined);
      await blockedByLocker(); // the revocation started, and waits
      release();
      await isRotated; // the pair is stored and the old token rotated
      hold = undefined;
      await locker.query('commit');
      await revoking;
      return await refreshing;
    } finally {
      hold = undefined;
      release();
      await locker.query('rollback').catch(() => undefined);
    }
  }

  async function nothingActive(res: Response): Promise<void> {
    const body = (await res.json()) as Partial<Tokens> & { error?: string };
    if (body.access_token !== undefined) assert.equal(await active(body.access_token), false, 'the new access token');
    if (body.refresh_token !== undefined) assert.equal(await active(body.refresh_token), false, 'the new refresh token');
    assert.ok(res.status === 200 || body.error === 'invalid_grant', JSON.stringify(body));
  }

  it('session revoke (logout) of a session-bound family: the new pair is revoked too', async () => {
    const old = await signIn('openid');
    const [session] = await server.running.storage.ssoSessions.listByUser(userId);
    // the family's first access token, stored before its refresh token: the revocation reaches it first
    const res = await race(old, sha256Base64url(old.access_token), () => endSsoSession(logoutDeps(server.running.auth!.ctx), session!));
    await nothingActive(res);
  });

  it('user revoke (sign out everywhere) of an offline family: the new pair is revoked too', async () => {
    // a token of the user stored before the family: the user-wide revocation reaches it first
    const earlier = `earlier-${Date.now()}`;
    await server.running.storage.tokens.insert({
      digest: earlier, kind: 'access_token', format: 'opaque', jti: earlier, client_id: 'web', sub: userId, scope: 'openid', audience: [], grant_id: null,
      issued_at: Math.floor(Date.now() / 1000), expires_at: Math.floor(Date.now() / 1000) + 600, revoked_at: null, extra: null,
    });
    const old = await signIn('openid offline_access');
    const res = await race(old, earlier, () => endUserSessions(logoutDeps(server.running.auth!.ctx), userId));
    await nothingActive(res);
  });
});
