// The gateway's memo of session store ids (src/gateway/authn/session.ts SessionIds): the
// same id as sessions/cookie.ts sessionIdOf, for every value, remembered or not.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionIds } from '../../src/gateway/authn/session.js';
import { newSessionCookieValue, sessionIdOf } from '../../src/sessions/cookie.js';

describe('SessionIds', () => {
  it('gives the store id of each cookie value, first time and remembered', () => {
    const ids = new SessionIds('s'.repeat(40));
    const values = Array.from({ length: 50 }, () => newSessionCookieValue());
    for (let round = 0; round < 2; round++) {
      for (const value of values) assert.equal(ids.idOf(value), sessionIdOf(value));
    }
    // values that differ in one character get their own ids
    const value = values[0]!;
    const other = (value[0] === 'A' ? 'B' : 'A') + value.slice(1);
    assert.equal(ids.idOf(other), sessionIdOf(other));
    assert.notEqual(ids.idOf(other), ids.idOf(value));
  });

  it('stays correct past its bound (oldest values forgotten, then recomputed)', () => {
    const ids = new SessionIds('t'.repeat(40));
    const values = Array.from({ length: 10_050 }, (_, i) => `value-${i}`);
    for (const value of values) ids.idOf(value);
    for (const value of [values[0]!, values[10_049]!, values[5_000]!]) assert.equal(ids.idOf(value), sessionIdOf(value));
  });

  it('a value with a character above U+00FF still gets its id (hashed directly)', () => {
    const ids = new SessionIds('u'.repeat(40));
    assert.equal(ids.idOf('caf€'), sessionIdOf('caf€'));
  });
});
