// Credential ids are UUIDv7 so that lists ordered by (created_at, id) keep creation order.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { timeOrderedId } from '../../src/core/crypto-util.js';

describe('timeOrderedId', () => {
  it('is a version-7 RFC 9562 UUID', () => {
    assert.match(timeOrderedId(), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('sorts by creation time, whatever the random part', () => {
    const ids = [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_999, 1_700_000_001_000].map((t) => timeOrderedId(t));
    for (let i = 0; i < 20; i++) {
      const again = [...ids].reverse().sort();
      assert.deepEqual(again, ids);
    }
  });

  it('carries the millisecond timestamp in its first 48 bits', () => {
    const id = timeOrderedId(0x0123456789ab);
    assert.equal(id.slice(0, 13), '01234567-89ab');
  });
});
