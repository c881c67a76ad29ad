// HMAC-SHA256 (RFC 2104) for one key used over and over: the key's inner and outer pads are
// made once, and each MAC is two one-shot SHA-256 calls (node:crypto's hash()). The gateway's
// hmac-auth verifies one signature per request with the consumer's cached key; createHmac
// builds an Hmac object and imports the key every time, the largest single cost of an
// hmac-auth request after the socket writes.
import { hash } from 'node:crypto';

/** SHA-256's block size: keys are padded (or first hashed) to it. */
const BLOCK = 64;
const DIGEST = 32;

/** Shared scratch for `ipad ‖ message`: MACs are computed synchronously, one at a time. */
let scratch = Buffer.alloc(BLOCK + 1024);

export class HmacSha256 {
  /** K ⊕ ipad */
  readonly #ipad: Buffer;
  /** K ⊕ opad, then room for the inner digest */
  readonly #outer: Buffer;

  constructor(key: Buffer | string) {
    let k = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
    if (k.length > BLOCK) k = Buffer.from(hash('sha256', k, 'binary'), 'latin1');
    this.#ipad = Buffer.alloc(BLOCK);
    this.#outer = Buffer.alloc(BLOCK + DIGEST);
    for (let i = 0; i < BLOCK; i++) {
      const b = i < k.length ? k[i]! : 0;
      this.#ipad[i] = b ^ 0x36;
      this.#outer[i] = b ^ 0x5c;
    }
  }

  /**
   * HMAC-SHA256 of `message` (a string is taken as UTF-8, as createHmac's update takes it), as
   * a 32-character latin1 string: one char per byte. (A digest as a Buffer costs hash() twice
   * as much as one as a string.)
   */
  macLatin1(message: string | Buffer): string {
    const room = BLOCK + (typeof message === 'string' ? message.length * 3 : message.length);
    if (scratch.length < room) scratch = Buffer.alloc(Math.max(room, scratch.length * 2));
    this.#ipad.copy(scratch, 0);
    const n = typeof message === 'string' ? scratch.write(message, BLOCK, 'utf8') : message.copy(scratch, BLOCK);
    this.#outer.write(hash('sha256', scratch.subarray(0, BLOCK + n), 'binary'), BLOCK, 'latin1');
    return hash('sha256', this.#outer, 'binary');
  }

  mac(message: string | Buffer): Buffer {
    return Buffer.from(this.macLatin1(message), 'latin1');
  }

  /** Whether `signature` is the MAC of `message`: every byte compared, whatever differs (the length is public). */
  verify(message: string | Buffer, signature: Uint8Array): boolean {
    if (signature.length !== DIGEST) return false;
    const expected = this.macLatin1(message);
    let diff = 0;
    for (let i = 0; i < DIGEST; i++) diff |= expected.charCodeAt(i) ^ signature[i]!;
    return diff === 0;
  }
}
