// Content-Digest (RFC 9530): a dictionary of algorithm → byte sequence. We know `sha-256`
// and `sha-512`; unknown algorithms are ignored (§2), at least one known one must be
// present, and every known one must match the content as received.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isInnerList, parseDictionary, StructuredFieldError } from './structured-fields.js';

const ALGORITHMS: Readonly<Record<string, string>> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

type DigestCheck = 'ok' | 'mismatch' | 'malformed' | 'unsupported';

export function checkContentDigest(header: string, body: Buffer): DigestCheck {
  let dict;
  try {
    dict = parseDictionary(header);
  } catch (err) {
    if (err instanceof StructuredFieldError) return 'malformed';
    throw err;
  }
  let checked = 0;
  for (const [algorithm, member] of dict) {
    const hash = ALGORITHMS[algorithm];
    if (hash === undefined) continue;
    if (isInnerList(member) || !Buffer.isBuffer(member.value)) return 'malformed';
    const actual = createHash(hash).update(body).digest();
    const claimed = member.value;
    if (claimed.length !== actual.length || !timingSafeEqual(claimed, actual)) return 'mismatch';
    checked++;
  }
  return checked === 0 ? 'unsupported' : 'ok';
}

/** `sha-256=:…:` for a body (what a client sends; tests and docs use it). */
export function contentDigest(body: Buffer | string, algorithm: 'sha-256' | 'sha-512' = 'sha-256'): string {
  return `${algorithm}=:${createHash(ALGORITHMS[algorithm]!).update(body).digest('base64')}:`;
}
