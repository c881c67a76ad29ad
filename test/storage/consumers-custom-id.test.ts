// The consumer repository's custom_id and tags (migration 0013), on every target (memory:, a
// SQLite file, PostgreSQL): they round-trip and are absent when not set, a consumer is found by
// custom_id, a taken custom_id stores nothing (insert false, upsert CustomIdTakenError), any
// number of consumers may have none, the credential lookup carries both, and of writers racing
// for one custom_id exactly one wins, also from two separate handles on one database.

import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openStorage } from '../../src/storage/open.js';
import { CustomIdTakenError, type ConsumerRecord, type Storage } from '../../src/storage/types.js';
import { eachFreshStorage, allTargets, type Place } from './targets.js';

const NOW = 1_700_000_000;

function consumer(username: string, over: Partial<ConsumerRecord> = {}): ConsumerRecord {
  return { id: `cid-${username}`, username, groups: [], source: 'admin', created_at: NOW, updated_at: NOW, ...over };
}

for (const target of await allTargets()) {
  describe(`consumers: custom_id and tags: ${target.name}`, { skip: target.skip }, () => {
    let storage: Storage;
    let place: Place;
    eachFreshStorage(target, (opened, at) => {
      storage = opened;
      place = at;
    });

    it('round-trip through upsert, insert, get, getByUsername, getByCustomId and list; absent when not set', async () => {
      const tagged = consumer('tagged', { custom_id: 'crm|4711 a', tags: ['gold', 'eu west'] });
      assert.deepEqual(await storage.consumers.upsert(tagged), tagged);
      const plain = consumer('plain');
      assert.equal(await storage.consumers.insert(plain), true);
      const inserted = consumer('inserted', { custom_id: 'crm|4712', tags: ['x'] });
      assert.equal(await storage.consumers.insert(inserted), true);

      assert.deepEqual(await storage.consumers.get('cid-tagged'), tagged);
      assert.deepEqual(await storage.consumers.getByUsername('inserted'), inserted);
      assert.deepEqual(await storage.consumers.getByCustomId('crm|4711 a'), tagged);
      assert.deepEqual(await storage.consumers.getByCustomId('crm|4712'), inserted);
      assert.equal(await storage.consumers.getByCustomId('crm|4711'), undefined, 'exact match only');
      assert.equal(await storage.consumers.getByCustomId('tagged'), undefined, 'not by username');
      const stored = await storage.consumers.getByUsername('plain');
      assert.deepEqual(stored, plain);
      assert.equal('custom_id' in stored!, false);
      assert.equal('tags' in stored!, false);
      // an empty list is stored as none
      assert.equal('tags' in (await storage.consumers.upsert(consumer('empty', { tags: [] }))), false);
      assert.deepEqual((await storage.consumers.list()).map((c) => [c.username, c.custom_id, c.tags]), [
        ['empty', undefined, undefined],
        ['inserted', 'crm|4712', ['x']],
        ['plain', undefined, undefined],
        ['tagged', 'crm|4711 a', ['gold', 'eu west']],
      ]);
    });

    it('upsert replaces custom_id and tags, and clears them when absent; the id stays', async () => {
      await storage.consumers.upsert(consumer('p', { custom_id: 'one', tags: ['a'] }));
      const changed = await storage.consumers.upsert(consumer('p', { id: 'ignored', custom_id: 'two', tags: ['b', 'c'], updated_at: NOW + 1 }));
      assert.deepEqual(changed, consumer('p', { custom_id: 'two', tags: ['b', 'c'], updated_at: NOW + 1 }));
      assert.equal(await storage.consumers.getByCustomId('one'), undefined, 'the old custom_id is free again');
      const cleared = await storage.consumers.upsert(consumer('p', { updated_at: NOW + 2 }));
      assert.deepEqual(cleared, consumer('p', { updated_at: NOW + 2 }));
      assert.equal(await storage.consumers.getByCustomId('two'), undefined);
      // and another consumer may take the freed one
      assert.equal((await storage.consumers.upsert(consumer('q', { custom_id: 'two' }))).custom_id, 'two');
    });

    it('a taken custom_id stores nothing: insert is false, upsert throws CustomIdTakenError', async () => {
      const owner = await storage.consumers.upsert(consumer('owner', { custom_id: 'taken', tags: ['t'] }));
      assert.equal(await storage.consumers.insert(consumer('thief', { custom_id: 'taken' })), false);
      assert.equal(await storage.consumers.getByUsername('thief'), undefined);

      await storage.consumers.upsert(consumer('other', { groups: ['g'] }));
      await assert.rejects(storage.consumers.upsert(consumer('other', { custom_id: 'taken', groups: ['changed'] })), (err: unknown) => {
        assert.ok(err instanceof CustomIdTakenError);
        assert.equal(err.custom_id, 'taken');
        return true;
      });
      assert.deepEqual(await storage.consumers.getByUsername('other'), consumer('other', { groups: ['g'] }), 'nothing of the refused upsert stored');
      await assert.rejects(storage.consumers.upsert(consumer('new-one', { custom_id: 'taken' })), CustomIdTakenError);
      assert.equal(await storage.consumers.getByUsername('new-one'), undefined);
      // re-upserting the owner with its own custom_id is no conflict
      assert.deepEqual(await storage.consumers.upsert({ ...owner, updated_at: NOW + 3 }), { ...owner, updated_at: NOW + 3 });
    });

    it('any number of consumers may have no custom_id (NULLs are distinct in the unique index)', async () => {
      for (let i = 0; i < 5; i++) assert.equal(await storage.consumers.insert(consumer(`none-${i}`)), true);
      for (let i = 5; i < 8; i++) await storage.consumers.upsert(consumer(`none-${i}`));
      assert.equal((await storage.consumers.list()).length, 8);
    });

    it('the credential lookup carries custom_id and tags with the consumer', async () => {
      const owner = await storage.consumers.upsert(consumer('keyed', { custom_id: 'ext-1', tags: ['gold'] }));
      const plain = await storage.consumers.upsert(consumer('unkeyed'));
      const cred = (id: string, consumer_id: string) => ({
        id,
        consumer_id,
        plugin: 'key-auth' as const,
        lookup: `lookup-${id}`,
        secret_hash: null,
        secret_sealed: null,
        source: 'admin' as const,
        created_at: NOW,
      });
      await storage.credentials.insert(cred('k1', owner.id));
      await storage.credentials.insert(cred('k2', plain.id));
      assert.deepEqual((await storage.credentials.find('key-auth', 'lookup-k1'))?.consumer, owner);
      const found = (await storage.credentials.find('key-auth', 'lookup-k2'))?.consumer;
      assert.deepEqual(found, plain);
      assert.equal('custom_id' in found!, false);
    });

    it('of inserts racing for one custom_id exactly one wins', async () => {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => storage.consumers.insert(consumer(`racer-${i}`, { custom_id: 'the-one' }))),
      );
      assert.equal(results.filter(Boolean).length, 1);
      const winner = results.indexOf(true);
      assert.equal((await storage.consumers.getByCustomId('the-one'))?.username, `racer-${winner}`);
      assert.equal((await storage.consumers.list()).length, 1);
    });

    it('of upserts racing for one custom_id exactly one wins; the others throw CustomIdTakenError', async () => {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => storage.consumers.upsert(consumer(`up-${i}`, { custom_id: 'the-one' }))),
      );
      assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
      for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof CustomIdTakenError, String(o.reason));
      assert.equal((await storage.consumers.list()).length, 1);
    });

    // memory: is private to one handle: the race needs a database two handles share (not a skip: nothing is missing)
    if (target.name !== 'memory:') it('two handles on one database racing for one custom_id: exactly one wins', async () => {
      const second = await openStorage(place.url, { autoMigrate: false });
      try {
        for (let round = 0; round < 5; round++) {
          const id = `shared-${round}`;
          const outcomes = await Promise.allSettled([
            storage.consumers.insert(consumer(`a-${round}`, { custom_id: id })),
            second.consumers.insert(consumer(`b-${round}`, { custom_id: id })),
            storage.consumers.upsert(consumer(`c-${round}`, { custom_id: id })),
            second.consumers.upsert(consumer(`d-${round}`, { custom_id: id })),
          ]);
          const wins = outcomes.filter((o) => o.status === 'fulfilled' && o.value !== false).length;
          assert.equal(wins, 1, JSON.stringify(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : String(o.reason)))));
          for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof CustomIdTakenError, String(o.reason));
        }
        assert.equal((await second.consumers.list()).length, 5);
      } finally {
        await second.close();
      }
    });
  });
}
