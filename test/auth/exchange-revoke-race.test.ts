// A token exchange (RFC 8693) under way while its subject token is revoked (RFC 7009), on
// PostgreSQL. Revoking a token revokes what was exchanged from it, down the chain
// (revokeExchanged), one UPDATE per level. PostgreSQL (READ COMMITTED) runs each UPDATE on
// the rows committed when it started: a token exchanged while it runs is not among them, as
// a refresh's new pair escaped the revocation of its family (refresh-revoke-race.test.ts,
// which needed a second pass). Here nothing escapes, and these tests hold that:
// - a token exchanged from the revoked token itself, stored after the UPDATE started: the
//   exchange reads its subject token again once it stored the new one, finds it revoked (that
//   commits before the UPDATE starts), takes the new token back and refuses;
// - a token exchanged from a child the UPDATE is about to revoke, while it runs: its subject
//   token is still active, so it is handed out; the next level's UPDATE, which starts once
//   this one is done, sees it.
// So revokeExchanged needs no second pass.
//
// Deterministic: a row lock held by the test on a child of the revoked token stops the
// revoking UPDATE there, after its start; meanwhile the exchange (held by a hook on storage
// until then, in the first case) stores its token; then the lock is released.
import * as assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { endUserSessions, logoutDeps } from '../../src/auth/logout/end-sessions.js';
import { sha256Base64url } from '../../src/core/crypto-util.js';
import { openStorage } from '../../src/storage/open.js';
import { basic, postForm, startAuth, type TestServer } from '../helpers/auth-server.js';
import { freshPostgresSchema, postgresUrl, type TestSchema } from '../helpers/services.js';

const SECRET = 'exchange-race-secret-0123456789abcdef';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';

type Body = Record<string, unknown>;

const base = await postgresUrl();

