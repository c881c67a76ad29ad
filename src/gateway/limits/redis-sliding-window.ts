// The sliding-window counter (sliding-window.ts) in Redis: ONE Lua script per request
// reads every configured window of one client, decides, and counts the request in all of
// them or in none — atomically, so concurrent gateways cannot both take the last slot
// (Kong's race #5311: separate INCRs per window, checked after the fact).
//
// One hash per client (`drawbridge:rl:<namespace>:<client>`), three fields per window:
// `<ms>:i` index of the current fixed window, `<ms>:c` its count, `<ms>:p` the previous
// window's count. One key per call keeps the script Redis Cluster safe; the hash expires
// two of its longest windows after the last counted request.
//
// Time is Redis's own (TIME), so gateways on hosts with skewed clocks still agree; tests
// may pass a time instead.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { HitResult, RateWindow, WindowCounts, WindowStore } from './sliding-window.js';

export const SLIDING_WINDOW_SCRIPT = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local n = (#ARGV - 1) / 2
local windows = {}
local allowed = 1
local longest = 0
for i = 1, n do
  local ms = tonumber(ARGV[2 * i])
  local limit = tonumber(ARGV[2 * i + 1])
  local index = math.floor(now / ms)
  local f = redis.call('HMGET', KEYS[1], ARGV[2 * i] .. ':i', ARGV[2 * i] .. ':c', ARGV[2 * i] .. ':p')
  local stored = tonumber(f[1])
  local curr = tonumber(f[2]) or 0
  local prev = tonumber(f[3]) or 0
  if stored ~= index then
    if stored == index - 1 then prev = curr else prev = 0 end
    curr = 0
  end
  local elapsed = now - index * ms
  if prev * (ms - elapsed) + curr * ms >= limit * ms then allowed = 0 end
  windows[i] = { index, curr, prev, elapsed }
  if ms > longest then longest = ms end
end
local out = { allowed }
local fields = {}
for i = 1, n do
  local w = windows[i]
  if allowed == 1 then
    w[2] = w[2] + 1
    local name = ARGV[2 * i]
    fields[#fields + 1] = name .. ':i'
    fields[#fields + 1] = w[1]
    fields[#fields + 1] = name .. ':c'
    fields[#fields + 1] = w[2]
    fields[#fields + 1] = name .. ':p'
    fields[#fields + 1] = w[3]
  end
  out[#out + 1] = w[3]
  out[#out + 1] = w[2]
  out[#out + 1] = w[4]
end
if allowed == 1 then
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('PEXPIRE', KEYS[1], 2 * longest)
end
return out
`;

export const SLIDING_WINDOW_SHA = createHash('sha1').update(SLIDING_WINDOW_SCRIPT).digest('hex');

export interface RedisStoreOptions {
  /** ms clock; absent: Redis's TIME (production) */
  now?: () => number;
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

function toResult(reply: number[], n: number): HitResult {
  const counts: WindowCounts[] = new Array<WindowCounts>(n);
  for (let i = 0; i < n; i++) {
    counts[i] = { prev: reply[1 + 3 * i]!, curr: reply[2 + 3 * i]!, elapsed: reply[3 + 3 * i]! };
  }
  return { allowed: reply[0] === 1, counts };
}

/**
 * A store over `redis`. `windows` is fixed per plugin instance, so the script's window
 * arguments are built once; a call sends EVALSHA (EVAL once after a script flush/restart).
 */
export function redisWindowStore(redis: Redis, windows: readonly RateWindow[], options: RedisStoreOptions = {}): WindowStore {
  // the script's arguments after the key: the time ('' = Redis TIME), then ms and limit per window
  const fixedArgs: string[] = [''];
  for (const w of windows) fixedArgs.push(String(w.ms), String(w.limit));
  const n = windows.length;
  const clock = options.now;

  function argsNow(): string[] {
    if (clock === undefined) return fixedArgs;
    const args = fixedArgs.slice();
    args[0] = String(clock());
    return args;
  }

  function toHit(reply: unknown): HitResult {
    return toResult(reply as number[], n);
  }

  return {
    hit: function hitRedis(key) {
      const args = argsNow();
      return redis.evalsha(SLIDING_WINDOW_SHA, 1, key, ...args).then(toHit, function scriptMissing(err: unknown) {
        // after a script flush or a Redis restart: EVAL loads it again
        if (!isNoScript(err)) throw err;
        return redis.eval(SLIDING_WINDOW_SCRIPT, 1, key, ...args).then(toHit);
      });
    },
  };
}
