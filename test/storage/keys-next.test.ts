// The signing-key repository's next keys (`keys.publish_ahead`, migration 0014) on every target
// (memory:, a SQLite file, PostgreSQL): a next key is published at once but is not current,
// it is promoted once its time has come (exactly once when many instances try together, the
// old current key becoming previous), at most one waits per algorithm, and the immediate
// switch (rotate) or a demotion retires a waiting one.

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { eachFreshStorage, allTargets, type Place } from './targets.js';
import { NOW, signingKeyRecord as key } from './fixtures.js';


for (const target of await allTargets()) {
  describe(`signing keys, next key: ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let place: Place;
    eachFreshStorage(target, (opened, at) => {
      storage = opened;
      place = at;
    });

    /**
     * On PostgreSQL other pools, as other instances would have. SQLite: one connection (the
     * IMMEDIATE transactions serialise writers; several connections in one process would
     * block each other's thread, as the contract suite notes for rotate).
     */
    async function instances(n: number): Promise<Storage[]> {
      if (target.name !== 'postgres') return [];
      return Promise.all(Array.from({ length: n }, () => openStorage(place.url)));
    }

    const states = async () => (await storage.keys.list()).map((k) => [k.kid, k.status, k.publish_until, k.activates_at ?? null]);

    it('addNext publishes the key without making it current; one next key per alg, the first one kept', async () => {
      await storage.keys.insertInitial(key('old', { created_at: NOW - 300 }));
      await storage.keys.rotate(key('cur', { created_at: NOW - 200 }), NOW + 500); // old: previous until +500
      const next = key('nxt', { created_at: NOW - 100, status: 'next' });
      assert.deepEqual(await storage.keys.addNext(next, NOW + 600), { ...next, activates_at: NOW + 600 });

      assert.equal((await storage.keys.current('ES256'))?.kid, 'cur', 'still signing with the current key');
      // published: current, then next, then previous
      assert.deepEqual((await storage.keys.published(NOW)).map((k) => [k.kid, k.status]), [['cur', 'current'], ['nxt', 'next'], ['old', 'previous']]);
      // a second rotation while one waits: the waiting key (and its time) stays
      assert.deepEqual((await storage.keys.addNext(key('nxt2', { status: 'next' }), NOW + 900)).kid, 'nxt');
      // another algorithm has its own
      assert.equal((await storage.keys.addNext(key('rs-next', { alg: 'RS256', status: 'next' }), NOW + 900)).kid, 'rs-next');
      assert.deepEqual(await states(), [
        ['rs-next', 'next', null, NOW + 900],
        ['nxt', 'next', null, NOW + 600],
        ['cur', 'current', null, null],
        ['old', 'previous', NOW + 500, null],
      ]);
    });

    it('concurrent addNext leaves exactly one next key', async () => {
      await storage.keys.insertInitial(key('cur', { created_at: NOW - 10 }));
      const others = await instances(2);
      try {
        const all = [storage, ...others, storage];
        const results = await Promise.all(all.map((s, i) => s.keys.addNext(key(`n${i}`, { status: 'next' }), NOW + 60 + i)));
        assert.equal(new Set(results.map((r) => r.kid)).size, 1, 'every caller is told the same next key');
        const keys = await storage.keys.list();
        assert.deepEqual(keys.filter((k) => k.status === 'next').map((k) => k.kid), [results[0]!.kid]);
        assert.equal(keys.length, 2);
      } finally {
        await Promise.all(others.map((s) => s.close()));
      }
    });

    it('promoteDue: nothing before activates_at; then the next key is current, the old one previous; once', async () => {
      await storage.keys.insertInitial(key('cur', { created_at: NOW - 10 }));
      await storage.keys.addNext(key('nxt', { status: 'next' }), NOW + 600);
      assert.deepEqual(await storage.keys.promoteDue(NOW + 599, NOW + 2000), []);
      assert.equal((await storage.keys.current('ES256'))?.kid, 'cur');

      const promoted = await storage.keys.promoteDue(NOW + 600, NOW + 1200);
      assert.deepEqual(promoted.map((k) => [k.kid, k.status, k.activates_at]), [['nxt', 'current', NOW + 600]]);
      assert.equal((await storage.keys.current('ES256'))?.kid, 'nxt');
      // activates_at stays: when it took over
      assert.deepEqual(await states(), [['nxt', 'current', null, NOW + 600], ['cur', 'previous', NOW + 1200, null]]);
      assert.deepEqual(await storage.keys.promoteDue(NOW + 700, NOW + 5000), [], 'idempotent');
      assert.deepEqual(await states(), [['nxt', 'current', null, NOW + 600], ['cur', 'previous', NOW + 1200, null]]);
      assert.deepEqual((await storage.keys.published(NOW + 1199)).map((k) => k.kid), ['nxt', 'cur']);
    });

    it('promoteDue leaves other algorithms alone and works without a current key', async () => {
      await storage.keys.insertInitial(key('es', { created_at: NOW - 10 }));
      await storage.keys.insertInitial(key('rs', { alg: 'RS256', created_at: NOW - 10 }));
      await storage.keys.addNext(key('rs-next', { alg: 'RS256', status: 'next' }), NOW + 60);
      await storage.keys.addNext(key('es-next', { status: 'next' }), NOW + 120);
      assert.deepEqual((await storage.keys.promoteDue(NOW + 60, NOW + 300)).map((k) => k.kid), ['rs-next']);
      assert.equal((await storage.keys.current('ES256'))?.kid, 'es');
      assert.equal((await storage.keys.current('RS256'))?.kid, 'rs-next');
      // an EdDSA next key with no current EdDSA key simply becomes current
      await storage.keys.addNext(key('ed-next', { alg: 'EdDSA', status: 'next' }), NOW + 60);
      assert.deepEqual((await storage.keys.promoteDue(NOW + 60, NOW + 300)).map((k) => k.kid), ['ed-next']);
      assert.equal((await storage.keys.current('EdDSA'))?.kid, 'ed-next');
    });

    it('many instances promoting at once: one does it, no second current key, the old key demoted once', async () => {
      await storage.keys.insertInitial(key('cur', { created_at: NOW - 10 }));
      await storage.keys.addNext(key('nxt', { status: 'next' }), NOW + 60);
      const others = await instances(3);
      try {
        const all = [storage, ...others, storage, ...others];
        const results = await Promise.all(all.map((s, i) => s.keys.promoteDue(NOW + 60, NOW + 1000 + i)));
        assert.equal(results.flat().length, 1, 'promoted by exactly one caller');
        const winner = results.findIndex((r) => r.length === 1);
        const keys = await storage.keys.list();
        assert.deepEqual(keys.filter((k) => k.status === 'current').map((k) => k.kid), ['nxt']);
        // demoted by the winner, and not again by a loser (its publish_until would differ)
        assert.deepEqual(keys.map((k) => [k.kid, k.status, k.publish_until]), [['nxt', 'current', null], ['cur', 'previous', NOW + 1000 + winner]]);
      } finally {
        await Promise.all(others.map((s) => s.close()));
      }
    });

    it('the immediate rotate retires a waiting next key; so does demoteCurrent', async () => {
      await storage.keys.insertInitial(key('cur', { created_at: NOW - 20 }));
      await storage.keys.addNext(key('nxt', { status: 'next', created_at: NOW - 10 }), NOW + 600);
      await storage.keys.rotate(key('now'), NOW + 100);
      assert.deepEqual(await states(), [['now', 'current', null, null], ['nxt', 'retired', null, NOW + 600], ['cur', 'previous', NOW + 100, null]]);
      assert.deepEqual((await storage.keys.published(NOW)).map((k) => k.kid), ['now', 'cur'], 'a retired next key is no longer published');
      assert.deepEqual(await storage.keys.promoteDue(NOW + 600, NOW + 2000), [], 'and never takes over');

      await storage.keys.addNext(key('later', { status: 'next', created_at: NOW + 1 }), NOW + 700);
      assert.equal(await storage.keys.demoteCurrent('ES256', NOW + 100), true);
      assert.equal((await storage.keys.list()).find((k) => k.kid === 'later')?.status, 'retired');
      assert.deepEqual(await storage.keys.promoteDue(NOW + 700, NOW + 2000), []);
      assert.equal(await storage.keys.current('ES256'), undefined);
    });

    it('a rotate racing promotions: still exactly one current key, and the rotated one wins or follows', async () => {
      await storage.keys.insertInitial(key('cur', { created_at: NOW - 20 }));
      await storage.keys.addNext(key('nxt', { status: 'next', created_at: NOW - 10 }), NOW + 60);
      const others = await instances(2);
      try {
        const all = [storage, ...others];
        const outcomes = await Promise.allSettled([
          ...all.map((s) => s.keys.promoteDue(NOW + 60, NOW + 1000)),
          (others[0] ?? storage).keys.rotate(key('emergency', { created_at: NOW }), NOW + 1000),
        ]);
        const keys = await storage.keys.list();
        const current = keys.filter((k) => k.status === 'current').map((k) => k.kid);
        assert.equal(current.length, 1, JSON.stringify(keys.map((k) => [k.kid, k.status])));
        const rotated = outcomes.at(-1)!.status === 'fulfilled';
        // a rotate that committed made its key current (after or instead of the promotion);
        // one that lost to a promotion (unique index) left nothing behind
        if (rotated) assert.deepEqual(current, ['emergency']);
        else assert.deepEqual([current, keys.some((k) => k.kid === 'emergency')], [['nxt'], false]);
        for (const o of outcomes.slice(0, -1)) assert.equal(o.status, 'fulfilled', 'a promotion that lost is not an error');
      } finally {
        await Promise.all(others.map((s) => s.close()));
      }
    });
  });
}
