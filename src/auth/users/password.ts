// User passwords: argon2id at OWASP's parameters, and the password policy.
// Passwords are NFKC-normalized before hashing (NIST SP 800-63B §5.1.1.2), so the same
// visible password typed on different systems hashes the same; ASCII is unchanged.
import { hash as argon2Hash, parseOptions, verify as argon2Verify, type Options as Argon2Options } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import type { PasswordPolicyConfig } from '../../config/types.js';
import { COMMON_PASSWORDS } from './common-passwords.js';

/** OWASP Password Storage Cheat Sheet: argon2id, m=19456 KiB, t=2, p=1. */
const ARGON2ID_PARAMS = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

// `Algorithm` is an ambient const enum, which verbatimModuleSyntax cannot read: 2 = Argon2id.
const ARGON2ID = 2 as NonNullable<Argon2Options['algorithm']>;
const ARGON2_V13 = 1 as NonNullable<Argon2Options['version']>;
const HASH_OPTIONS: Argon2Options = { algorithm: ARGON2ID, version: ARGON2_V13, ...ARGON2ID_PARAMS };

/** Longer input is refused before hashing: no one types it, and it bounds the work per request. */
export const MAX_PASSWORD_LENGTH = 1024;

function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/** argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of the normalized password. */
export function hashPassword(password: string): Promise<string> {
  return argon2Hash(normalizePassword(password), HASH_OPTIONS);
}

/** true when `hash` (any argon2 PHC string) verifies `password`; false for a malformed hash. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (password.length > MAX_PASSWORD_LENGTH) return false;
  try {
    return await argon2Verify(hash, normalizePassword(password));
  } catch {
    return false;
  }
}

/**
 * true when `hash` should be replaced by a fresh hashPassword() at the next successful login:
 * not argon2id v1.3, or weaker than OWASP's parameters. Stronger parameters are kept.
 */
export function needsRehash(hash: string): boolean {
  try {
    const o = parseOptions(hash);
    return (
      o.algorithm !== ARGON2ID ||
      o.version !== ARGON2_V13 ||
      o.memoryCost < ARGON2ID_PARAMS.memoryCost ||
      o.timeCost < ARGON2ID_PARAMS.timeCost ||
      o.outputLen < 32 ||
      o.saltLen < 16
    );
  } catch {
    return true;
  }
}

type PasswordProblem = 'too_short' | 'too_long' | 'common' | 'username';

type PasswordCheck = { ok: true } | { ok: false; problem: PasswordProblem; message: string };

let commonSet: ReadonlySet<string> | undefined;

function isCommon(candidate: string): boolean {
  commonSet ??= new Set(COMMON_PASSWORDS);
  return commonSet.has(candidate);
}

/**
 * The forms of a password compared with the common list and the username: lowercased, and
 * also without leading/trailing digits and symbols, so `Password123!` and `!!alice2024`
 * count as `password` and `alice`.
 */
function candidates(password: string): string[] {
  const lower = password.toLowerCase();
  const affix = /^[^\p{L}]+|[^\p{L}]+$/gu; // everything but letters
  const core = lower.replace(affix, '');
  return core !== '' && core !== lower ? [lower, core] : [lower];
}

/** Length in characters as people count them (code points of the normalized form). */
function lengthOf(password: string): number {
  return [...password].length;
}

/**
 * Checks a new password against the policy: at least `min_length` characters (at most
 * MAX_PASSWORD_LENGTH), not one of the bundled common passwords (`reject_common`, case-
 * insensitive, also with digits and symbols stripped from both ends), not the username.
 */
export function checkPassword(password: string, policy: PasswordPolicyConfig, username?: string): PasswordCheck {
  const normalized = normalizePassword(password);
  const length = lengthOf(normalized);
  if (length < policy.min_length) {
    return { ok: false, problem: 'too_short', message: `the password must have at least ${policy.min_length} characters` };
  }
  if (length > MAX_PASSWORD_LENGTH) {
    return { ok: false, problem: 'too_long', message: `the password must have at most ${MAX_PASSWORD_LENGTH} characters` };
  }
  const forms = candidates(normalized);
  if (username !== undefined && username !== '') {
    const name = normalizePassword(username).toLowerCase();
    if (forms.includes(name) || forms.includes([...name].reverse().join(''))) {
      return { ok: false, problem: 'username', message: 'the password must not be the username' };
    }
  }
  if (policy.reject_common && forms.some(isCommon)) {
    return { ok: false, problem: 'common', message: 'the password is too common; choose another' };
  }
  return { ok: true };
}

// No look-alikes (0/O, 1/l/I), so a generated password can be read aloud or typed from paper.
const GENERATED_ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A random password (default 20 characters ≈ 116 bits), e.g. for `drawbridge user create` without one. */
export function generatePassword(length = 20): string {
  const out: string[] = [];
  // Rejection sampling keeps every character equally likely.
  const limit = 256 - (256 % GENERATED_ALPHABET.length);
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit && out.length < length) out.push(GENERATED_ALPHABET[byte % GENERATED_ALPHABET.length]!);
    }
  }
  return out.join('');
}
