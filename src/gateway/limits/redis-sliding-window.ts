// The sliding-window counter (sliding-window.ts) in Redis: ONE Lua script per call reads
// every configured window of one client, decides, and counts in all of them or in none —
// atomically, so concurrent gateways cannot both take the last slot (Kong's race #5311:
// separate INCRs per window, checked after the fact).
//
// A call reserves up to `want` requests at once (ARGV[2]): the gateway spends such a
// reservation locally, request by request (leases.ts), so a busy client does not cost a
// Redis round trip per request. The script grants at most an eighth of what still fits
// (at least 1), so near the limit every reservation is a single request and gateways
// share the last slots exactly; with want = 1 it is the plain per-request check.
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

const SLIDING_WINDOW_SCRIPT = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local want = tonumber(ARGV[2])
local n = (#ARGV - 2) / 2
local windows = {}
local fit = math.huge
local longest = 0
for i = 1, n do
  local ms = tonumber(ARGV[2 * i + 1])
  local limit = tonumber(ARGV[2 * i + 2])
  local index = math.floor(now / ms)
  local f = redis.call('HMGET', KEYS[1], ARGV[2 * i + 1] .. ':i', ARGV[2 * i + 1] .. ':c', ARGV[2 * i + 1] .. ':p')
  local stored = tonumber(f[1])
  local curr = tonumber(f[2]) or 0
  local prev = tonumber(f[3]) or 0
  if stored ~= index then
    if stored == index - 1 then prev = curr else prev = 0 end
    curr = 0
  end
  local elapsed = now - index * ms
  local room = limit * ms - (prev * (ms - elapsed) + curr * ms)
  local fits = 0
  if room > 0 then fits = math.ceil(room / ms) end
  if fits < fit then fit = fits end
  windows[i] = { index, curr, prev, elapsed }
  if ms > longest then longest = ms end
end
local granted = 0
if fit >= 1 then
  granted = math.max(1, math.floor(fit / 8))
  if granted > want then granted = want end
end
local out = { granted }
local fields = {}
for i = 1, n do
  local w = windows[i]
  if granted > 0 then
    w[2] = w[2] + granted
    local name = ARGV[2 * i + 1]
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
if granted > 0 then
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('PEXPIRE', KEYS[1], 2 * longest)
end
return out
`;

export const SLIDING_WINDOW_SHA = createHash('sha1').update(SLIDING_WINDOW_SCRIPT).digest('hex');

interface RedisStoreOptions {
  /** ms clock; absent: Redis's TIME (production) */
  now?: () => number;
}

/** What one call counted: `granted` requests (0 = refused), and every window's counts after it. */
export interface Reservation {
  granted: number;
  /** same order as the windows; curr includes the granted requests */
  counts: WindowCounts[];
}

export interface RedisWindowStore extends WindowStore {
  /** Counts up to `want` (≥ 1) requests at once; see the header comment for how many are granted. */
  reserve(key: string, want: number): Promise<Reservation>;
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

function toReservation(reply: number[], n: number): Reservation {
  const counts: WindowCounts[] = new Array<WindowCounts>(n);
  for (let i = 0; i < n; i++) {
    counts[i] = { prev: reply[1 + 3 * i]!, curr: reply[2 + 3 * i]!, elapsed: reply[3 + 3 * i]! };
  }
  return { granted: reply[0]!, counts };
}

/**
 * A store over `redis`. `windows` is fixed per plugin instance, so the script's window
 * arguments are built once; a call sends EVALSHA (EVAL once after a script flush/restart).
 */
export function redisWindowStore(redis: Redis, windows: readonly RateWindow[], options: RedisStoreOptions = {}): RedisWindowStore {
  // the script's arguments after the key: the time ('' = Redis TIME), how many, then ms and limit per window
  const fixedArgs: string[] = ['', '1'];
  for (const w of windows) fixedArgs.push(String(w.ms), String(w.limit));
  const n = windows.length;
  const clock = options.now;

  function argsFor(want: number): string[] {
    if (clock === undefined && want === 1) return fixedArgs;
    const args = fixedArgs.slice();
    if (clock !== undefined) args[0] = String(clock());
    args[1] = String(want);
    return args;
  }

  function toResult(reply: unknown): Reservation {
    return toReservation(reply as number[], n);
  }

  function reserve(key: string, want: number): Promise<Reservation> {
    const args = argsFor(want);
    return redis.evalsha(SLIDING_WINDOW_SHA, 1, key, ...args).then(toResult, function scriptMissing(err: unknown) {
      // after a script flush or a Redis restart: EVAL loads it again
      if (!isNoScript(err)) throw err;
      return redis.eval(SLIDING_WINDOW_SCRIPT, 1, key, ...args).then(toResult);
    });
  }

  return {
    reserve,
    hit: function hitRedis(key): Promise<HitResult> {
      return reserve(key, 1).then((r) => ({ allowed: r.granted === 1, counts: r.counts }));
    },
  };
}
