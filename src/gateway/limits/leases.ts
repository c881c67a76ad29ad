// Rate-limit leases for `policy: redis`: a gateway reserves several requests of a client's
// budget in one Lua call (redis-sliding-window.ts) and spends them locally, request by
// request, so a busy client costs one Redis round trip per lease instead of one per
// request. Nothing is ever let through that Redis did not count first, so gateways
// sharing Redis still never exceed a limit together (Kong's race #5311 stays impossible).
//
// How much to reserve adapts per client, like a congestion window: a lease starts at one
// request, doubles (up to MAX_LEASE) each time it was used up within FAST_MS, and halves
// when it lapsed with requests left over. Redis grants at most an eighth of what still fits,
// so close to a limit every lease is one request and the last slots are shared exactly.
// A lease lapses at the end of the shortest window's current fixed window (its requests
// were counted there) and after LEASE_MAX_MS at most; leftovers are not given back, which
// can only make a client's budget slightly smaller, never larger. A lease doubles only
// while it (or, refilled ahead, half of it) was spent within FAST_MS, so it holds at most
// what the client sends in about 4 × FAST_MS (and never more than an eighth of what still
// fits): that bounds what a client that stops can leave unspent. MAX_LEASE only caps the busiest clients: at 512, a
// client sending 16,000 requests a second costs one reservation every 32 ms. At 64 it
// cost 250 a second, and the key-auth + rate-limiting bench spent 3-7 % more gateway CPU
// per request (paired A/B): a reservation costs about 40 µs of CPU even alone
// (ioredis, two socket calls, the promise chain), more in a busy process.
//
// A refusal is remembered until a request could fit again (msUntilRoom), LEASE_MAX_MS at
// most: other gateways can only count more meanwhile, so asking Redis earlier could not
// change the answer, and a client hammering past its limit costs Redis nothing per request.
//
// One reservation per client is in flight at a time: requests arriving meanwhile wait for
// it and then take from its lease (or reserve the next one).
//
// A busy client's next lease is reserved ahead: once a lease that granted at least
// REFILL_MIN_SIZE requests is half spent (close to a limit, where Redis grants little, none
// is), the next reservation goes out in the background while the other half is spent, and
// what it grants is added to what is left. Without that, every lease ran dry
// before its successor was asked for, and the requests arriving during that round trip
// (a sixth of all requests of a busy gateway, measured) all waited for Redis. Spent early
// is never spent uncounted: the requests were counted when reserved. A lease that lapsed
// before its refill came back is dropped as before; one still valid keeps its leftover
// (at most half a lease, counted in the window it was reserved in) until the refill's end.
// A refused refill is remembered as a refusal from the moment the leftover runs out.
import { OldestKeys } from '../../core/oldest-keys.js';
import type { RedisWindowStore, Reservation } from './redis-sliding-window.js';
import { msUntilRoom, type HitResult, type RateWindow, type WindowCounts } from './sliding-window.js';

/** The most requests one reservation asks for. */
export const MAX_LEASE = 512;
/** A lease (or a remembered refusal) lasts this long at most, ms. */
const LEASE_MAX_MS = 1_000;
/** A lease used up faster than this (ms) makes the next one twice as large. */
const FAST_MS = 100;
/** Leases that granted this many (a busy client, not close to its limit) are refilled ahead, when half spent. */
export const REFILL_MIN_SIZE = 8;

interface Lease {
  /** reserved requests not yet spent */
  left: number;
  /** every window's counts right after the reservation (curr includes all it granted); [] before the first */
  counts: WindowCounts[];
  /** local ms when the reservation was sent: the counts' `elapsed` are as of then (or a little later) */
  at: number;
  /** local ms: the lease (or the refusal) holds until then */
  until: number;
  /** the last reservation was refused */
  refused: boolean;
  /** what the last reservation granted: a refill is asked for once half of that is spent */
  granted: number;
  /** a refill ahead was refused: once `left` runs out, refused until then (local ms) */
  refusedFrom: number;
  /** how many the next reservation asks for */
  size: number;
  /** the reservation in flight, if any */
  inflight: Promise<Reservation> | null;
}

interface LeaseOptions {
  /** local ms clock (tests); Date.now otherwise */
  now?: () => number;
  /** most clients tracked at once (bounded memory); the oldest are dropped beyond it */
  maxClients?: number;
  /** wraps each reservation (the limiter's redis_timeout deadline) */
  guard?: (reservation: Promise<Reservation>) => Promise<Reservation>;
}

export interface LeasedCounter {
  /** Counts one request of `key`: from its lease when one holds, else by a reservation. */
  take(key: string): HitResult | Promise<HitResult>;
  /** Forgets every lease and refusal (Redis was lost: its counters may be gone when it returns). */
  clear(): void;
  readonly size: number;
}

