// TOTP (RFC 6238) over HOTP (RFC 4226): what authenticator apps compute. Drawbridge issues
// SHA-1, 6 digits, 30-second steps (the parameters every app supports); the algorithm and
// digit count are parameters so the RFC 6238 Appendix B vectors can be checked.
import { createHmac, randomBytes } from 'node:crypto';
import { safeEqual } from '../../core/crypto-util.js';

export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

interface TotpOptions {
  algorithm?: TotpAlgorithm; // default sha1
  digits?: number; // default 6
  period?: number; // seconds, default 30
}

const TOTP_DIGITS = 6;
export const TOTP_PERIOD = 30;
/** 160 bits, the HMAC-SHA-1 block-size recommendation of RFC 4226 §4. */
const TOTP_SECRET_BYTES = 20;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding (what otpauth:// URIs carry). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Case-insensitive; spaces, dashes and `=` padding are ignored. Throws on other characters. */
export function base32Decode(text: string): Buffer {
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const index = BASE32.indexOf(ch);
    if (index < 0) throw new Error('base32: invalid character');
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** A new TOTP secret: 160 random bits, base32 (32 characters). */
export function generateTotpSecret(): string {
  return base32Encode(randomBytes(TOTP_SECRET_BYTES));
}

/** HOTP (RFC 4226 §5.3): HMAC of the 8-byte counter, dynamic truncation, `digits` decimal digits. */
export function hotp(key: Uint8Array, counter: number, digits = TOTP_DIGITS, algorithm: TotpAlgorithm = 'sha1'): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The time step of `unixSeconds` (RFC 6238 §4.2, T0 = 0). */
export function totpStep(unixSeconds: number, period = TOTP_PERIOD): number {
  return Math.floor(unixSeconds / period);
}

/** The code for `unixSeconds`; `secret` is base32 or raw key bytes. */
export function totp(secret: string | Uint8Array, unixSeconds: number, opts: TotpOptions = {}): string {
  const key = typeof secret === 'string' ? base32Decode(secret) : secret;
  return hotp(key, totpStep(unixSeconds, opts.period), opts.digits, opts.algorithm);
}

interface TotpVerifyOptions extends TotpOptions {
  /** steps accepted either side of now (clock drift, typing time); default 1 (RFC 6238 §5.2) */
  window?: number;
  /** the last step this user already used: it and older steps are refused (replay) */
  lastUsedStep?: number | null;
}

/**
 * Checks `code` against the steps around `unixSeconds`. Returns the matching step (store it
 * as the last used one: UserRepo.useTotpStep) or null. Input may contain spaces.
 */
export function verifyTotp(secret: string | Uint8Array, code: string, unixSeconds: number, opts: TotpVerifyOptions = {}): number | null {
  const digits = opts.digits ?? TOTP_DIGITS;
  const given = code.replace(/\s/g, '');
  if (!new RegExp(`^\\d{${digits}}$`).test(given)) return null;
  const key = typeof secret === 'string' ? base32Decode(secret) : secret;
  const now = totpStep(unixSeconds, opts.period);
  const window = opts.window ?? 1;
  const floor = opts.lastUsedStep ?? -1;
  let matched: number | null = null;
  // Every candidate is computed and compared, so timing does not tell which step matched.
  for (let step = now - window; step <= now + window; step++) {
    if (step < 0) continue;
    const ok = safeEqual(hotp(key, step, digits, opts.algorithm), given);
    if (ok && step > floor && matched === null) matched = step;
  }
  return matched;
}

interface TotpUriParams {
  secret: string; // base32
  account: string; // shown in the app, e.g. the username
  issuer: string; // shown in the app, e.g. the product name
}

/** `otpauth://totp/Issuer:account?secret=…&issuer=…` (the Key Uri Format authenticator apps read). */
export function totpUri(p: TotpUriParams): string {
  const label = `${encodeURIComponent(p.issuer)}:${encodeURIComponent(p.account)}`;
  const query = new URLSearchParams({
    secret: p.secret,
    issuer: p.issuer,
    algorithm: 'SHA1',
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD),
  });
  // URLSearchParams writes spaces as '+', which some apps show literally.
  return `otpauth://totp/${label}?${query.toString().replace(/\+/g, '%20')}`;
}
