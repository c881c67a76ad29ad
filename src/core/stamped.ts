// Values read from storage and kept in process between requests, with one staleness rule:
// an entry is used while its TTL lasts (the bound for changes this process cannot notice,
// e.g. another instance's on PostgreSQL) and while storage's change stamp is still the one
// read before the value was (a change this process can notice makes it stale at once).
// Concurrent reads of one key under one stamp share a single query.
//
// The client cache (auth/clients.ts, one entry per client_id) and the CORS allowed origins
// (auth/cors.ts, one set built from every client) both keep clients this way; having the
// rule once keeps their staleness identical.

export interface StampOptions {
  /** how long an entry is used without reading storage again, in ms: the staleness bound */
  ttlMs: number;
  /**
   * Changes whenever the stored data may have changed (e.g. storage's clientsChangeStamp): an
   * entry read under an older stamp is read again. Without it only the TTL bounds staleness.
   */
  changeStamp?: () => number;
  nowMs?: () => number;
}

/** A value with the stamp it was read under and the time it expires. */
export interface Stamped<V> {
  readonly value: V;
  readonly stamp: number;
  readonly expiresAt: number;
}

/** The staleness rule and the shared in-flight reads; where entries are kept is the caller's. */
export class StampedLoads<K, V> {
  readonly #ttlMs: number;
  readonly #stamp: () => number;
  readonly #nowMs: () => number;
  /** reads under way, shared by concurrent callers for the same key and stamp */
  readonly #loading = new Map<K, { stamp: number; promise: Promise<V> }>();

  constructor(opts: StampOptions) {
    this.#ttlMs = opts.ttlMs;
    this.#stamp = opts.changeStamp ?? (() => 0);
    this.#nowMs = opts.nowMs ?? Date.now;
  }

  /** Whether the entry may be used now: within its TTL and read under the current stamp. */
  isFresh(entry: Stamped<V> | undefined): entry is Stamped<V> {
    return entry !== undefined && entry.expiresAt > this.#nowMs() && entry.stamp === this.#stamp();
  }

  /**
   * Reads the value of `key`, gives it to `keep` as a stamped entry, and resolves to it. A read
   * of the same key under the same stamp already under way is joined instead. A failed read
   * keeps nothing (the error reaches every caller that joined it).
   */
  load(key: K, read: () => Promise<V>, keep: (entry: Stamped<V>) => void): Promise<V> {
    // the stamp is read before the query: a change committed meanwhile makes the entry stale
    const stamp = this.#stamp();
    const pending = this.#loading.get(key);
    if (pending !== undefined && pending.stamp === stamp) return pending.promise;
    const promise = this.#read(key, stamp, read, keep);
    this.#loading.set(key, { stamp, promise });
    return promise;
  }

  async #read(key: K, stamp: number, read: () => Promise<V>, keep: (entry: Stamped<V>) => void): Promise<V> {
    try {
      const value = await read();
      keep({ value, stamp, expiresAt: this.#nowMs() + this.#ttlMs });
      return value;
    } finally {
      // a read under a newer stamp may have replaced this one: leave that one in place
      if (this.#loading.get(key)?.stamp === stamp) this.#loading.delete(key);
    }
  }
}

/** One value kept by the same rule, e.g. a set built from a whole table. */
export class StampedSnapshot<V> {
  readonly #loads: StampedLoads<null, V>;
  readonly #read: () => Promise<V>;
  #entry: Stamped<V> | undefined;

  constructor(read: () => Promise<V>, opts: StampOptions) {
    this.#loads = new StampedLoads(opts);
    this.#read = read;
  }

  /** The value without waiting, or undefined when it must be read (first use, or stale). */
  peek(): V | undefined {
    return this.#loads.isFresh(this.#entry) ? this.#entry.value : undefined;
  }

  /** The fresh value, read again first when stale. */
  async get(): Promise<V> {
    const entry = this.#entry;
    if (this.#loads.isFresh(entry)) return entry.value;
    return this.#loads.load(null, this.#read, (e) => {
      this.#entry = e;
    });
  }
}
