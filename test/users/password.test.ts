// User passwords: argon2id at OWASP's parameters, verification, rehash detection, and the
// password policy (minimum length, the bundled common-password list, the username).
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashSync } from '@node-rs/argon2';
import { defaultPasswordPolicy, validateConfig } from '../../src/config/schema.js';
import { COMMON_PASSWORDS } from '../../src/auth/users/common-passwords.js';
import {
  checkPassword,
  generatePassword,
  hashPassword,
  MAX_PASSWORD_LENGTH,
  needsRehash,
  verifyPassword,
} from '../../src/auth/users/password.js';

const POLICY = { min_length: 12, reject_common: true };

describe('hashPassword / verifyPassword', () => {
  it('hashes with argon2id m=19456 t=2 p=1 and a fresh salt each time', async () => {
    const a = await hashPassword('correct horse battery staple');
    const b = await hashPassword('correct horse battery staple');
    assert.match(a, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword(a, 'correct horse battery staple'), true);
    assert.equal(await verifyPassword(a, 'correct horse battery stapler'), false);
    assert.equal(await verifyPassword(a, 'Correct horse battery staple'), false);
  });

  it('normalizes to NFKC, so composed and decomposed forms are the same password', async () => {
    const composed = 'caf\u00e9-au-lait-ohne-zucker';
    const decomposed = 'cafe\u0301-au-lait-ohne-zucker';
    const hash = await hashPassword(composed);
    assert.equal(await verifyPassword(hash, decomposed), true);
  });

  it('says false (never throws) for malformed hashes and over-long input', async () => {
    assert.equal(await verifyPassword('not a hash', 'x'), false);
    assert.equal(await verifyPassword('$argon2id$v=19$m=19456,t=2,p=1$broken', 'x'), false);
    const hash = await hashPassword('correct horse battery staple');
    assert.equal(await verifyPassword(hash, 'a'.repeat(MAX_PASSWORD_LENGTH + 1)), false);
  });

  it('verifies hashes made elsewhere with other parameters', async () => {
    const foreign = hashSync('s3cret-elsewhere', { memoryCost: 4096, timeCost: 3, parallelism: 1 });
    assert.equal(await verifyPassword(foreign, 's3cret-elsewhere'), true);
  });
});

describe('needsRehash', () => {
  it('is false for our parameters and stronger ones, true for weaker ones and other algorithms', async () => {
    assert.equal(needsRehash(await hashPassword('pw-for-rehash-check')), false);
    assert.equal(needsRehash(hashSync('x', { algorithm: 2, memoryCost: 65536, timeCost: 3, parallelism: 4 })), false);
    assert.equal(needsRehash(hashSync('x', { algorithm: 2, memoryCost: 4096, timeCost: 2, parallelism: 1 })), true);
    assert.equal(needsRehash(hashSync('x', { algorithm: 2, memoryCost: 19456, timeCost: 1, parallelism: 1 })), true);
    assert.equal(needsRehash(hashSync('x', { algorithm: 1, memoryCost: 19456, timeCost: 2, parallelism: 1 })), true, 'argon2i');
    assert.equal(needsRehash('$2b$10$abcdefghijklmnopqrstuv'), true, 'bcrypt');
    assert.equal(needsRehash('garbage'), true);
  });
});

describe('checkPassword', () => {
  it('defaults: minimum length 12, common passwords rejected', () => {
    assert.deepEqual(defaultPasswordPolicy(), POLICY);
    const config = validateConfig({ issuer: 'https://id.example', auth: { password_policy: { min_length: 8 } } });
    assert.deepEqual(config.auth?.password_policy, { min_length: 8, reject_common: true });
  });

  it('enforces the minimum length in characters, not bytes', () => {
    assert.deepEqual(checkPassword('short-pw', POLICY), {
      ok: false,
      problem: 'too_short',
      message: 'the password must have at least 12 characters',
    });
    assert.equal(checkPassword('elevenchars', POLICY).ok, false);
    assert.equal(checkPassword('twelve-chars', POLICY).ok, true);
    assert.equal(checkPassword('ÄÖÜäöüßéèêëç', POLICY).ok, true, '12 characters, 24 bytes');
    assert.equal(checkPassword('😀😀😀😀😀😀😀😀😀😀😀', POLICY).ok, false, '11 emoji are 11 characters');
    assert.equal(checkPassword('x'.repeat(MAX_PASSWORD_LENGTH + 1), POLICY).ok, false);
  });

  it('rejects the bundled common passwords case-insensitively, also with digits and symbols around them', () => {
    const lax = { min_length: 1, reject_common: true };
    assert.ok(COMMON_PASSWORDS.length >= 3000, `a few thousand entries, got ${COMMON_PASSWORDS.length}`);
    for (const pw of ['password', 'PASSWORD', 'Password', 'qwertyuiop', 'iloveyou', 'trustno1', 'letmein']) {
      const result = checkPassword(pw, lax);
      assert.equal(result.ok, false, pw);
      assert.equal(!result.ok && result.problem, 'common', pw);
    }
    // long enough for the default policy, but only a common word dressed up
    for (const pw of ['Password123456', '!!!Sunshine2024!!!', 'Baseball-1234567', 'qwertyuiop123']) {
      const result = checkPassword(pw, POLICY);
      assert.equal(!result.ok && result.problem, 'common', pw);
    }
    assert.equal(checkPassword('correct horse battery staple', POLICY).ok, true);
    assert.equal(checkPassword('password', { min_length: 1, reject_common: false }).ok, true, 'list off');
  });

  it('every list entry is lowercase and unique (the lookup relies on it)', () => {
    assert.equal(new Set(COMMON_PASSWORDS).size, COMMON_PASSWORDS.length);
    for (const pw of COMMON_PASSWORDS) assert.equal(pw, pw.normalize('NFKC').toLowerCase());
  });

  it('rejects the username itself (any case, reversed, with digits and symbols around it)', () => {
    for (const pw of ['alexandra.smith', 'ALEXANDRA.SMITH', 'htims.ardnaxela', '2024alexandra.smith!!']) {
      const result = checkPassword(pw, POLICY, 'alexandra.smith');
      assert.equal(!result.ok && result.problem, 'username', pw);
    }
    assert.equal(checkPassword('alexandra.smith is my name', POLICY, 'alexandra.smith').ok, true);
  });
});

describe('generatePassword', () => {
  it('makes random passwords that pass the policy', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const pw = generatePassword();
      assert.match(pw, /^[a-km-zA-HJ-NP-Z2-9]{20}$/);
      assert.equal(checkPassword(pw, POLICY).ok, true);
      seen.add(pw);
    }
    assert.equal(seen.size, 50);
  });
});