describe('a token exchange racing the revocation of its subject token, on PostgreSQL', { skip: base === undefined ? 'PostgreSQL not reachable' : undefined }, () => {
  let schema: TestSchema;
  let server: TestServer;
  let locker: pg.Client;
  let observer: pg.Client;
  /** armed: the next token exchanged from `parent` waits for `release` before it is stored */
  let hold: { parent: string; stored: () => void; release: Promise<void> } | undefined;

  beforeEach(async () => {
    schema = await freshPostgresSchema(base!);
    await (await openStorage(schema.url, { autoMigrate: true })).close(); // PostgreSQL is never migrated implicitly
    server = await startAuth(
      {
        clients: [
          { client_id: 'svc', client_secret: SECRET, grant_types: ['client_credentials', GRANT], scopes: ['a'] },
          { client_id: 'rs', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
        ],
      },
      { storage: schema.url },
    );
    const tokens = server.running.storage.tokens;
    const insert = tokens.insert.bind(tokens);
    tokens.insert = async (rec) => {
      const held = hold;
      if (held && rec.exchanged_from === held.parent) {
        hold = undefined;
        held.stored();
        await held.release;
      }
      return insert(rec);
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

  const tokenRequest = (form: Record<string, string>) => postForm(`${server.issuer}/oauth2/token`, form, { authorization: basic('svc', SECRET) });

  async function issued(res: Response): Promise<string> {
    const body = (await res.json()) as Body;
    assert.equal(res.status, 200, JSON.stringify(body));
    return String(body.access_token);
  }

  const clientToken = async () => issued(await tokenRequest({ grant_type: 'client_credentials', scope: 'a' }));
  const exchange = (subject: string) => tokenRequest({ grant_type: GRANT, subject_token: subject, subject_token_type: ACCESS });

  const revoke = async (token: string) => {
    const res = await postForm(`${server.issuer}/oauth2/revoke`, { token }, { authorization: basic('svc', SECRET) });
    assert.equal(res.status, 200);
  };

  const active = async (token: string) =>
    ((await (await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', SECRET) })).json()) as { active: boolean }).active;

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

  /** Locks `child`'s row, starts revoking `subject` and resolves once its UPDATE waits for the lock. */
  async function revokeHeldAt(subject: string, child: string): Promise<{ revoking: Promise<void> }> {
    await locker.query('begin');
    await locker.query('select 1 from tokens where digest = $1 for update', [sha256Base64url(child)]);
    const revoking = revoke(subject);
    revoking.catch(() => undefined);
    await blockedByLocker();
    return { revoking };
  }

  it('a token exchanged from the revoked token, stored while the revocation of its children runs → refused, not active', async () => {
    const subject = await clientToken();
    const child = await issued(await exchange(subject));
    // the exchange passes its checks (the subject is still active) and waits before storing
    let stored!: () => void;
    let release!: () => void;
    const isStored = new Promise<void>((resolve) => (stored = resolve));
    hold = { parent: sha256Base64url(subject), stored, release: new Promise<void>((resolve) => (release = resolve)) };
    const exchanging = exchange(subject);
    try {
      await isStored;
      const { revoking } = await revokeHeldAt(subject, child);
      release(); // stored now, after the revoking UPDATE started
      const res = await exchanging;
      await locker.query('commit');
      await revoking;
      const body = (await res.json()) as Body;
      if (body.access_token !== undefined) assert.equal(await active(String(body.access_token)), false, 'the token exchanged meanwhile');
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.error, 'invalid_request');
      assert.equal(await active(child), false, 'the child held by the lock');
    } finally {
      release();
      await locker.query('rollback').catch(() => undefined);
    }
  });

  it('a token exchanged from a child while the revocation of the children runs → revoked with the next level', async () => {
    const subject = await clientToken();
    const child = await issued(await exchange(subject));
    try {
      const { revoking } = await revokeHeldAt(subject, child);
      // the child is not revoked yet (its UPDATE waits for the lock): the exchange gets a token
      const grandchild = await issued(await exchange(child));
      await locker.query('commit');
      await revoking;
      assert.equal(await active(child), false, 'the child');
      assert.equal(await active(grandchild), false, 'the token exchanged from the child meanwhile');
    } finally {
      await locker.query('rollback').catch(() => undefined);
    }
  });
});

// The same race against the revocation of a whole family (a refresh token revoked, RFC 7009
// §2.1) or of all of a user's tokens (`drawbridge user revoke`): tokens exchanged from the
// family's access tokens share its grant and its user, so those revocations (revokeGrant,
// revokeBySubject: two passes, for a refresh storing its pair meanwhile) reach them as well.
// A token exchanged while the first pass ran is seen by the second; but one exchanged from
// that token while the second pass ran was seen by neither (its subject token still active
// when it looked again), and nothing was exchanged from the token the revocation started
// from: it stayed active. What the second pass revokes now has its exchanged tokens revoked
// too, down the chain (revokeExchanged).
//
// Deterministic: two row locks held by the test stop each pass in turn.
describe('a chain of token exchanges racing the revocation of its family or user, on PostgreSQL', { skip: base === undefined ? 'PostgreSQL not reachable' : undefined }, () => {
  const PASSWORD = 'correct horse battery staple 42';
  let schema: TestSchema;
  let server: TestServer;
  let lockers: pg.Client[];
  let observer: pg.Client;

  beforeEach(async () => {
    schema = await freshPostgresSchema(base!);
    await (await openStorage(schema.url, { autoMigrate: true })).close(); // PostgreSQL is never migrated implicitly
    server = await startAuth(
      {
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD, claims: {} }],
        clients: [
          { client_id: 'web', client_secret: SECRET, grant_types: ['password', 'refresh_token', GRANT], scopes: ['a'] },
          { client_id: 'rs', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] },
        ],
      },
      { storage: schema.url },
    );
    lockers = [new pg.Client({ connectionString: schema.url }), new pg.Client({ connectionString: schema.url })];
    observer = new pg.Client({ connectionString: schema.url });
    await Promise.all([...lockers, observer].map((c) => c.connect()));
  });

  afterEach(async () => {
    await Promise.all([...(lockers ?? []), observer].map((c) => c?.end()));
    await server?.close();
    await schema?.drop();
  });

  const tokenRequest = (form: Record<string, string>) => postForm(`${server.issuer}/oauth2/token`, form, { authorization: basic('web', SECRET) });

  async function issued(res: Response): Promise<Body> {
    const body = (await res.json()) as Body;
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  }

  const exchange = async (subject: string) => String((await issued(await tokenRequest({ grant_type: GRANT, subject_token: subject, subject_token_type: ACCESS }))).access_token);

  const active = async (token: string) =>
    ((await (await postForm(`${server.issuer}/oauth2/introspect`, { token }, { authorization: basic('rs', SECRET) })).json()) as { active: boolean }).active;

  /** Locks the token's row on `locker`'s transaction. */
  async function lock(locker: pg.Client, token: string): Promise<void> {
    await locker.query('begin');
    await locker.query('select 1 from tokens where digest = $1 for update', [sha256Base64url(token)]);
  }

  /** Resolves once a statement of another connection waits for a lock `locker` holds. */
  async function blockedBy(locker: pg.Client): Promise<void> {
    const pid = (await locker.query('select pg_backend_pid() as pid')).rows[0].pid as number;
    for (let i = 0; i < 1000; i++) {
      const { rows } = await observer.query('select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [pid]);
      if (rows[0].n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the revocation never waited for the lock');
  }

  /**
   * The first pass of `revoke` stops at the family's access token; a token is exchanged from
   * it; the second pass stops at that token; a token is exchanged from that one; both locks go.
   */
  async function race(revoke: () => Promise<unknown>, access: string): Promise<{ first: string; second: string }> {
    const [one, two] = lockers as [pg.Client, pg.Client];
    try {
      await lock(one, access);
      const revoking = revoke();
      revoking.catch(() => undefined);
      await blockedBy(one); // the first pass started, and waits
      const first = await exchange(access);
      await lock(two, first);
      await one.query('commit'); // the first pass ends, without the token exchanged meanwhile
      await blockedBy(two); // the second pass started, and waits
      const second = await exchange(first);
      await two.query('commit');
      await revoking;
      return { first, second };
    } finally {
      for (const l of lockers) await l.query('rollback').catch(() => undefined);
    }
  }

  const signIn = async () => (await issued(await tokenRequest({ grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'a' }))) as { access_token: string; refresh_token: string };

  it('refresh token revoked (its family, RFC 7009): the tokens exchanged meanwhile are revoked too', async () => {
    const family = await signIn();
    const { first, second } = await race(async () => {
      const res = await postForm(`${server.issuer}/oauth2/revoke`, { token: family.refresh_token }, { authorization: basic('web', SECRET) });
      assert.equal(res.status, 200);
    }, family.access_token);
    assert.equal(await active(family.access_token), false, 'the family');
    assert.equal(await active(first), false, 'the token exchanged during the first pass');
    assert.equal(await active(second), false, 'the token exchanged from it during the second pass');
  });

  it('user revoke (sign out everywhere): the tokens exchanged meanwhile are revoked too', async () => {
    const family = await signIn();
    const userId = (await server.running.storage.users.getByUsername('alice'))!.id;
    const { first, second } = await race(() => endUserSessions(logoutDeps(server.running.auth!.ctx), userId), family.access_token);
    assert.equal(await active(family.access_token), false, 'the family');
    assert.equal(await active(first), false, 'the token exchanged during the first pass');
    assert.equal(await active(second), false, 'the token exchanged from it during the second pass');
  });
});
