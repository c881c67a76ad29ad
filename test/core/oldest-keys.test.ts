// OldestKeys: the cursor that evicts a bounded Map's oldest key. Checked against a plain
// list model over a long random run (inserts, LRU re-inserts, deletes elsewhere, clears).
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OldestKeys } from '../../src/core/oldest-keys.js';

describe('OldestKeys', () => {
  it('evicts in insertion order, a re-inserted key counting as new, and undefined when empty', () => {
    const map = new Map<string, number>([['a', 1], ['b', 2], ['c', 3]]);
    const oldest = new OldestKeys(map);
    assert.equal(oldest.evict(), 'a');
    map.delete('b');
    map.set('b', 4); // touched: now the newest
    assert.equal(oldest.evict(), 'c');
    assert.equal(oldest.evict(), 'b');
    assert.equal(oldest.evict(), undefined);
    map.set('d', 5);
    assert.equal(oldest.evict(), 'd');
    assert.equal(map.size, 0);
  });

  it('agrees with a list model over 50,000 random operations at a bound', () => {
    const map = new Map<number, true>();
    const oldest = new OldestKeys(map);
    const model: number[] = [];
    const bound = 500;
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let step = 0; step < 50_000; step++) {
      const op = random(100);
      const key = random(2_000);
      if (op < 70) {
        // insert or touch (LRU), then keep the bound
        map.delete(key);
        map.set(key, true);
        const at = model.indexOf(key);
        if (at !== -1) model.splice(at, 1);
        model.push(key);
        if (map.size > bound) assert.equal(oldest.evict(), model.shift(), `step ${step}`);
      } else if (op < 98) {
        map.delete(key);
        const at = model.indexOf(key);
        if (at !== -1) model.splice(at, 1);
      } else if (op < 99) {
        assert.equal(oldest.evict(), model.shift(), `step ${step}`);
      } else {
        map.clear();
        model.length = 0;
      }
      assert.equal(map.size, model.length);
    }
    assert.deepEqual([...map.keys()], model);
  });
});
