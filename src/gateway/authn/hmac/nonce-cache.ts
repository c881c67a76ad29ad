// Replay protection for signature nonces: a nonce is accepted once while its signature
// could still be accepted. In Redis (`SET NX EX`, so every gateway instance agrees) when
// the gateway has Redis, else in this process (bounded; past the bound the oldest nonce
// is forgotten, which is why several instances need Redis).
import type { Redis } from 'ioredis';
import type { Clock } from '../../../core/clock.js';

export interface NonceStore {
  /** true the first time `key` is seen within `ttl` seconds; false for a replay (in process: no promise) */
  claim(key: string, ttl: number): boolean | Promise<boolean>;
}

export function redisNonceStore(redis: Redis, prefix = 'drawbridge:hmac-nonce:'): NonceStore {
  return {
    async claim(key, ttl) {
      const set = await redis.set(prefix + key, '1', 'EX', Math.max(1, Math.ceil(ttl)), 'NX');
      return set === 'OK';
    },
  };
}

export function memoryNonceStore(clock: Clock, maxEntries = 100_000): NonceStore {
  const seen = new Map<string, number>(); // key → forget at (epoch seconds); insertion order = age
  // The oldest key, for the bound. Every request brings a fresh nonce, so a busy gateway
  // sits at the bound and forgets one nonce per request. `seen.keys().next()` would do,
  // but V8 leaves a deleted entry in place until the table is rebuilt, and a fresh
  // iterator starts at the front and steps over every one of them: tens of thousands
  // per request (~60-250 µs) at 100 000 entries. This iterator lives as long as the map
  // and only moves forward, so each deleted entry is stepped over once. It should never
  // run dry: it is only asked while the map holds more than maxEntries keys, and every key
  // it has passed has been deleted (a key claimed again later is a new entry at the end);
  // should it anyway, a fresh one takes over rather than letting the map outgrow its bound.
  let oldest = seen.keys();
  let lastSweep = clock.now();
  return {
    claim(key, ttl) {
      const now = clock.now();
      if (now - lastSweep >= 10) {
        lastSweep = now;
        for (const [k, until] of seen) if (until <= now) seen.delete(k);
      }
      const until = seen.get(key);
      if (until !== undefined && until > now) return false;
      seen.delete(key);
      seen.set(key, now + Math.max(1, Math.ceil(ttl)));
      if (seen.size > maxEntries) {
        let first = oldest.next();
        if (first.done === true) {
          oldest = seen.keys();
          first = oldest.next();
        }
        seen.delete(first.value as string);
      }
      return true;
    },
  };
}
