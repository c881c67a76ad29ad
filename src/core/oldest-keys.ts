// Bounded Maps evict their oldest key (insertion order; an LRU re-inserts on use). The
// obvious `map.keys().next()` is slow exactly when it matters: V8 leaves a deleted entry in
// place until the table is rebuilt, and a fresh iterator starts at the front and steps over
// every one of them — at a bound of 100,000 with one eviction per insert that is tens of
// thousands of steps (60–250 µs) per call. A cursor that lives as long as the Map and only
// moves forward steps over each deleted entry once.
//
// It is only correct when every key the cursor passes is deleted, which evict() does itself;
// keys deleted or re-inserted elsewhere are fine (a re-inserted key is a new entry at the
// end). Should the cursor run dry (after clear()), a fresh one takes over.
export class OldestKeys<K> {
  readonly #map: Map<K, unknown>;
  #cursor: Iterator<K>;

  constructor(map: Map<K, unknown>) {
    this.#map = map;
    this.#cursor = map.keys();
  }

  /** Deletes the oldest key of the Map and returns it (undefined when the Map is empty). */
  evict(): K | undefined {
    const key = this.take();
    if (key !== undefined) this.#map.delete(key);
    return key;
  }

  /**
   * The oldest key, which the caller MUST delete now (it may set it again at once: a key set
   * again is a new entry at the newest end). For evictions that look at an entry first.
   */
  take(): K | undefined {
    let next = this.#cursor.next();
    if (next.done === true) {
      this.#cursor = this.#map.keys();
      next = this.#cursor.next();
      if (next.done === true) return undefined;
    }
    return next.value;
  }
}
