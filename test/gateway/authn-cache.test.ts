// The authenticators' shared credential cache: bound (second-chance LRU), per-entry expiry on a fixed
// clock, keyed digests, eviction by events, and the deny list for self-contained tokens.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { applyEvent, authnShared, CredentialCache, CredentialDigester, RevocationList, type AuthnShared } from '../../src/gateway/authn/cache.js';
import { unitDeps, type UnitDeps } from './authn-support.js';

describe('CredentialCache', () => {
  it('keeps at most maxEntries, dropping the least recently used', () => {
    const clock = fixedClock(1000);
    const cache = new CredentialCache({ maxEntries: 2, clock });
    cache.set('a', 1, 2000);
    cache.set('b', 2, 2000);
    assert.equal(cache.get('a'), 1); // a is now the most recently used
    cache.set('c', 3, 2000);
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), 1);
    assert.equal(cache.get('c'), 3);
    assert.equal(cache.size, 2);
  });

  it('a used entry is spared once, then dropped when it is not used again; a new entry is never the one dropped', () => {
    const cache = new CredentialCache({ maxEntries: 3, clock: fixedClock(1000) });
    for (const k of ['a', 'b', 'c']) cache.set(k, k, 2000);
    cache.get('a');
    cache.get('b');
    cache.set('d', 'd', 2000); // a and b spared (moved to the new end, unmarked), c dropped
    assert.deepEqual(['c', 'a', 'b', 'd'].map((k) => cache.get(k)), [undefined, 'a', 'b', 'd']);
    // a, b and d were all read, a first: a full round unmarks them, then a (the oldest) goes
    cache.set('e', 'e', 2000);
    assert.deepEqual(['b', 'd', 'e'].map((k) => cache.has(k)), [true, true, true]);
    // nothing read since: the oldest goes, never the entry being added
    cache.set('f', 'f', 2000);
    assert.deepEqual(['b', 'd', 'e', 'f'].map((k) => cache.has(k)), [false, true, true, true]);
  });

  it('keeps the keys in use while a stream of one-off keys passes through', () => {
    const cache = new CredentialCache({ maxEntries: 100, clock: fixedClock(1000) });
    const hot = Array.from({ length: 20 }, (_, i) => `hot-${i}`);
    for (const k of hot) cache.set(k, k, 2000);
    for (let i = 0; i < 5_000; i++) {
      cache.set(`cold-${i}`, i, 2000);
      const k = hot[i % hot.length]!;
      assert.equal(cache.get(k), k, `hot key ${k} lost after ${i} one-off keys`);
    }
    assert.equal(cache.size, 100);
  });

  it('an eviction spares at most a few used entries, so a cache where all are in use still stays bounded', () => {
    const cache = new CredentialCache({ maxEntries: 50, clock: fixedClock(1000) });
    for (let i = 0; i < 50; i++) cache.set(`k${i}`, i, 2000);
    for (let i = 0; i < 50; i++) cache.get(`k${i}`);
    cache.set('new', 'new', 2000);
    assert.equal(cache.size, 50);
    assert.equal(cache.get('new'), 'new');
  });

  it('forgets an entry when its expiry is reached, and stores nothing already expired', () => {
    const clock = fixedClock(1000);
    const cache = new CredentialCache({ maxEntries: 10, clock });
    cache.set('a', 'x', 1005);
    cache.set('dead', 'y', 1000);
    assert.equal(cache.get('dead'), undefined);
    clock.advance(4);
    assert.equal(cache.get('a'), 'x');
    clock.advance(1);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.size, 0);
  });

  it('evicts entries by tag', () => {
    const cache = new CredentialCache({ maxEntries: 10, clock: fixedClock(0) });
    cache.set('k1', 1, 100, { consumer: 'alice' });
    cache.set('k2', 2, 100, { consumer: 'bob' });
    cache.set('t1', 3, 100, { sub: 'u1', jti: 'j1' });
    assert.equal(cache.evict((t) => t.consumer === 'alice'), 1);
    assert.deepEqual([cache.get('k1'), cache.get('k2'), cache.get('t1')], [undefined, 2, 3]);
  });
});

