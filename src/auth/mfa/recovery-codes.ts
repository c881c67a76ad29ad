// Recovery codes: one-time codes a user writes down for when the authenticator is lost.
// 80 random bits each, so a plain SHA-256 digest is enough to store them (no slow hash
// needed: guessing 2^80 inputs is out of reach); a used code's row is deleted.
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../../core/crypto-util.js';

const RECOVERY_CODE_COUNT = 10;

// Crockford's base32: no i, l, o, u, so codes survive being read aloud or copied by hand.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const CODE_CHARS = 16; // 16 × 5 bits = 80 bits

/** `count` new codes like `7m3k-q9zd-h2xw-a5nc`; show them once, store recoveryCodeDigest() of each. */
export function generateRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    const chars = [...randomBytes(CODE_CHARS)].map((byte) => ALPHABET[byte & 31]!).join('');
    return chars.match(/.{4}/g)!.join('-');
  });
}

/**
 * The canonical form of what a user typed: lowercase, without spaces and dashes, with the
 * look-alikes Crockford maps (o → 0, i and l → 1). undefined when it cannot be a code.
 */
export function normalizeRecoveryCode(input: string): string | undefined {
  const text = input
    .toLowerCase()
    .replace(/[\s-]/g, '')
    .replace(/o/g, '0')
    .replace(/[il]/g, '1');
  return text.length === CODE_CHARS && [...text].every((ch) => ALPHABET.includes(ch)) ? text : undefined;
}

/** Hex SHA-256 of the normalized code: what storage keeps. undefined for input that is no code. */
export function recoveryCodeDigest(input: string): string | undefined {
  const code = normalizeRecoveryCode(input);
  return code === undefined ? undefined : sha256Hex(`drawbridge-recovery-code:${code}`);
}

/** true when the input has the shape of a recovery code (so a login form can tell it from a TOTP code) */
export function looksLikeRecoveryCode(input: string): boolean {
  return normalizeRecoveryCode(input) !== undefined;
}
