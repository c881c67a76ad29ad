// The storage contract for pending back-channel logout deliveries (migration 0018), on every
// target: memory:, a SQLite file and PostgreSQL. What the retries of src/auth/logout rely on:
// a claim hands a due delivery to one caller only, even to callers racing on two connections,
// in one statement per batch; nextDue tells when to look again.

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { openStorage, sqlHandleOf } from '../../src/storage/open.js';
import { SqlBackchannelLogoutRepo } from '../../src/storage/repos/backchannel-logouts.js';
import type { PendingLogoutRecord, Storage } from '../../src/storage/types.js';
import { allTargets, eachFreshStorage, type Place } from './targets.js';
import { NOW } from './fixtures.js';

function pending(jti: string, over: Partial<PendingLogoutRecord> = {}): PendingLogoutRecord {
  return { jti, client_id: 'web', sub: 'user-1', sid: 'sid-1', created_at: NOW, attempts: 0, due_at: NOW, claim: null, ...over };
}

for (const target of await allTargets()) {
  describe(`storage contract (back-channel logouts): ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let place: Place;
    eachFreshStorage(target, (opened, at) => {
      storage = opened;
      place = at;
    });
    const repo = () => storage.backchannelLogouts;

    it('insert, list (soonest due first), delete', async () => {
      const repo = storage.backchannelLogouts;
      assert.deepEqual(await repo.list(), []);
      await repo.insert(pending('b', { due_at: NOW + 5, sid: null }));
      await repo.insert(pending('a', { due_at: NOW + 9, claim: 'c1', attempts: 2 }));
      assert.deepEqual(await repo.list(), [pending('b', { due_at: NOW + 5, sid: null }), pending('a', { due_at: NOW + 9, claim: 'c1', attempts: 2 })]);
      await assert.rejects(repo.insert(pending('a')), 'one row per jti');
      assert.equal(await repo.delete('a'), true);
      assert.equal(await repo.delete('a'), false);
      assert.deepEqual((await repo.list()).map((r) => r.jti), ['b']);
    });

    it('claimDue: only due deliveries, soonest first, up to the limit; a claim holds until it lapses', async () => {
      const repo = storage.backchannelLogouts;
      await repo.insert(pending('later', { due_at: NOW + 10 }));
      await repo.insert(pending('second', { due_at: NOW - 1 }));
      await repo.insert(pending('first', { due_at: NOW - 5, attempts: 1 }));
      await repo.insert(pending('third', { due_at: NOW }));
      const got = await repo.claimDue(NOW, NOW + 15, 'c1', 2);
      assert.deepEqual(got, [pending('first', { due_at: NOW + 15, claim: 'c1', attempts: 1 }), pending('second', { due_at: NOW + 15, claim: 'c1' })]);
      assert.deepEqual((await repo.claimDue(NOW, NOW + 15, 'c2', 10)).map((r) => r.jti), ['third'], 'claimed ones are not due again');
      assert.deepEqual(await repo.claimDue(NOW + 9, NOW + 20, 'c3', 10), []);
      // the holder of 'first' is gone: its claim lapses, and 'later' is due by then too
      assert.deepEqual((await repo.claimDue(NOW + 15, NOW + 30, 'c4', 10)).map((r) => [r.jti, r.claim]), [['first', 'c4'], ['later', 'c4'], ['second', 'c4'], ['third', 'c4']]);
    });

    it('claimDue takes the soonest due when more are due than the limit', async () => {
      const repo = storage.backchannelLogouts;
      for (const [jti, due] of [['d', NOW - 1], ['a', NOW], ['c', NOW - 9], ['b', NOW - 3]] as const) await repo.insert(pending(jti, { due_at: due }));
      assert.deepEqual((await repo.claimDue(NOW, NOW + 15, 'c1', 2)).map((r) => r.jti), ['b', 'c'], 'returned by jti');
      assert.deepEqual((await repo.claimDue(NOW, NOW + 15, 'c2', 1)).map((r) => r.jti), ['d']);
    });

    it('claimDue is one statement for the whole batch (no SELECT, then an UPDATE per row)', async () => {
      for (let i = 0; i < 5; i++) await repo().insert(pending(`j${i}`));
      let statements = 0;
      const handle = sqlHandleOf(storage)!;
      const counted = handle.db.withPlugin({
        transformQuery: (args) => {
          statements++;
          return args.node;
        },
        transformResult: async (args) => args.result,
      });
      const claimed = await new SqlBackchannelLogoutRepo({ db: counted, dialect: handle.dialect }).claimDue(NOW, NOW + 15, 'c1', 10);
      assert.equal(claimed.length, 5);
      assert.equal(statements, 1);
    });

    it('nextDue: the earliest due_at, claimed deliveries included; undefined when there are none', async () => {
      assert.equal(await repo().nextDue(), undefined);
      await repo().insert(pending('x', { due_at: NOW + 7 }));
      await repo().insert(pending('y', { due_at: NOW + 3 }));
      assert.equal(await repo().nextDue(), NOW + 3);
      await repo().claimDue(NOW + 3, NOW + 20, 'c1', 10);
      assert.equal(await repo().nextDue(), NOW + 7);
      await repo().delete('x');
      assert.equal(await repo().nextDue(), NOW + 20, 'when the claim on y lapses');
      await repo().delete('y');
      assert.equal(await repo().nextDue(), undefined);
    });

    // row locks: PostgreSQL only (not registered elsewhere, so no run reports it as skipped)
    if (target.name === 'postgres') {
      it('PostgreSQL: a delivery another connection holds locked is passed over, not waited for', async () => {
        for (const jti of ['a', 'b', 'c']) await repo().insert(pending(jti));
        const locker = new pg.Client({ connectionString: place.url });
        await locker.connect();
        try {
          await locker.query('begin');
          await locker.query("select 1 from backchannel_logouts where jti = 'a' for update");
          let timer: NodeJS.Timeout | undefined;
          const claimed = await Promise.race([
            repo().claimDue(NOW, NOW + 15, 'c1', 2),
            new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('claimDue waited for the locked row')), 3000))),
          ]).finally(() => clearTimeout(timer));
          assert.deepEqual(claimed.map((r) => r.jti), ['b', 'c'], 'the next ones instead');
          await locker.query('rollback');
          assert.deepEqual((await repo().claimDue(NOW, NOW + 15, 'c2', 2)).map((r) => r.jti), ['a'], 'claimable once released');
        } finally {
          await locker.query('rollback').catch(() => undefined);
          await locker.end();
        }
      });
    }

    it('reschedule: only by the claim holder; it releases the claim', async () => {
      const repo = storage.backchannelLogouts;
      await repo.insert(pending('x'));
      await repo.claimDue(NOW, NOW + 15, 'c1', 10);
      assert.equal(await repo.reschedule('x', 'c2', 1, NOW + 2), false, 'not the holder');
      assert.equal(await repo.reschedule('x', 'c1', 1, NOW + 2), true);
      assert.deepEqual(await repo.list(), [pending('x', { attempts: 1, due_at: NOW + 2 })]);
      assert.equal(await repo.reschedule('x', 'c1', 2, NOW + 9), false, 'released: no longer the holder');
      assert.equal(await repo.reschedule('gone', 'c1', 1, NOW), false);
      assert.deepEqual(await repo.claimDue(NOW + 1, NOW + 16, 'c3', 10), []);
      assert.deepEqual((await repo.claimDue(NOW + 2, NOW + 17, 'c3', 10)).map((r) => r.jti), ['x']);
    });

    it('claims racing on two connections: every due delivery goes to exactly one', async () => {
      const repo = storage.backchannelLogouts;
      const jtis = Array.from({ length: 30 }, (_, i) => `j${String(i).padStart(2, '0')}`);
      for (const jti of jtis) await repo.insert(pending(jti));
      // a second connection where the database allows one (one SQLite handle per file per process)
      const other = target.name === 'postgres' ? await openStorage(place.url) : storage;
      try {
        const rounds = await Promise.all([
          repo.claimDue(NOW, NOW + 15, 'a', 30), other.backchannelLogouts.claimDue(NOW, NOW + 15, 'b', 30),
          repo.claimDue(NOW, NOW + 15, 'c', 30), other.backchannelLogouts.claimDue(NOW, NOW + 15, 'd', 30),
        ]);
        const all = rounds.flat().map((r) => r.jti).sort();
        assert.deepEqual(all, jtis, 'each claimed once, none left out');
        const stored = new Map((await repo.list()).map((r) => [r.jti, r.claim]));
        for (const [i, round] of rounds.entries()) for (const r of round) assert.equal(stored.get(r.jti), 'abcd'[i], 'the stored claim is the winner\'s');
      } finally {
        if (other !== storage) await other.close();
      }
    });
  });
}
