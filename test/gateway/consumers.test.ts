// ConsumerStore and config sync (src/gateway/consumers.ts) on every storage target:
// memory:, a SQLite file and the real PostgreSQL. Secrets are stored as digests, argon2id
// hashes or sealed values; lookups are cached and the cache drops on credentials.changed.
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { verify as argon2Verify } from '@node-rs/argon2';
import { ConfigError } from '../../src/config/schema.js';
import type { ConsumerConfig } from '../../src/config/types.js';
import { fixedClock } from '../../src/core/clock.js';
import { createEventBus, type RunningEventBus } from '../../src/gateway/events.js';
import { createMetrics } from '../../src/gateway/metrics.js';
import { checkConfiguredConsumers, createConsumerStore, syncConfiguredConsumers, type RunningConsumerStore } from '../../src/gateway/consumers.js';
import { credentialKeys, keyLookup, sealHmacSecret } from '../../src/gateway/credentials.js';
import { silentLogger } from '../../src/observability/logger.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { allTargets, type Place } from '../storage/targets.js';

const SECRET = 'test-master-secret-0123456789abcdef-0123456789';
const NOW = 1_700_000_000;
const ARGON2_CURRENT = '$argon2id$v=19$m=19456,t=2,p=1$';

function partner(over: Partial<ConsumerConfig> = {}): ConsumerConfig {
  return {
    username: 'partner-a',
    groups: ['partners'],
    credentials: {
      'key-auth': [{ key: 'pk_live_abcdefghijklmnop' }],
      'basic-auth': [{ username: 'partner', password: 'correct horse battery staple' }],
      'hmac-auth': [{ key_id: 'partner-key-1', secret: 'hmac-shared-secret-value' }],
    },
    ...over,
  };
}

/** Credentials start refuses, and the key its ConfigError names. */
const BAD_CREDENTIALS: Array<[Record<string, Array<Record<string, unknown>>>, string]> = [
  [{ 'oauth2': [{ key: 'x' }] }, 'gateway.consumers[0].credentials.oauth2'],
  [{ 'key-auth': [{ key: 'x', ttl: 5 }] }, 'gateway.consumers[0].credentials.key-auth[0].ttl'],
  [{ 'key-auth': [{}] }, 'gateway.consumers[0].credentials.key-auth[0].key'],
  [{ 'basic-auth': [{ username: 'u' }] }, 'gateway.consumers[0].credentials.basic-auth[0].password'],
  [{ 'basic-auth': [{ username: 'a:b', password: 'p' }] }, 'gateway.consumers[0].credentials.basic-auth[0].username'],
  [{ 'hmac-auth': [{ key_id: 'k' }] }, 'gateway.consumers[0].credentials.hmac-auth[0].secret'],
];

/** Resolves with the next event of `type` that reaches `bus`. */
function nextEvent(bus: RunningEventBus, type: string): Promise<void> {
  return new Promise((resolve) => {
    const off = bus.subscribe((e) => {
      if (e.type === type) {
        off();
        resolve();
      }
    });
  });
}