describe('CredentialDigester', () => {
  it('is keyed by the master secret and separated by namespace', () => {
    const a = new CredentialDigester('secret-one-0123456789abcdef-0123456789');
    const b = new CredentialDigester('secret-two-0123456789abcdef-0123456789');
    assert.equal(a.digest('ns', 'key'), a.digest('ns', 'key'));
    assert.notEqual(a.digest('ns', 'key'), b.digest('ns', 'key'));
    assert.notEqual(a.digest('ns1', 'key'), a.digest('ns2', 'key'));
    // no ambiguity between namespace and credential
    assert.notEqual(a.digest('ab', 'c'), a.digest('a', 'bc'));
    assert.doesNotMatch(a.digest('ns', 'my-api-key'), /my-api-key/);
  });

  it('cacheKey: keyed and separated the same way, and neither the credential nor its plain hash', () => {
    const a = new CredentialDigester('secret-one-0123456789abcdef-0123456789');
    const b = new CredentialDigester('secret-two-0123456789abcdef-0123456789');
    assert.equal(a.cacheKey('ns', 'key'), a.cacheKey('ns', 'key'));
    assert.notEqual(a.cacheKey('ns', 'key'), b.cacheKey('ns', 'key'));
    assert.notEqual(a.cacheKey('ns1', 'key'), a.cacheKey('ns2', 'key'));
    assert.notEqual(a.cacheKey('ab', 'c'), a.cacheKey('a', 'bc'));
    const key = a.cacheKey('ns', 'my-api-key');
    assert.doesNotMatch(key, /my-api-key/);
    for (const plain of ['my-api-key', 'ns\0my-api-key']) assert.notEqual(key, createHash('sha256').update(plain).digest('base64url'));
    // short latin1 input: SipHash-2-4-128, 8 UTF-16 code units
    assert.equal(key.length, 8);
  });

  it('cacheKey: long or non-latin1 credentials get the keyed SHA-256 instead, never the same key as a short one', () => {
    const a = new CredentialDigester('secret-one-0123456789abcdef-0123456789');
    const b = new CredentialDigester('secret-two-0123456789abcdef-0123456789');
    const jwtLike = 'eyJ' + 'a'.repeat(600);
    for (const credential of [jwtLike, 'clé-€-key']) {
      const key = a.cacheKey('ns', credential);
      assert.match(key, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(key, a.cacheKey('ns', credential));
      assert.notEqual(key, b.cacheKey('ns', credential));
      assert.notEqual(key, a.cacheKey('ns2', credential));
    }
    assert.notEqual(a.cacheKey('ns', jwtLike), a.cacheKey('ns', jwtLike + 'b'));
    // the boundary: the longest SipHash input and one character more both stay distinct and stable
    const edge = 'k'.repeat(256 - 'ns\0'.length);
    assert.equal(a.cacheKey('ns', edge).length, 8);
    assert.equal(a.cacheKey('ns', edge + 'k').length, 43);
    // many distinct short credentials: distinct keys
    const keys = new Set<string>();
    for (let i = 0; i < 20_000; i++) keys.add(a.cacheKey('ns', `api-key-${i}`));
    assert.equal(keys.size, 20_000);
  });
});

describe('events', () => {
  function shared(): AuthnShared & { clock: ReturnType<typeof fixedClock> } {
    const clock = fixedClock(5000);
    return {
      clock,
      cache: new CredentialCache({ maxEntries: 100, clock }),
      revocations: new RevocationList(clock, 3600),
      digester: new CredentialDigester('x'.repeat(40)),
    };
  }

  it('credentials.changed evicts that consumer (or every consumer); config.changed every consumer', () => {
    const s = shared();
    s.cache.set('a', 1, 9999, { consumer: 'alice' });
    s.cache.set('b', 2, 9999, { consumer: 'bob' });
    s.cache.set('t', 3, 9999, { sub: 'u' });
    applyEvent(s, { type: 'credentials.changed', consumer: 'alice' });
    assert.deepEqual([s.cache.get('a'), s.cache.get('b'), s.cache.get('t')], [undefined, 2, 3]);
    applyEvent(s, { type: 'credentials.changed' });
    assert.deepEqual([s.cache.get('b'), s.cache.get('t')], [undefined, 3]);
    s.cache.set('c', 4, 9999, { consumer: 'carol' });
    applyEvent(s, { type: 'config.changed' });
    assert.deepEqual([s.cache.get('c'), s.cache.get('t')], [undefined, 3]);
  });

  it('token.revoked evicts by jti or digest and remembers the revocation', () => {
    const s = shared();
    s.cache.set('t1', 1, 9999, { jti: 'j1', digest: 'd1' });
    s.cache.set('t2', 2, 9999, { jti: 'j2', digest: 'd2' });
    applyEvent(s, { type: 'token.revoked', jti: 'j1' });
    applyEvent(s, { type: 'token.revoked', digest: 'd2' });
    assert.deepEqual([s.cache.get('t1'), s.cache.get('t2')], [undefined, undefined]);
    assert.ok(s.revocations.isRevoked({ jti: 'j1' }, undefined));
    assert.ok(s.revocations.isRevoked({ jti: 'jx', digest: 'd2' }, undefined));
    assert.ok(!s.revocations.isRevoked({ jti: 'j3', digest: 'd3' }, undefined));
    s.clock.advance(3600);
    assert.ok(!s.revocations.isRevoked({ jti: 'j1' }, undefined));
  });

  it('user, session and client revocations refuse tokens issued up to then, not later ones', () => {
    const s = shared();
    s.cache.set('u', 1, 9999, { sub: 'user-1' });
    s.cache.set('s', 2, 9999, { sid: 'sess-1' });
    s.cache.set('c', 3, 9999, { client_id: 'app' });
    applyEvent(s, { type: 'user.revoked', sub: 'user-1' });
    applyEvent(s, { type: 'session.revoked', sid: 'sess-1' });
    applyEvent(s, { type: 'client.revoked', client_id: 'app' });
    assert.equal(s.cache.size, 0);
    assert.ok(s.revocations.isRevoked({ sub: 'user-1' }, 4990));
    assert.ok(s.revocations.isRevoked({ sid: 'sess-1' }, undefined));
    assert.ok(s.revocations.isRevoked({ client_id: 'app' }, 5000));
    assert.ok(!s.revocations.isRevoked({ sub: 'user-1' }, 5001));
    assert.ok(!s.revocations.isRevoked({ sub: 'user-2' }, 4990));
  });
});

describe('authnShared', () => {
  let deps: UnitDeps;

  before(async () => {
    deps = await unitDeps();
  });

  after(async () => {
    await deps?.close();
  });

  it('is one cache per gateway, subscribed to its event bus once', async () => {
    const a = authnShared(deps);
    assert.equal(authnShared(deps), a);
    a.cache.set('x', 1, deps.clock.now() + 60, { consumer: 'alice' });
    await deps.events.publish({ type: 'credentials.changed', consumer: 'alice' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(a.cache.get('x'), undefined);
  });
});
