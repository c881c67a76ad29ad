// The sliding-window counter behind `rate-limiting` (as Cloudflare's and nginx's): each
// window of length w keeps the count of the current fixed window and of the previous one;
// the usage at time t weights the previous count by the share of the previous window still
// inside the sliding window [t − w, t]:
//
//   used = prev × (w − elapsed) / w + curr
//
// (assuming the previous window's requests were spread evenly — the one approximation; it
// can let one extra request through right after a window turns). A request is allowed
// when every window has used < limit; then, and only then, every window counts it. Refused
// requests are not counted (Kong's behaviour), so a client that keeps hammering gets back
// in once its rate drops.
//
// The arithmetic is kept in integers (ms × counts stay far below 2^53 for limits up to
// 10^8 a day) so the Redis Lua script (redis-sliding-window.ts) and the in-process store
// below decide identically; `evaluate` turns either's raw counts into headers.

import { OldestKeys } from '../../core/oldest-keys.js';

export interface RateWindow {
  /** header suffix: Second | Minute | Hour | Day */
  label: string;
  /** window length in ms */
  ms: number;
  limit: number;
}

/** Raw counts of one window after the decision (curr includes this request when allowed). */
export interface WindowCounts {
  prev: number;
  curr: number;
  /** ms since the current fixed window began */
  elapsed: number;
}

export interface HitResult {
  allowed: boolean;
  /** same order as the windows passed in */
  counts: WindowCounts[];
}

/** Counts a hit against every window at once, atomically, or refuses it without counting. */
export interface WindowStore {
  hit(key: string, windows: readonly RateWindow[]): Promise<HitResult> | HitResult;
}

/** used × w, an integer: prev × (w − elapsed) + curr × w */
function scaledUse(prev: number, curr: number, elapsed: number, ms: number): number {
  return prev * (ms - elapsed) + curr * ms;
}

/** Whether one more request fits: used < limit. */
export function fits(window: RateWindow, prev: number, curr: number, elapsed: number): boolean {
  return scaledUse(prev, curr, elapsed, window.ms) < window.limit * window.ms;
}

/** Requests that still fit now: how many r ≥ 0 have used + r < limit. */
function remainingIn(window: RateWindow, counts: WindowCounts): number {
  const room = window.limit * window.ms - scaledUse(counts.prev, counts.curr, counts.elapsed, window.ms);
  return room <= 0 ? 0 : Math.ceil(room / window.ms);
}

/** ms until one more request fits in this window, assuming nobody else is counted meanwhile. */
export function msUntilRoom(window: RateWindow, counts: WindowCounts): number {
  const { ms, limit } = window;
  const { prev, curr, elapsed } = counts;
  if (fits(window, prev, curr, elapsed)) return 0;
  if (curr >= limit) {
    // This window alone is full: wait for it to end, then (its count now the previous
    // one) until curr × (ms − e) < limit × ms, i.e. e > ms × (curr − limit) / curr.
    return ms - elapsed + Math.floor((ms * (curr - limit)) / curr) + 1;
  }
  // prev > 0 here; wait until prev × (ms − e) < (limit − curr) × ms.
  return Math.max(0, Math.floor((ms * (prev - limit + curr)) / prev) + 1 - elapsed);
}

export interface Evaluation {
  /** the most restrictive window: least remaining, then longest wait */
  limit: number;
  remaining: number;
  /** seconds: until a request fits again when none remains, else until the window turns */
  reset: number;
  /** per window, in order: remaining */
  remainingByWindow: number[];
  /** seconds until a request would be allowed (0 when one would be now) */
  retryAfter: number;
}

export function evaluate(windows: readonly RateWindow[], counts: readonly WindowCounts[]): Evaluation {
  let best = -1;
  let bestRemaining = Infinity;
  let bestWait = 0;
  let retryMs = 0;
  const remainingByWindow: number[] = new Array<number>(windows.length);
  for (let i = 0; i < windows.length; i++) {
    const window = windows[i]!;
    const c = counts[i]!;
    const remaining = remainingIn(window, c);
    remainingByWindow[i] = remaining;
    const room = remaining === 0 ? msUntilRoom(window, c) : 0;
    if (room > retryMs) retryMs = room;
    const wait = remaining === 0 ? room : window.ms - c.elapsed;
    if (remaining < bestRemaining || (remaining === bestRemaining && wait > bestWait)) {
      best = i;
      bestRemaining = remaining;
      bestWait = wait;
    }
  }
  return {
    limit: windows[best]!.limit,
    remaining: bestRemaining,
    reset: Math.ceil(bestWait / 1000),
    remainingByWindow,
    retryAfter: Math.ceil(retryMs / 1000),
  };
}

// ─── In-process store (policy: local) ───────────────────────────────────────────────────

interface LocalEntry {
  /** per window: index of the current fixed window, its count, the previous count */
  index: Float64Array;
  curr: Float64Array;
  prev: Float64Array;
  /** when every window's counts have gone stale (ms) */
  expiresAt: number;
}

interface LocalStoreOptions {
  /** ms clock (tests fix it) */
  now?: () => number;
  /** most clients tracked at once; the oldest are dropped beyond it (bounded memory) */
  maxEntries?: number;
}

/** Counters in a Map: one process only (each worker of `workers: N` counts on its own). */
export function localWindowStore(options: LocalStoreOptions = {}): WindowStore & { readonly size: number } {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 100_000;
  const entries = new Map<string, LocalEntry>();
  const oldest = new OldestKeys(entries);
  let nextSweep = 0;

  function sweep(t: number): void {
    if (t < nextSweep) return;
    nextSweep = t + 10_000;
    for (const [key, entry] of entries) if (entry.expiresAt <= t) entries.delete(key);
  }

  function entryFor(key: string, n: number): LocalEntry {
    let entry = entries.get(key);
    if (entry === undefined) {
      if (entries.size >= maxEntries) oldest.evict();
      entry = { index: new Float64Array(n).fill(-1), curr: new Float64Array(n), prev: new Float64Array(n), expiresAt: 0 };
      entries.set(key, entry);
    }
    return entry;
  }

  return {
    get size() {
      return entries.size;
    },
    hit: function hitLocal(key, windows) {
      const t = now();
      sweep(t);
      const n = windows.length;
      const entry = entryFor(key, n);
      const counts: WindowCounts[] = new Array<WindowCounts>(n);
      let allowed = true;
      let longest = 0;
      for (let i = 0; i < n; i++) {
        const { ms } = windows[i]!;
        const index = Math.floor(t / ms);
        if (entry.index[i] !== index) {
          entry.prev[i] = entry.index[i] === index - 1 ? entry.curr[i]! : 0;
          entry.curr[i] = 0;
          entry.index[i] = index;
        }
        const elapsed = t - index * ms;
        if (!fits(windows[i]!, entry.prev[i]!, entry.curr[i]!, elapsed)) allowed = false;
        counts[i] = { prev: entry.prev[i]!, curr: entry.curr[i]!, elapsed };
        if (ms > longest) longest = ms;
      }
      if (allowed) {
        for (let i = 0; i < n; i++) {
          entry.curr[i]!++;
          counts[i]!.curr++;
        }
        entry.expiresAt = t + 2 * longest;
      }
      return { allowed, counts };
    },
  };
}
