// Encryption at rest (src/crypto/seal.ts): AES-256-GCM under an HKDF-derived key.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deriveKey, seal, unseal } from '../../src/crypto/seal.js';

const SECRET = 'seal-tests-master-secret-0123456789abcdef';
const WRONG = { message: 'cannot decrypt: the master secret differs from the one this value was sealed with' };

describe('seal / unseal', () => {
  const key = deriveKey(SECRET, 'signing-key-encryption');

  it('round-trips, including non-ASCII and empty plaintexts', () => {
    for (const text of ['-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n', 'héllo ✓ 🔑', '']) {
      assert.equal(unseal(key, seal(key, text, 'kid-1'), 'kid-1'), text);
    }
    assert.equal(unseal(key, seal(key, 'no aad')), 'no aad');
  });

  it('the sealed form is versioned, does not contain the plaintext, and differs every time (random IV)', () => {
    const a = seal(key, 'private-key-material', 'kid');
    const b = seal(key, 'private-key-material', 'kid');
    assert.notEqual(a, b);
    assert.match(a, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    assert.ok(!a.includes('private-key-material'));
    assert.ok(!Buffer.from(a).includes(Buffer.from('private-key-material')));
  });

  it('keys are 32 bytes, deterministic per (secret, purpose), distinct across purposes and secrets', () => {
    assert.equal(key.length, 32);
    assert.deepEqual(deriveKey(SECRET, 'signing-key-encryption'), key);
    assert.notDeepEqual(deriveKey(SECRET, 'cookies'), key);
    assert.notDeepEqual(deriveKey(`${SECRET}x`, 'signing-key-encryption'), key);
  });

  it('a different master secret fails with a clear message', () => {
    const sealed = seal(key, 'secret stuff', 'kid');
    const other = deriveKey('another-master-secret-0123456789abcdef', 'signing-key-encryption');
    assert.throws(() => unseal(other, sealed, 'kid'), WRONG);
  });

  it('a key for another purpose fails the same way', () => {
    const sealed = seal(key, 'secret stuff', 'kid');
    assert.throws(() => unseal(deriveKey(SECRET, 'cookies'), sealed, 'kid'), WRONG);
  });

  it('the associated data binds the value to its row: another kid fails', () => {
    const sealed = seal(key, 'secret stuff', 'kid-a');
    assert.throws(() => unseal(key, sealed, 'kid-b'), WRONG);
    assert.throws(() => unseal(key, sealed), WRONG);
  });

  it('tampering with ciphertext, IV or tag is detected', () => {
    const sealed = seal(key, 'secret stuff', 'kid');
    const parts = sealed.split('.');
    for (const i of [1, 2, 3]) {
      const bytes = Buffer.from(parts[i]!, 'base64url');
      bytes[0] ^= 1;
      const forged = parts.map((p, j) => (j === i ? bytes.toString('base64url') : p)).join('.');
      assert.throws(() => unseal(key, forged, 'kid'), (err: unknown) => err instanceof Error && !/secret stuff/.test(err.message));
    }
  });

  it('unknown formats are refused with their own message', () => {
    for (const bad of ['', 'v1', 'v1.a.b', 'v2.a.b.c', 'v1.a.b.c.d', 'plain text']) {
      assert.throws(() => unseal(key, bad), { message: 'sealed value has an unknown format' });
    }
  });
});
