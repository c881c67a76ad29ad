// Replay protection for signature nonces: a nonce is accepted once while its signature
// could still be accepted. In Redis (`SET NX EX` on its SHA-256, so every gateway instance
// agrees) when the gateway has Redis, else in this process.
//
// In process, the nonces live in a fixed table of typed arrays, not a Map: a busy gateway
// sees a new nonce per request and must remember each for up to `clock_skew` (300 s by
// default), which in a Map means hundreds of thousands of long-lived strings and entries,
// each promoted to the old generation and then dying there (major garbage collections, and
// a per-request eviction once a bound is reached). The table holds a keyed 64-bit tag and
// an expiry second per slot, allocated once (12 MB for the default 2^20 slots) and never
// seen by the garbage collector. A nonce's tag is looked for in a window of WINDOW slots
// from its home slot, and it is stored in the first slot of the window whose entry has
// expired, else over the entry that expires first: a full table forgets the nonces closest
// to expiring anyway, and never refuses a new one. The tag and the home slot come from
// SipHash-2-4 under a random per-process key, so nobody can aim nonces at one window or
// make two collide (a false replay needs a 64-bit tag collision inside one window).
import { hash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../../../core/clock.js';
import { sipHash128 } from '../../../crypto/siphash.js';

export interface NonceStore {
  /**
   * true the first time `nonce` (the credential's key id and the nonce) is seen within `ttl`
   * seconds; false for a replay (in process: no promise)
   */
  claim(nonce: string, ttl: number): boolean | Promise<boolean>;
}

export function redisNonceStore(redis: Redis, prefix = 'drawbridge:hmac-nonce:'): NonceStore {
  return {
    async claim(nonce, ttl) {
      // a digest: the key stays short whatever the client sent, and says nothing of it
      const set = await redis.set(prefix + hash('sha256', nonce, 'base64url'), '1', 'EX', Math.max(1, Math.ceil(ttl)), 'NX');
      return set === 'OK';
    },
  };
}

/** Slots a nonce may occupy, from its home slot on. */
const WINDOW = 16;
/** Slots of the default table: about a million nonces (3,500 signed requests a second for 300 s). */
const DEFAULT_NONCE_SLOTS = 1 << 20;

/** The in-process store; `slots` (a power of two, at least WINDOW) bounds how many nonces it holds. */
export function memoryNonceStore(clock: Clock, slots = DEFAULT_NONCE_SLOTS): NonceStore {
  if (slots < WINDOW || (slots & (slots - 1)) !== 0) throw new Error(`nonce table: slots must be a power of two of at least ${WINDOW}`);
  const mask = slots - 1;
  const tag = sipHash128(randomBytes(16));
  // allocated at the first claim: a gateway whose hmac-auth never sees a nonce pays nothing
  let tags: Int32Array | undefined; // two halves per slot
  let until: Uint32Array | undefined; // epoch seconds the slot's nonce is forgotten at; 0: empty
  return {
    claim(nonce, ttl) {
      // a nonce outside latin1 (RFC 9421 nonces are sf-strings, ASCII) is tagged by its digest
      const h = tag(nonce) ?? tag(hash('sha256', nonce, 'base64url'))!;
      const home = (h.charCodeAt(0) | (h.charCodeAt(1) << 16)) & mask;
      const hi = h.charCodeAt(2) | (h.charCodeAt(3) << 16);
      const lo = h.charCodeAt(4) | (h.charCodeAt(5) << 16);
      if (tags === undefined || until === undefined) {
        tags = new Int32Array(slots * 2);
        until = new Uint32Array(slots);
      }
      const now = clock.now();
      let free = -1;
      let soonest = home;
      for (let i = 0; i < WINDOW; i++) {
        const slot = (home + i) & mask;
        const expiry = until[slot]!;
        if (expiry <= now) {
          if (free < 0) free = slot;
          continue;
        }
        if (tags[slot * 2] === hi && tags[slot * 2 + 1] === lo) return false;
        if (expiry < until[soonest]!) soonest = slot;
      }
      const slot = free >= 0 ? free : soonest;
      tags[slot * 2] = hi;
      tags[slot * 2 + 1] = lo;
      until[slot] = now + Math.max(1, Math.ceil(ttl));
      return true;
    },
  };
}
