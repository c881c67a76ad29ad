// Recovery codes: ten, 80 bits each, stored as digests, forgiving input, single use.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  generateRecoveryCodes,
  looksLikeRecoveryCode,
  normalizeRecoveryCode,
  recoveryCodeDigest,
} from '../../src/auth/mfa/recovery-codes.js';
import { openStorage } from '../../src/storage/open.js';

describe('recovery codes', () => {
  it('ten distinct codes of 16 Crockford base32 characters in groups of four', () => {
    const codes = generateRecoveryCodes();
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const code of codes) assert.match(code, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/);
  });

  it('normalizes what people type: case, spaces, dashes, o/0 and i/l/1', () => {
    assert.equal(normalizeRecoveryCode('7M3K-Q9ZD H2XW-A5NC'), '7m3kq9zdh2xwa5nc');
    assert.equal(normalizeRecoveryCode('o1il-aaaa-bbbb-cccc'), '0111aaaabbbbcccc');
    assert.equal(normalizeRecoveryCode('123456'), undefined, 'a TOTP code is not a recovery code');
    assert.equal(normalizeRecoveryCode('uuuu-aaaa-bbbb-cccc'), undefined, 'u is not in the alphabet');
    assert.equal(looksLikeRecoveryCode('7m3k-q9zd-h2xw-a5nc'), true);
    assert.equal(looksLikeRecoveryCode('654321'), false);
  });

  it('stores a SHA-256 digest (hex), the same for every spelling of a code, never the code', () => {
    const [code] = generateRecoveryCodes(1);
    const digest = recoveryCodeDigest(code!)!;
    assert.match(digest, /^[0-9a-f]{64}$/);
    assert.equal(recoveryCodeDigest(code!.toUpperCase().replace(/-/g, ' ')), digest);
    assert.ok(!digest.includes(code!.replace(/-/g, '')));
    assert.equal(recoveryCodeDigest('nope'), undefined);
  });

  it('each code works once (storage deletes it atomically)', async () => {
    const storage = await openStorage('memory:');
    try {
      await storage.users.upsert({
        id: 'u1',
        username: 'alice',
        password_hash: null,
        claims: {},
        locked: false,
        source: 'cli',
        created_at: 1,
        updated_at: 1,
      });
      const codes = generateRecoveryCodes();
      await storage.users.setRecoveryCodes('u1', codes.map((c) => recoveryCodeDigest(c)!), 1);
      await storage.users.setMfaRequired('u1', true, 1);
      assert.equal((await storage.users.getMfa('u1'))?.recovery_codes_left, 10);
      const digest = recoveryCodeDigest(codes[3]!)!;
      const results = await Promise.all([1, 2, 3].map(() => storage.users.useRecoveryCode('u1', digest)));
      assert.deepEqual(results.sort(), [false, false, true]);
      assert.equal(await storage.users.useRecoveryCode('u1', digest), false);
      assert.equal((await storage.users.getMfa('u1'))?.recovery_codes_left, 9);
    } finally {
      await storage.close();
    }
  });
});
