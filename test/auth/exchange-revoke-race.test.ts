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
import type pg from 'pg';
import { endUserSessions, logoutDeps } from '../../src/auth/logout/end-sessions.js';
import { sha256Base64url } from '../../src/core/crypto-util.js';
import { basic, issued, postForm, type TestServer } from '../helpers/auth-server.js';
import { Gate, introspectedActive, startRowLockRace, type RowLockRace } from '../helpers/pg-row-lock.js';
import { postgresUrl } from '../helpers/services.js';

const SECRET = 'exchange-race-secret-0123456789abcdef';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const RS = { client_id: 'rs', client_secret: SECRET, grant_types: ['client_credentials'], scopes: ['introspect'] };

type Body = Record<string, unknown>;

const base = await postgresUrl();

/** The token endpoint as `client`, and introspection as `rs`, on the race's server. */
function requests(harness: () => RowLockRace, client: string) {
  const server = (): TestServer => harness().server;
  return {
    tokenRequest: (form: Record<string, string>) => postForm(`${server().issuer}/oauth2/token`, form, { authorization: basic(client, SECRET) }),
    active: (token: string) => introspectedActive(server(), SECRET, token),
  };
}

describe('a token exchange racing the revocation of its subject token, on PostgreSQL', { skip: base === undefined ? 'PostgreSQL not reachable' : undefined }, () => {
  let harness: RowLockRace;
  /** armed: the next token exchanged from `parent` waits at `gate` before it is stored */
  let hold: { parent: string; gate: Gate } | undefined;

  beforeEach(async () => {
    harness = await startRowLockRace(base!, {
      clients: [{ client_id: 'svc', client_secret: SECRET, grant_types: ['client_credentials', GRANT], scopes: ['a'] }, RS],
    });
    const tokens = harness.server.running.storage.tokens;
    const insert = tokens.insert.bind(tokens);
    tokens.insert = async (rec) => {
      const held = hold;
      if (held && rec.exchanged_from === held.parent) {
        hold = undefined;
        await held.gate.wait();
      }
      return insert(rec);
    };
  });

  afterEach(async () => {
    hold = undefined;
    await harness?.close();
  });

  const { tokenRequest, active } = requests(() => harness, 'svc');
  const token = async (res: Response) => String((await issued(res)).access_token);
  const clientToken = async () => token(await tokenRequest({ grant_type: 'client_credentials', scope: 'a' }));
  const exchange = (subject: string) => tokenRequest({ grant_type: GRANT, subject_token: subject, subject_token_type: ACCESS });

  const revoke = async (token: string) => {
    const res = await postForm(`${harness.server.issuer}/oauth2/revoke`, { token }, { authorization: basic('svc', SECRET) });
    assert.equal(res.status, 200);
  };

  /** Locks `child`'s row, starts revoking `subject` and resolves once its UPDATE waits for the lock. */
  async function revokeHeldAt(subject: string, child: string): Promise<{ revoking: Promise<void> }> {
    const [locker] = harness.lockers as [pg.Client];
    await harness.lock(locker, sha256Base64url(child));
    const revoking = revoke(subject);
    revoking.catch(() => undefined);
    await harness.blockedBy(locker);
    return { revoking };
  }

  it('a token exchanged from the revoked token, stored while the revocation of its children runs → refused, not active', async () => {
    const subject = await clientToken();
    const child = await token(await exchange(subject));
    // the exchange passes its checks (the subject is still active) and waits before storing
    const gate = new Gate();
    hold = { parent: sha256Base64url(subject), gate };
    const exchanging = exchange(subject);
    try {
      await gate.reached;
      const { revoking } = await revokeHeldAt(subject, child);
      gate.open(); // stored now, after the revoking UPDATE started
      const res = await exchanging;
      await harness.lockers[0]!.query('commit');
      await revoking;
      const body = (await res.json()) as Body;
      if (body.access_token !== undefined) assert.equal(await active(String(body.access_token)), false, 'the token exchanged meanwhile');
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.error, 'invalid_request');
      assert.equal(await active(child), false, 'the child held by the lock');
    } finally {
      gate.open();
      await harness.rollback();
    }
  });

  it('a token exchanged from a child while the revocation of the children runs → revoked with the next level', async () => {
    const subject = await clientToken();
    const child = await token(await exchange(subject));
    try {
      const { revoking } = await revokeHeldAt(subject, child);
      // the child is not revoked yet (its UPDATE waits for the lock): the exchange gets a token
      const grandchild = await token(await exchange(child));
      await harness.lockers[0]!.query('commit');
      await revoking;
      assert.equal(await active(child), false, 'the child');
      assert.equal(await active(grandchild), false, 'the token exchanged from the child meanwhile');
    } finally {
      await harness.rollback();
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
  let harness: RowLockRace;

  beforeEach(async () => {
    harness = await startRowLockRace(
      base!,
      {
        brute_force: { enabled: false },
        users: [{ username: 'alice', password: PASSWORD, claims: {} }],
        clients: [{ client_id: 'web', client_secret: SECRET, grant_types: ['password', 'refresh_token', GRANT], scopes: ['a'] }, RS],
      },
      2,
    );
  });

  afterEach(async () => {
    await harness?.close();
  });

  const { tokenRequest, active } = requests(() => harness, 'web');
  const exchange = async (subject: string) => String((await issued(await tokenRequest({ grant_type: GRANT, subject_token: subject, subject_token_type: ACCESS }))).access_token);

  /**
   * The first pass of `revoke` stops at the family's access token; a token is exchanged from
   * it; the second pass stops at that token; a token is exchanged from that one; both locks go.
   */
  async function race(revoke: () => Promise<unknown>, access: string): Promise<{ first: string; second: string }> {
    const [one, two] = harness.lockers as [pg.Client, pg.Client];
    try {
      await harness.lock(one, sha256Base64url(access));
      const revoking = revoke();
      revoking.catch(() => undefined);
      await harness.blockedBy(one); // the first pass started, and waits
      const first = await exchange(access);
      await harness.lock(two, sha256Base64url(first));
      await one.query('commit'); // the first pass ends, without the token exchanged meanwhile
      await harness.blockedBy(two); // the second pass started, and waits
      const second = await exchange(first);
      await two.query('commit');
      await revoking;
      return { first, second };
    } finally {
      await harness.rollback();
    }
  }

  const signIn = async () => (await issued(await tokenRequest({ grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'a' }))) as { access_token: string; refresh_token: string };

  it('refresh token revoked (its family, RFC 7009): the tokens exchanged meanwhile are revoked too', async () => {
    const family = await signIn();
    const { first, second } = await race(async () => {
      const res = await postForm(`${harness.server.issuer}/oauth2/revoke`, { token: family.refresh_token }, { authorization: basic('web', SECRET) });
      assert.equal(res.status, 200);
    }, family.access_token);
    assert.equal(await active(family.access_token), false, 'the family');
    assert.equal(await active(first), false, 'the token exchanged during the first pass');
    assert.equal(await active(second), false, 'the token exchanged from it during the second pass');
  });

  it('user revoke (sign out everywhere): the tokens exchanged meanwhile are revoked too', async () => {
    const family = await signIn();
    const userId = (await harness.server.running.storage.users.getByUsername('alice'))!.id;
    const { first, second } = await race(() => endUserSessions(logoutDeps(harness.server.running.auth!.ctx), userId), family.access_token);
    assert.equal(await active(family.access_token), false, 'the family');
    assert.equal(await active(first), false, 'the token exchanged during the first pass');
    assert.equal(await active(second), false, 'the token exchanged from it during the second pass');
  });
});
