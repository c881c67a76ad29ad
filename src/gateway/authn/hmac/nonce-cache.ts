// Replay protection for signature nonces: a nonce is accepted once while its signature
// could still be accepted. In Redis (`SET NX EX`, so every gateway instance agrees) when
// the gateway has Redis, else in this process (bounded; past the bound the oldest nonce
// is forgotten, which is why several instances need Redis).
import type { Redis } from 'ioredis';
import type { Clock } from '../../../core/clock.js';
import { OldestKeys } from '../../../core/oldest-keys.js';

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
  // A busy gateway sits at the bound and forgets one nonce per request: OldestKeys keeps
  // that from stepping over every deleted entry each time (see core/oldest-keys.ts).
  const oldest = new OldestKeys(seen);
  let lastSweep = clock.now();
  return {
    claim(key, ttl) {
      const now = clock.now();
      if (now - lastSweep >= 10) {
        lastSweep = now;
        for (const [k, until] of seen) if (until <= now) seen.delete(k);
      }
      const until = seen.get(key);
      if (until !== undefined) {
        if (until > now) return false;
        seen.delete(key); // expired: claimed again as the newest entry
      }
      seen.set(key, now + Math.max(1, Math.ceil(ttl)));
      if (seen.size > maxEntries) oldest.evict();
      return true;
    },
  };
}