for (const target of await allTargets()) {
  describe(`consumers: ${target.name}`, { skip: target.skip }, () => {
    let place: Place;
    let storage: Storage;
    let bus: RunningEventBus;
    let store: RunningConsumerStore;
    const clock = fixedClock(NOW);

    beforeEach(async () => {
      place = await target.prepare();
      storage = await openStorage(place.url, { autoMigrate: true });
      bus = createEventBus(undefined, silentLogger());
      store = createConsumerStore(storage, { secret: SECRET, clock, logger: silentLogger(), events: bus });
    });

    afterEach(async () => {
      store.close();
      await bus.close();
      await storage.close();
      await place.cleanup();
    });

    describe('syncConfiguredConsumers', () => {
      it('stores the consumer and its credentials without any secret in clear', async () => {
        const result = await syncConfiguredConsumers(storage, { consumers: [partner()] }, SECRET, { now: NOW });
        assert.deepEqual(result, { consumers: ['partner-a'], pruned: [], changed: 3 });

        const rec = await storage.consumers.getByUsername('partner-a');
        assert.deepEqual(rec && { ...rec, id: 'x' }, {
          id: 'x',
          username: 'partner-a',
          groups: ['partners'],
          source: 'config',
          created_at: NOW,
          updated_at: NOW,
        });
        const creds = await storage.credentials.listByConsumer(rec!.id);
        assert.deepEqual(creds.map((c) => [c.plugin, c.source]).sort(), [
          ['basic-auth', 'config'],
          ['hmac-auth', 'config'],
          ['key-auth', 'config'],
        ]);
        const stored = JSON.stringify(creds);
        for (const secret of ['pk_live_abcdefghijklmnop', 'correct horse battery staple', 'hmac-shared-secret-value']) {
          assert.ok(!stored.includes(secret), `"${secret}" is not stored in clear`);
        }
        const key = creds.find((c) => c.plugin === 'key-auth')!;
        assert.equal(key.lookup, keyLookup(credentialKeys(SECRET), 'pk_live_abcdefghijklmnop'));
        assert.match(key.lookup, /^[A-Za-z0-9_-]{43}$/);
        assert.equal(key.secret_hash, null);
        const basic = creds.find((c) => c.plugin === 'basic-auth')!;
        assert.equal(basic.lookup, 'partner');
        assert.ok(basic.secret_hash!.startsWith(ARGON2_CURRENT), basic.secret_hash!);
        assert.equal(await argon2Verify(basic.secret_hash!, 'correct horse battery staple'), true);
        const hmac = creds.find((c) => c.plugin === 'hmac-auth')!;
        assert.equal(hmac.lookup, 'partner-key-1');
        assert.match(hmac.secret_sealed!, /^v1\./);
      });

      it('a second sync of the same file changes nothing (no argon2 re-hash)', async () => {
        await syncConfiguredConsumers(storage, { consumers: [partner()] }, SECRET, { now: NOW });
        const id = (await storage.consumers.getByUsername('partner-a'))!.id;
        const before = await storage.credentials.listByConsumer(id);
        const again = await syncConfiguredConsumers(storage, { consumers: [partner()] }, SECRET, { now: NOW + 10 });
        assert.equal(again.changed, 0);
        assert.deepEqual(await storage.credentials.listByConsumer(id), before);
        assert.equal((await storage.consumers.getByUsername('partner-a'))!.id, id, 'the consumer id is stable');
      });

      it('replaces a changed password or secret, drops removed credentials, prunes removed consumers', async () => {
        const admin = await storage.consumers.upsert({ id: 'adm', username: 'made-by-admin', groups: [], source: 'admin', created_at: NOW, updated_at: NOW });
        await storage.credentials.insert({ id: 'adm-key', consumer_id: admin.id, plugin: 'key-auth', lookup: 'l', secret_hash: null, secret_sealed: null, source: 'admin', created_at: NOW });
        await syncConfiguredConsumers(storage, { consumers: [partner(), { username: 'old', groups: [], credentials: {} }] }, SECRET, { now: NOW });

        const changed = partner({
          groups: ['partners', 'beta'],
          credentials: {
            'basic-auth': [{ username: 'partner', password: 'a new password' }],
            'hmac-auth': [{ key_id: 'partner-key-1', secret: 'rotated-secret' }],
          },
        });
        const result = await syncConfiguredConsumers(storage, { consumers: [changed] }, SECRET, { now: NOW + 1 });
        assert.deepEqual(result, { consumers: ['partner-a'], pruned: ['old'], changed: 3 });

        const rec = (await storage.consumers.getByUsername('partner-a'))!;
        assert.deepEqual(rec.groups, ['partners', 'beta']);
        const creds = await storage.credentials.listByConsumer(rec.id);
        assert.deepEqual(creds.map((c) => c.plugin).sort(), ['basic-auth', 'hmac-auth']);
        const basic = await store.basicCredential('partner');
        assert.equal(await argon2Verify(basic!.password_hash, 'a new password'), true);
        assert.equal(await argon2Verify(basic!.password_hash, 'correct horse battery staple'), false);
        assert.equal((await store.hmacCredential('partner-key-1'))?.secret, 'rotated-secret');
        assert.equal(await store.byKey('pk_live_abcdefghijklmnop'), undefined);
        assert.equal(await storage.consumers.getByUsername('old'), undefined);
        assert.ok(await storage.credentials.get('adm-key'), 'admin-made consumers and credentials are not the file\'s to prune');
      });

      it('re-hashes a stored hash with weaker parameters; keeps a given password_hash as is', async () => {
        const weak = '$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHRzYWx0$5o3bZ+gw9lVwzd0dP8kmLz5o4c2WGF2rxAibqkSqOm0';
        await syncConfiguredConsumers(storage, { consumers: [partner({ credentials: { 'basic-auth': [{ username: 'u', password_hash: weak }] } })] }, SECRET, { now: NOW });
        assert.equal((await store.basicCredential('u'))?.password_hash, weak);
        const r = await syncConfiguredConsumers(storage, { consumers: [partner({ credentials: { 'basic-auth': [{ username: 'u', password: 'pw' }] } })] }, SECRET, { now: NOW });
        assert.equal(r.changed, 1);
        store.invalidate();
        assert.ok((await store.basicCredential('u'))!.password_hash.startsWith(ARGON2_CURRENT));
      });

      it('instances syncing the same file at once agree (no conflict with themselves)', async () => {
        const results = await Promise.all([1, 2, 3].map(() => syncConfiguredConsumers(storage, { consumers: [partner()] }, SECRET, { now: NOW })));
        assert.deepEqual(results.map((r) => r.consumers), [['partner-a'], ['partner-a'], ['partner-a']]);
        const rec = (await storage.consumers.getByUsername('partner-a'))!;
        assert.deepEqual((await storage.credentials.listByConsumer(rec.id)).map((c) => c.plugin).sort(), ['basic-auth', 'hmac-auth', 'key-auth']);
      });

      it('names the key of a credential another consumer already uses', async () => {
        const twin = { username: 'twin', groups: [], credentials: { 'key-auth': [{ key: 'pk_live_abcdefghijklmnop' }] } };
        await assert.rejects(
          syncConfiguredConsumers(storage, { consumers: [partner(), twin] }, SECRET),
          (err: unknown) =>
            err instanceof ConfigError &&
            err.path === 'gateway.consumers[1].credentials.key-auth[0]' &&
            err.problem === 'this key is already used by consumer "partner-a"',
        );
      });

      it('names unknown credential types, unknown fields and missing values', async () => {
        for (const [credentials, path] of BAD_CREDENTIALS) {
          await assert.rejects(
            syncConfiguredConsumers(storage, { consumers: [partner({ credentials })] }, SECRET),
            (err: unknown) => err instanceof ConfigError && err.path === path,
            path,
          );
        }
      });
    });

    describe('ConsumerStore', () => {
      beforeEach(async () => {
        await syncConfiguredConsumers(storage, { consumers: [partner()] }, SECRET, { now: NOW });
      });

      it('finds each credential and the consumer behind it', async () => {
        const rec = (await storage.consumers.getByUsername('partner-a'))!;
        const ref = { id: rec.id, username: 'partner-a', groups: ['partners'], custom_id: undefined };
        const creds = await storage.credentials.listByConsumer(rec.id);
        const idOf = (plugin: string) => creds.find((c) => c.plugin === plugin)!.id;

        assert.deepEqual(await store.byKey('pk_live_abcdefghijklmnop'), { consumer: ref, credential_id: idOf('key-auth') });
        const basic = await store.basicCredential('partner');
        assert.deepEqual({ ...basic, password_hash: 'h' }, { consumer: ref, credential_id: idOf('basic-auth'), password_hash: 'h' });
        assert.equal(await argon2Verify(basic!.password_hash, 'correct horse battery staple'), true);
        assert.deepEqual(await store.hmacCredential('partner-key-1'), {
          consumer: ref,
          credential_id: idOf('hmac-auth'),
          secret: 'hmac-shared-secret-value',
        });
        assert.deepEqual(await store.byUsername('partner-a'), ref);
      });

      it('answers undefined for unknown or wrong credentials', async () => {
        assert.equal(await store.byKey('pk_live_abcdefghijklmnoP'), undefined);
        assert.equal(await store.byKey(''), undefined);
        assert.equal(await store.basicCredential('partner-a'), undefined, 'basic-auth is by credential username');
        assert.equal(await store.hmacCredential('pk_live_abcdefghijklmnop'), undefined);
        assert.equal(await store.byUsername('partner'), undefined);
      });

      it('an HMAC secret sealed under another master secret is unusable', async () => {
        const rec = (await storage.consumers.getByUsername('partner-a'))!;
        await storage.credentials.insert({
          id: randomUUID(),
          consumer_id: rec.id,
          plugin: 'hmac-auth',
          lookup: 'foreign',
          secret_hash: null,
          secret_sealed: sealHmacSecret(credentialKeys('another-master-secret-0123456789abcdef'), 'foreign', 's'),
          source: 'admin',
          created_at: NOW,
        });
        assert.equal(await store.hmacCredential('foreign'), undefined);
      });

      it('caches hits and misses until credentials.changed', async () => {
        const rec = (await storage.consumers.getByUsername('partner-a'))!;
        assert.ok(await store.byKey('pk_live_abcdefghijklmnop'));
        assert.equal(await store.byKey('pk_new_key_0123456789'), undefined);
        // change storage behind the store's back: the cache still answers
        const keyCred = (await storage.credentials.listByConsumer(rec.id, 'key-auth'))[0]!;
        await storage.credentials.delete(keyCred.id);
        await storage.credentials.insert({
          id: 'new-key',
          consumer_id: rec.id,
          plugin: 'key-auth',
          lookup: keyLookup(credentialKeys(SECRET), 'pk_new_key_0123456789'),
          secret_hash: null,
          secret_sealed: null,
          source: 'admin',
          created_at: NOW,
        });
        assert.ok(await store.byKey('pk_live_abcdefghijklmnop'), 'cached hit');
        assert.equal(await store.byKey('pk_new_key_0123456789'), undefined, 'cached miss');

        const heard = nextEvent(bus, 'credentials.changed');
        await bus.publish({ type: 'credentials.changed', consumer: 'partner-a' });
        await heard;
        assert.equal(await store.byKey('pk_live_abcdefghijklmnop'), undefined);
        assert.equal((await store.byKey('pk_new_key_0123456789'))?.credential_id, 'new-key');
      });

      it('entries expire after the TTL; misses sooner', async () => {
        const local = fixedClock(NOW);
        const ttlStore = createConsumerStore(storage, { secret: SECRET, clock: local, logger: silentLogger(), ttl: 30, negativeTtl: 5 });
        try {
          assert.ok(await ttlStore.byUsername('partner-a'));
          assert.equal(await ttlStore.byUsername('late'), undefined);
          await storage.consumers.delete('partner-a');
          await storage.consumers.upsert({ id: 'late', username: 'late', groups: [], source: 'cli', created_at: NOW, updated_at: NOW });
          local.advance(4);
          assert.ok(await ttlStore.byUsername('partner-a'));
          assert.equal(await ttlStore.byUsername('late'), undefined);
          local.advance(1);
          assert.deepEqual(await ttlStore.byUsername('late'), { id: 'late', username: 'late', groups: [], custom_id: undefined });
          local.advance(25);
          assert.equal(await ttlStore.byUsername('partner-a'), undefined);
        } finally {
          ttlStore.close();
        }
      });

      it('keeps at most maxEntries, dropping the oldest', async () => {
        const small = createConsumerStore(storage, { secret: SECRET, clock, logger: silentLogger(), maxEntries: 2 });
        try {
          assert.ok(await small.byUsername('partner-a'));
          assert.equal(await small.byUsername('x1'), undefined);
          assert.equal(await small.byUsername('x2'), undefined); // evicts partner-a
          await storage.consumers.delete('partner-a');
          assert.equal(await small.byUsername('x1'), undefined);
          assert.equal(await small.byUsername('partner-a'), undefined, 'reloaded from storage after eviction');
        } finally {
          small.close();
        }
      });

      it('counts cache hits and misses in the metrics', async () => {
        const metrics = createMetrics();
        const counted = createConsumerStore(storage, { secret: SECRET, clock, logger: silentLogger(), metrics });
        try {
          await counted.byKey('pk_live_abcdefghijklmnop');
          await counted.byKey('pk_live_abcdefghijklmnop');
          await counted.byUsername('nobody');
          const text = metrics.render();
          assert.match(text, /^drawbridge_cache_hits_total\{cache="consumers"\} 1$/m);
          assert.match(text, /^drawbridge_cache_misses_total\{cache="consumers"\} 2$/m);
        } finally {
          counted.close();
        }
      });

      it('concurrent misses for one credential share one lookup', async () => {
        const results = await Promise.all(Array.from({ length: 10 }, () => store.byKey('pk_live_abcdefghijklmnop')));
        assert.equal(new Set(results).size, 1, 'every caller gets the same object');
        assert.equal(results[0]?.consumer.username, 'partner-a');
      });
    });
  });
}

