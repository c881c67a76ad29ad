// Windowed counters for throttling: in-process, or in Redis so every instance agrees.
// A Redis that does not answer is an UnavailableError (503 + Retry-After where it reaches
// a response), never a count of zero: a throttle must not fail open.
import type { Redis } from 'ioredis';
import { onRedis } from './redis.js';

interface WindowState {
  count: number;
  /** seconds until the window resets (0 when nothing counted) */
  resetIn: number;
}

export interface WindowCounter {
  /** current count and seconds until the window resets (0 when nothing counted) */
  peek(key: string): Promise<{ count: number; resetIn: number }>;
  /**
   * The first of `keys` (in order) whose count has reached `limit`, or undefined: what every
   * authenticated request asks before anything else. One round trip to Redis; in process a
   * plain value, so the request path has nothing to await.
   */
  firstAtLimit(keys: readonly string[], limit: number | readonly number[]): WindowState | undefined | Promise<WindowState | undefined>;
  /** add one and return the new count */
  hit(key: string, windowSeconds: number): Promise<{ count: number; resetIn: number }>;
  /** forget the key's window (e.g. a successful login clears its failures) */
  reset(key: string): Promise<void>;
}

/** One limit for every key, or one per key (same order). */
function limitAt(limit: number | readonly number[], i: number): number {
  return typeof limit === 'number' ? limit : limit[i]!;
}

export function memoryCounter(nowMs: () => number = Date.now): WindowCounter {
  const entries = new Map<string, { count: number; resetAt: number }>();
  let lastSweep = nowMs();
  function sweep(now: number): void {
    // bounded memory: drop finished windows now and then
    if (now - lastSweep < 10_000) return;
    lastSweep = now;
    for (const [k, e] of entries) if (e.resetAt <= now) entries.delete(k);
  }
  return {
    async peek(key) {
      const now = nowMs();
      const e = entries.get(key);
      if (!e || e.resetAt <= now) return { count: 0, resetIn: 0 };
      return { count: e.count, resetIn: (e.resetAt - now) / 1000 };
    },
    firstAtLimit(keys, limit) {
      if (entries.size === 0) return undefined; // no failures anywhere: the usual case
      const now = nowMs();
      for (let i = 0; i < keys.length; i++) {
        const e = entries.get(keys[i]!);
        if (e && e.resetAt > now && e.count >= limitAt(limit, i)) return { count: e.count, resetIn: (e.resetAt - now) / 1000 };
      }
      return undefined;
    },
    async hit(key, windowSeconds) {
      const now = nowMs();
      sweep(now);
      let e = entries.get(key);
      if (!e || e.resetAt <= now) {
        e = { count: 0, resetAt: now + windowSeconds * 1000 };
        entries.set(key, e);
      }
      e.count++;
      return { count: e.count, resetIn: (e.resetAt - now) / 1000 };
    },
    async reset(key) {
      entries.delete(key);
    },
  };
}

const HIT_SCRIPT = `
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {c, redis.call('PTTL', KEYS[1])}`;

export function redisCounter(redis: Redis, prefix = 'drawbridge:count:'): WindowCounter {
  /** One Redis call: unavailable when Redis is (cache/redis.ts onRedis). */
  const run = <T>(call: () => Promise<T>): Promise<T> => onRedis(redis, 'counters', call);
  return {
    async peek(key) {
      const [[, v], [, ttl]] = (await run(() => redis.multi().get(prefix + key).pttl(prefix + key).exec())) as [
        [unknown, string | null],
        [unknown, number],
      ];
      return v === null ? { count: 0, resetIn: 0 } : { count: Number(v), resetIn: Math.max(0, ttl) / 1000 };
    },
    async firstAtLimit(keys, limit) {
      const multi = redis.multi();
      for (const key of keys) multi.get(prefix + key).pttl(prefix + key);
      const replies = (await run(() => multi.exec())) as Array<[unknown, string | number | null]>;
      for (let i = 0; i < keys.length; i++) {
        const v = replies[2 * i]![1];
        const ttl = replies[2 * i + 1]![1] as number;
        if (v !== null && Number(v) >= limitAt(limit, i)) return { count: Number(v), resetIn: Math.max(0, ttl) / 1000 };
      }
      return undefined;
    },
    async hit(key, windowSeconds) {
      const [count, ttl] = (await run(() => redis.eval(HIT_SCRIPT, 1, prefix + key, String(windowSeconds * 1000)))) as [number, number];
      return { count, resetIn: Math.max(0, ttl) / 1000 };
    },
    async reset(key) {
      await run(() => redis.del(prefix + key));
    },
  };
}