export function leasedCounter(store: RedisWindowStore, windows: readonly RateWindow[], options: LeaseOptions = {}): LeasedCounter {
  const now = options.now ?? Date.now;
  const maxClients = options.maxClients ?? 100_000;
  const guard = options.guard ?? ((p: Promise<Reservation>) => p);
  const leases = new Map<string, Lease>();
  const oldest = new OldestKeys(leases);
  let nextSweep = 0;

  function sweep(t: number): void {
    if (t < nextSweep) return;
    nextSweep = t + 10_000;
    for (const [key, lease] of leases) if (lease.until <= t && lease.inflight === null) leases.delete(key);
  }

  /** ms a refusal holds: until a request could fit again in every window, LEASE_MAX_MS at most. */
  function refusalLasts(counts: readonly WindowCounts[]): number {
    let wait = 0;
    for (let i = 0; i < windows.length; i++) wait = Math.max(wait, msUntilRoom(windows[i]!, counts[i]!));
    return Math.min(wait, LEASE_MAX_MS);
  }

  /** ms a granted lease holds: to the end of the shortest window's current fixed window, LEASE_MAX_MS at most. */
  function leaseLasts(counts: readonly WindowCounts[]): number {
    let lasts = LEASE_MAX_MS;
    for (let i = 0; i < windows.length; i++) lasts = Math.min(lasts, windows[i]!.ms - counts[i]!.elapsed);
    return lasts;
  }

  /** The counts as they stand at `t` for the request just taken: unspent requests not yet counted, time moved on. */
  function countsNow(lease: Lease, t: number): WindowCounts[] {
    const moved = t - lease.at;
    const counts: WindowCounts[] = new Array<WindowCounts>(lease.counts.length);
    for (let i = 0; i < counts.length; i++) {
      const c = lease.counts[i]!;
      counts[i] = { prev: c.prev, curr: c.curr - lease.left, elapsed: c.elapsed + moved };
    }
    return counts;
  }

  function take(key: string): HitResult | Promise<HitResult> {
    const t = now();
    let lease = leases.get(key);
    if (lease === undefined) {
      sweep(t);
      if (leases.size >= maxClients) oldest.evict();
      lease = { left: 0, counts: [], at: t, until: 0, refused: false, granted: 0, refusedFrom: 0, size: 1, inflight: null };
      leases.set(key, lease);
    } else {
      if (t < lease.until) {
        if (lease.refused) return { allowed: false, counts: countsNow(lease, t) };
        if (lease.left > 0) {
          lease.left--;
          if (lease.inflight === null && lease.granted >= REFILL_MIN_SIZE && lease.left < lease.granted >> 1) refill(lease, key, t);
          return { allowed: true, counts: countsNow(lease, t) };
        }
        if (t < lease.refusedFrom) return { allowed: false, counts: countsNow(lease, t) };
      }
      if (lease.inflight !== null) return lease.inflight.then(() => take(key));
    }
    return reserve(lease, key, t);
  }

  /** The next lease, asked for while this one still has requests left (see the header). */
  function refill(lease: Lease, key: string, t: number): void {
    if (t - lease.at < FAST_MS) lease.size = Math.min(MAX_LEASE, lease.size * 2);
    const pending = guard(store.reserve(key, lease.size));
    lease.inflight = pending;
    // registered before any waiter's, as in reserve(); a failure reaches the requests waiting on
    // it (storeFailed decides), and no further refill is sent until a reservation succeeds
    pending.then(
      function refilled(r) {
        lease.inflight = null;
        const before = now() < lease.until ? lease.left : 0;
        lease.counts = r.counts;
        lease.at = t;
        lease.granted = r.granted;
        if (r.granted === 0) {
          lease.left = before;
          lease.refusedFrom = t + refusalLasts(r.counts);
          if (before === 0) {
            lease.refused = true;
            lease.until = lease.refusedFrom;
          }
          return;
        }
        lease.refusedFrom = 0;
        lease.left = before + r.granted;
        lease.until = t + leaseLasts(r.counts);
      },
      function notRefilled() {
        lease.inflight = null;
        lease.granted = 0;
      },
    );
  }

  function reserve(lease: Lease, key: string, t: number): Promise<HitResult> {
    if (lease.counts.length > 0 && !lease.refused) {
      if (lease.left === 0 && t - lease.at < FAST_MS) lease.size = Math.min(MAX_LEASE, lease.size * 2);
      else if (lease.left > 0) lease.size = Math.max(1, lease.size >> 1);
    }
    const pending = guard(store.reserve(key, lease.size));
    lease.inflight = pending;
    // registered before any waiter's: the lease is updated before they look at it again
    return pending.then(
      function reserved(r): HitResult {
        lease.inflight = null;
        lease.counts = r.counts;
        lease.at = t;
        lease.granted = r.granted;
        lease.refusedFrom = 0;
        if (r.granted === 0) {
          lease.refused = true;
          lease.left = 0;
          lease.until = t + refusalLasts(r.counts);
          return { allowed: false, counts: r.counts };
        }
        lease.refused = false;
        lease.left = r.granted - 1;
        lease.until = t + leaseLasts(r.counts);
        return { allowed: true, counts: countsNow(lease, t) };
      },
      function notReserved(err: unknown): never {
        lease.inflight = null;
        throw err;
      },
    );
  }

  return {
    take,
    clear() {
      leases.clear();
    },
    get size() {
      return leases.size;
    },
  };
}