// `drawbridge config validate` runs these; the cases are the ones sync refuses above, so a file
// validate calls valid also starts.
describe('checkConfiguredConsumers: the sync\'s checks without storage', () => {
  it('accepts what sync stores, including one credential repeated within one consumer', async () => {
    await checkConfiguredConsumers({ consumers: [partner()] }, SECRET);
    const twice = partner({ credentials: { 'key-auth': [{ key: 'pk_live_abcdefghijklmnop' }, { key: 'pk_live_abcdefghijklmnop' }] } });
    await checkConfiguredConsumers({ consumers: [twice] }, SECRET);
  });

  it('refuses each credential sync refuses, naming the same key', async () => {
    for (const [credentials, path] of BAD_CREDENTIALS) {
      await assert.rejects(
        checkConfiguredConsumers({ consumers: [partner({ credentials })] }, SECRET),
        (err: unknown) => err instanceof ConfigError && err.path === path,
        path,
      );
    }
  });

  it('refuses a key, username or key_id another consumer uses, naming both places', async () => {
    const first = partner();
    for (const [plugin, entry, field] of [
      ['key-auth', { key: 'pk_live_abcdefghijklmnop' }, 'key'],
      ['basic-auth', { username: 'partner', password: 'another password' }, 'username'],
      ['hmac-auth', { key_id: 'partner-key-1', secret: 'another-secret' }, 'key_id'],
    ] as const) {
      const twin = { username: 'twin', groups: [], credentials: { [plugin]: [entry] } };
      await assert.rejects(
        checkConfiguredConsumers({ consumers: [first, twin] }, SECRET),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.path === `gateway.consumers[1].credentials.${plugin}[0].${field}` &&
          err.problem === `already used by consumer "partner-a" at gateway.consumers[0].credentials.${plugin}[0].${field}`,
        plugin,
      );
    }
  });
});
