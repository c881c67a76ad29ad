// A user created to require MFA (`drawbridge user create --require-mfa`, the admin API's
// `require_mfa: true`, a new user of the config file with `mfa_required: true`) is stored with
// that requirement in one transaction: never without it, not even when writing the
// requirement fails. The failure is real: a trigger on the database refuses the user_mfa row.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { syncConfiguredUsers } from '../../src/auth/users/sync.js';
import type { AuthConfig } from '../../src/config/types.js';
import { sqlHandleOf } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { eachFreshStorage, postgresTarget, sqliteFileTarget, type Target } from './targets.js';

const NOW = 1_700_000_000;

function user(username: string, id: string) {
  return { id, username, password_hash: null, claims: {}, locked: false, source: 'cli' as const, created_at: NOW, updated_at: NOW };
}

/** Runs SQL on the storage's own database handle (either SQLite driver, or PostgreSQL). */
async function execSql(storage: Storage, statements: string[]): Promise<void> {
  const { db } = sqlHandleOf(storage)!;
  for (const statement of statements) await sql.raw(statement).execute(db);
}

/** Makes the database refuse every new user_mfa row, as a failing write would; returns the undo. */
async function refuseMfaRows(target: Target, storage: Storage): Promise<() => Promise<void>> {
  if (target.name === 'postgres') {
    await execSql(storage, [
      `create function refuse_mfa() returns trigger language plpgsql as $$ begin raise exception 'user_mfa refused'; end $$`,
      'create trigger refuse_mfa before insert on user_mfa for each row execute function refuse_mfa()',
    ]);
    // the schema outlives the test (it is emptied, not dropped, between tests)
    return () => execSql(storage, ['drop trigger refuse_mfa on user_mfa', 'drop function refuse_mfa()']);
  }
  await execSql(storage, [`create trigger refuse_mfa before insert on user_mfa begin select raise(abort, 'user_mfa refused'); end`]);
  return () => execSql(storage, ['drop trigger refuse_mfa']);
}

for (const target of [sqliteFileTarget, await postgresTarget()]) {
  describe(`users.insert with mfaRequired: one transaction (${target.name})`, { skip: target.skip }, () => {
    let storage: Storage;
    eachFreshStorage(target, (s) => {
      storage = s;
    });

    it('the user is stored requiring MFA; a taken name stores neither', async () => {
      assert.equal(await storage.users.insert(user('alice', 'id-alice'), { mfaRequired: true }), true);
      assert.equal((await storage.users.getMfa('id-alice'))?.required, true);
      assert.equal(await storage.users.insert(user('bob', 'id-bob')), true);
      assert.equal(await storage.users.getMfa('id-bob'), undefined, 'without the option: no MFA row');
      assert.equal(await storage.users.insert(user('bob', 'id-bob-2'), { mfaRequired: true }), false);
      assert.equal(await storage.users.getMfa('id-bob-2'), undefined);
      assert.equal(await storage.users.getMfa('id-bob'), undefined, 'the existing user is untouched');
    });

    it('when the requirement cannot be written, the user is not created either', async () => {
      const undo = await refuseMfaRows(target, storage);
      try {
        await assert.rejects(storage.users.insert(user('carol', 'id-carol'), { mfaRequired: true }), /user_mfa refused/);
        assert.equal(await storage.users.getByUsername('carol'), undefined);
      } finally {
        await undo();
      }
      // the name is free: it can be created once the database takes the requirement again
      assert.equal(await storage.users.insert(user('carol', 'id-carol'), { mfaRequired: true }), true);
      assert.equal((await storage.users.getMfa('id-carol'))?.required, true);
    });

    it('config sync: a new user with mfa_required: true is not stored without it', async () => {
      const auth = { users: [{ username: 'dave', password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', claims: {}, mfa_required: true }] } as unknown as AuthConfig;
      const undo = await refuseMfaRows(target, storage);
      try {
        await assert.rejects(syncConfiguredUsers(storage, auth, NOW), /user_mfa refused/);
        assert.equal(await storage.users.getByUsername('dave'), undefined);
      } finally {
        await undo();
      }
      const synced = await syncConfiguredUsers(storage, auth, NOW);
      assert.deepEqual(synced.created, ['dave']);
      const dave = await storage.users.getByUsername('dave');
      assert.equal((await storage.users.getMfa(dave!.id))?.required, true);
    });
  });
}
