// The gateway's session read cache (src/sessions/cache.ts) and its event glue
// (GatewaySessionCache in src/gateway/session-events.ts): entries live at most the TTL and
// never past the session's absolute end, the size is bounded, a read from before an
// eviction is not cached after it, every ending event evicts, a lost subscription flushes,
// and nothing is served while the bus says it is not connected.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GatewayEvent } from '../../src/cache/events.js';
import { GatewaySessionCache } from '../../src/gateway/session-events.js';
import type { EventBus } from '../../src/gateway/types.js';
import { SESSION_CACHE_TTL_MS, SessionCache } from '../../src/sessions/cache.js';
import type { GatewaySession } from '../../src/sessions/types.js';

const NOW = 1_800_000_000;

function session(id: string, fields: Partial<GatewaySession> = {}): GatewaySession {
  return {
    id,
    sub: 'alice',
    issuer: 'https://idp.example',
    client_id: 'gateway',
    idp_sid: null,
    claims: {},
    scope: ['openid'],
    tokens: 'sealed',
    access_expires_at: NOW + 600,
    created_at: NOW,
    last_seen_at: NOW,
    expires_at: NOW + 3600,
    ...fields,
  };
}

/** A cache on a hand-turned millisecond clock. */
function manual(opts: { maxEntries?: number } = {}): { cache: SessionCache; advance(ms: number): void } {
  let t = 1000;
  return { cache: new SessionCache({ ...opts, nowMs: () => t }), advance: (ms) => (t += ms) };
}

