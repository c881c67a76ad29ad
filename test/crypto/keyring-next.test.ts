// The keyring's next key (`keys.publish_ahead`): right after a rotation the JWKS already holds
// the new key while tokens are still signed with the old one; once the time has come every
// keyring switches on its own (two keyrings on one storage: both switch, one current key in
// storage); the immediate rotation (`key rotate --now`) switches at once and drops a waiting
// next key. Time is the injectable Clock; storage is real (memory:, and PostgreSQL from
// separate pools as separate instances would have).
import * as assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { signJwt } from '../../src/crypto/jwt.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/types.js';
import { TEST_SECRET } from '../helpers/auth-server.js';
import { allTargets } from '../storage/targets.js';

const START = 1_700_000_000;
const AHEAD = 600;
const PREVIOUS_FOR = 900;

function kidOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
}

function signed(keyring: Keyring): string {
  return signJwt(keyring.current, { sub: 'alice', iat: START }, 'at+jwt');
}

const jwksKids = (keyring: Keyring) => keyring.jwks().keys.map((k) => k.kid);
const targets = await allTargets();

describe('keyring: the next key is published ahead and takes over by time', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function keyringOn(storage: Storage, clock: ReturnType<typeof fixedClock>, changes: string[] = []): Promise<Keyring> {
    const keyring = new Keyring({
      repo: storage.keys, secret: TEST_SECRET, alg: 'ES256', clock, refreshInterval: 0, publishPreviousFor: PREVIOUS_FOR,
      onChange: (k) => changes.push(k.kid),
    });
    await keyring.start();
    cleanups.push(() => keyring.stop());
    return keyring;
  }

  async function memoryStorage(): Promise<Storage> {
    const storage = await openStorage('memory:');
    cleanups.push(() => storage.close());
    return storage;
  }

  it('right after the rotation the JWKS holds the next key while tokens are signed with the old one; after publish_ahead with the new one', async () => {
    const clock = fixedClock(START);
    const storage = await memoryStorage();
    const keyring = await keyringOn(storage, clock);
    const old = keyring.current.kid;

    const { key: next, created } = await keyring.prepareNext(AHEAD);
    assert.equal(created, true);
    assert.equal(next.activates_at, START + AHEAD);
    assert.deepEqual(jwksKids(keyring), [old, next.kid], 'published at once, after the current key');
    assert.ok(keyring.verificationKeys.has(next.kid));
    assert.equal(kidOf(signed(keyring)), old, 'still signing with the old key');
    assert.deepEqual(keyring.nextFor('ES256') && [keyring.nextFor('ES256')!.key.kid, keyring.nextFor('ES256')!.activatesAt], [next.kid, START + AHEAD]);

    clock.advance(AHEAD - 1);
    await keyring.refresh();
    assert.equal(kidOf(signed(keyring)), old, 'not a second early');

    clock.advance(1);
    await keyring.refresh();
    assert.equal(kidOf(signed(keyring)), next.kid);
    assert.equal(keyring.nextFor(), undefined);
    assert.deepEqual(jwksKids(keyring), [next.kid, old], 'the old key stays published');
    // (both made at START: list() orders them by kid, so sorted by status here)
    const stored = (await storage.keys.list()).sort((x, y) => x.status.localeCompare(y.status));
    assert.deepEqual(stored.map((k) => [k.kid, k.status, k.publish_until]), [
      [next.kid, 'current', null],
      [old, 'previous', START + AHEAD + PREVIOUS_FOR],
    ]);
  });

  it('a second rotation while a next key waits keeps that key and its time', async () => {
    const clock = fixedClock(START);
    const keyring = await keyringOn(await memoryStorage(), clock);
    const first = await keyring.prepareNext(AHEAD);
    clock.advance(100);
    const again = await keyring.prepareNext(AHEAD);
    assert.deepEqual([again.created, again.key.kid, again.key.activates_at], [false, first.key.kid, START + AHEAD]);
    assert.equal(keyring.jwks().keys.length, 2);
  });

  for (const target of targets) {
    if (target.name === 'sqlite file') continue; // one connection per process there: memory: covers the shared case
    it(`two keyrings on one storage both switch by themselves, one current key in storage (${target.name})`, { skip: target.skip }, async () => {
      const place = await target.prepare();
      cleanups.push(place.cleanup);
      const first = await openStorage(place.url, { autoMigrate: true });
      cleanups.push(() => first.close());
      // memory: is one database per connection, so the two keyrings share it; PostgreSQL: two pools
      const second = target.name === 'memory:' ? first : await openStorage(place.url);
      if (second !== first) cleanups.push(() => second.close());
      const clock = fixedClock(START);
      const changesA: string[] = [];
      const changesB: string[] = [];
      const a = await keyringOn(first, clock, changesA);
      const b = await keyringOn(second, clock, changesB);
      const old = a.current.kid;
      assert.equal(b.current.kid, old);

      const { key: next } = await a.prepareNext(AHEAD);
      await b.refresh();
      assert.deepEqual(jwksKids(b), [old, next.kid], 'the other instance publishes it on its next refresh');
      assert.equal(kidOf(signed(b)), old);

      clock.advance(AHEAD);
      // both find it due at the same moment
      await Promise.all([a.refresh(), b.refresh()]);
      assert.equal(kidOf(signed(a)), next.kid);
      assert.equal(kidOf(signed(b)), next.kid);
      assert.deepEqual([changesA, changesB], [[old, next.kid], [old, next.kid]]);
      const stored = (await first.keys.list()).sort((x, y) => x.status.localeCompare(y.status));
      assert.deepEqual(stored.filter((k) => k.status === 'current').map((k) => k.kid), [next.kid]);
      assert.deepEqual(stored.map((k) => [k.kid, k.status]), [[next.kid, 'current'], [old, 'previous']]);
    });
  }

  it('the immediate rotation (`key rotate --now`) signs at once and drops a waiting next key', async () => {
    const clock = fixedClock(START);
    const storage = await memoryStorage();
    const keyring = await keyringOn(storage, clock);
    const old = keyring.current.kid;
    const { key: waiting } = await keyring.prepareNext(AHEAD);

    const now = await keyring.rotate(PREVIOUS_FOR);
    assert.equal(kidOf(signed(keyring)), now.kid, 'no waiting');
    assert.equal(keyring.nextFor(), undefined);
    assert.deepEqual(jwksKids(keyring), [now.kid, old], 'the dropped next key is no longer published');
    clock.advance(AHEAD);
    await keyring.refresh();
    assert.equal(keyring.current.kid, now.kid, 'and never takes over');
    assert.equal((await storage.keys.list()).find((k) => k.kid === waiting.kid)?.status, 'retired');
  });
});
