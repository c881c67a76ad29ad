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
import { endSsoSession, endUserSessions, logoutDeps } from '../../src/auth/logout/end-sessions.js';
import { sha256Base64url } from '../../src/core/crypto-util.js';
import { postForm, type TestServer } from '../helpers/auth-server.js';
import { Browser, parseForm } from '../helpers/browser.js';
import { Gate, introspectedActive, startRowLockRace, type RowLockRace } from '../helpers/pg-row-lock.js';
import { postgresUrl } from '../helpers/services.js';

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
  let harness: RowLockRace;
  let server: TestServer;
  let userId: string;
  /** armed: the next access token stored for the user waits at `gate`; `rotated` is reached once the old token is rotated */
  let hold: { gate: Gate; rotated: Gate } | undefined;

  beforeEach(async () => {
    harness = await startRowLockRace(base!, {
      brute_force: { enabled: false },
      users: [{ username: 'alice', password: PASSWORD, claims: {} }],
      clients: [
        { client_id: 'web', redirect_uris: [CB], grant_types: ['authorization_code', 'refresh_token'], scopes: ['openid', 'offline_access'], consent: 'skip' },
        { client_id: 'rs', client_secret: RS_SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
      ],
    });
    server = harness.server;
    const tokens = server.running.storage.tokens;
    userId = (await server.running.storage.users.getByUsername('alice'))!.id;
    const insert = tokens.insert.bind(tokens);
    tokens.insert = async (rec) => {
      const held = hold;
      if (held && rec.kind === 'access_token' && rec.sub === userId) await held.gate.wait();
      return insert(rec);
    };
    const rotate = tokens.rotateRefresh.bind(tokens);
    tokens.rotateRefresh = async (...args) => {
      const rotated = await rotate(...args);
      hold?.rotated.arrive();
      return rotated;
    };
  });

  afterEach(async () => {
    hold = undefined;
    await harness?.close();
  });

  const active = (token: string) => introspectedActive(server, RS_SECRET, token);

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

  /**
   * The refresh of `old` runs until it stores its new access token; `revoke` starts and is held
   * by the lock on `lockedDigest`; the refresh stores its pair and rotates; the lock goes.
   * Returns the refresh's answer once both are done.
   */
  async function race(old: Tokens, lockedDigest: string, revoke: () => Promise<unknown>): Promise<Response> {
    const [locker] = harness.lockers;
    const gate = new Gate();
    const rotated = new Gate();
    hold = { gate, rotated };
    await harness.lock(locker!, lockedDigest);
    const refreshing = postForm(`${server.issuer}/oauth2/token`, { grant_type: 'refresh_token', client_id: 'web', refresh_token: old.refresh_token });
    try {
      await gate.reached; // the refresh passed its checks and is about to store its pair
      const revoking = revoke();
      revoking.catch(() => undefined);
      await harness.blockedBy(locker!); // the revocation started, and waits
      gate.open();
      await rotated.reached; // the pair is stored and the old token rotated
      hold = undefined;
      await locker!.query('commit');
      await revoking;
      return await refreshing;
    } finally {
      hold = undefined;
      gate.open();
      await harness.rollback();
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