/** An in-memory bus whose connection state the test sets, recording what is published. */
function testBus(): EventBus & { up: boolean; published: GatewayEvent[]; emit(event: GatewayEvent): void } {
  const listeners = new Set<(event: GatewayEvent) => void>();
  return {
    up: true,
    published: [],
    async publish(event) {
      this.published.push(event);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    connected() {
      return this.up;
    },
    emit(event) {
      for (const l of listeners) l(event);
    },
  };
}

describe('SessionCache', () => {
  it('serves an entry for the TTL (1 s), then no more', () => {
    const { cache, advance } = manual();
    assert.equal(SESSION_CACHE_TTL_MS, 1000);
    cache.set(session('a'), cache.generation, NOW);
    assert.equal(cache.get('a')?.id, 'a');
    advance(999);
    assert.equal(cache.get('a')?.id, 'a');
    advance(2);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.size, 0, 'an expired entry is dropped when met');
  });

  it('never past the session\'s absolute end; an ended session is not cached at all', () => {
    const { cache, advance } = manual();
    cache.set(session('a', { expires_at: NOW + 0.3 }), cache.generation, NOW);
    advance(299);
    assert.ok(cache.get('a'));
    advance(2);
    assert.equal(cache.get('a'), undefined);
    cache.set(session('b', { expires_at: NOW }), cache.generation, NOW);
    assert.equal(cache.get('b'), undefined);
  });

  it('is bounded: past maxEntries the oldest written entry goes', () => {
    const { cache } = manual({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c']) cache.set(session(id), cache.generation, NOW);
    cache.set(session('a'), cache.generation, NOW); // rewritten: now the newest
    cache.set(session('d'), cache.generation, NOW);
    assert.equal(cache.size, 3);
    assert.equal(cache.get('b'), undefined, 'the oldest went');
    for (const id of ['a', 'c', 'd']) assert.ok(cache.get(id), id);
  });

  it('an answer read before an eviction is not cached after it', () => {
    const { cache } = manual();
    const before = cache.generation;
    cache.evict(['someone-else']);
    cache.set(session('a'), before, NOW);
    assert.equal(cache.get('a'), undefined);
    cache.set(session('a'), cache.generation, NOW);
    assert.ok(cache.get('a'));
  });

  it('evict, evictWhere and clear drop what they name; delete does not move the generation', () => {
    const { cache } = manual();
    for (const [id, sub] of [['a', 'alice'], ['b', 'bob'], ['c', 'alice']] as const) cache.set(session(id, { sub }), cache.generation, NOW);
    cache.evict(['b']);
    assert.equal(cache.get('b'), undefined);
    cache.evictWhere((s) => s.sub === 'alice');
    assert.equal(cache.size, 0);
    cache.set(session('d'), cache.generation, NOW);
    const g = cache.generation;
    cache.delete('d');
    assert.equal(cache.get('d'), undefined);
    assert.equal(cache.generation, g);
    cache.set(session('e'), g, NOW);
    cache.clear();
    assert.equal(cache.get('e'), undefined);
    assert.notEqual(cache.generation, g);
  });
});

describe('GatewaySessionCache (events)', () => {
  function setup() {
    const bus = testBus();
    const shared = new GatewaySessionCache(bus, new SessionCache({ nowMs: () => 0 }));
    const put = (s: GatewaySession) => shared.remember(s, shared.generation, NOW);
    return { bus, shared, put };
  }

  it('gateway-session.ended evicts the named ids (strings only, from the wire)', () => {
    const { bus, shared, put } = setup();
    put(session('a'));
    put(session('b'));
    bus.emit({ type: 'gateway-session.ended', ids: ['a', 42 as unknown as string] });
    assert.equal(shared.peek('a'), undefined);
    assert.ok(shared.peek('b'));
    bus.emit({ type: 'gateway-session.ended', ids: 'b' as unknown as string[] }); // malformed: ignored
    assert.ok(shared.peek('b'));
  });

  it('user.revoked evicts the user\'s sessions, session.revoked those of the provider session', () => {
    const { bus, shared, put } = setup();
    put(session('a', { sub: 'alice', idp_sid: 'sso-1' }));
    put(session('b', { sub: 'bob', idp_sid: 'sso-2' }));
    put(session('c', { sub: 'carol', idp_sid: 'sso-3' }));
    bus.emit({ type: 'user.revoked', sub: 'alice' });
    assert.equal(shared.peek('a'), undefined);
    bus.emit({ type: 'session.revoked', sid: 'sso-2' });
    assert.equal(shared.peek('b'), undefined);
    assert.ok(shared.peek('c'));
    bus.emit({ type: 'credentials.changed' });
    assert.ok(shared.peek('c'), 'unrelated events keep it');
    bus.emit({ type: 'events.resumed' });
    assert.equal(shared.peek('c'), undefined, 'a resumed subscription flushes everything');
  });

  it('while the bus is not connected nothing is served nor stored; after it is, caching resumes', () => {
    const { bus, shared, put } = setup();
    put(session('a'));
    bus.up = false;
    assert.equal(shared.peek('a'), undefined, 'not trusted: the caller goes to the store');
    put(session('b'));
    bus.up = true;
    assert.equal(shared.peek('b'), undefined, 'nothing was stored while disconnected');
    put(session('b'));
    assert.ok(shared.peek('b'));
  });

  it('ended() evicts here at once and publishes only the store ids, in bounded batches', async () => {
    const { bus, shared, put } = setup();
    put(session('a'));
    await shared.ended(['a']);
    assert.equal(shared.peek('a'), undefined);
    assert.deepEqual(bus.published, [{ type: 'gateway-session.ended', ids: ['a'] }]);
    await shared.ended([]);
    assert.equal(bus.published.length, 1, 'nothing ended: nothing published');
    const many = Array.from({ length: 1201 }, (_, i) => `id-${i}`);
    await shared.ended(many);
    const batches = bus.published.slice(1) as Array<{ ids: string[] }>;
    assert.deepEqual(batches.map((b) => b.ids.length), [500, 500, 201]);
    assert.deepEqual(batches.flatMap((b) => b.ids), many);
  });

  it('a bus that fails to publish does not fail the ending', async () => {
    const { bus, shared, put } = setup();
    bus.publish = async () => {
      throw new Error('redis down');
    };
    put(session('a'));
    await shared.ended(['a']);
    assert.equal(shared.peek('a'), undefined);
  });
});
