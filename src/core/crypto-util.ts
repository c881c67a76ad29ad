// Small primitives used everywhere: random values, digests, constant-time comparison.
import { createHash, hash, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

// Random bytes for tokens come from a pool refilled by the CSPRNG 4 KB at a time (as Node's
// own randomUUID does): one randomBytes() call per token cost more than the rest of making
// it. Every byte is handed out once, so each token still carries `bytes` fresh random bytes.
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** `bytes` random bytes, base64url (32 bytes = 256 bits → 43 chars). */
export function randomToken(bytes = 32): string {
  if (bytes > POOL_SIZE) return randomBytes(bytes).toString('base64url');
  if (poolOffset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const token = pool.toString('base64url', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return token;
}

// The digests below use crypto.hash(), the one-shot form (Node ≥ 20.12): no Hash object per
// call, which halves the cost of hashing a short string (twice per token request).

/** SHA-256 digest as bytes. */
export function sha256(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}

export function sha256Base64url(value: string): string {
  return hash('sha256', value, 'base64url');
}

export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
}

/**
 * Constant-time string equality. Both sides are hashed first so neither the
 * content nor the length of the secret leaks through timing.
 */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * A UUIDv7 (RFC 9562): 48-bit millisecond timestamp, then random bits. Ids made later
 * sort later, so lists ordered by (created_at, id) keep creation order even within the
 * one-second resolution of created_at.
 */
export function timeOrderedId(now = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70; // version 7
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
