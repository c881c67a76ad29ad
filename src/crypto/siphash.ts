// SipHash-2-4 with 128-bit output (Aumasson & Bernstein, "SipHash: a fast short-input PRF",
// 2012; the 128-bit variant of their reference implementation), over the latin1 bytes of a
// string. It is a keyed pseudorandom function built for short inputs, which is what the
// gateway's credential cache needs on every request: a key for the cache that nobody
// without the secret key can compute, invert or collide, cheaper than a call into OpenSSL.
// (In the gateway a one-shot SHA-256 of a short credential measured 3–4 µs of a request's
// CPU, most of it the cold native call; this runs in the JIT's own code.)
//
// JavaScript has no 64-bit integer arithmetic that is fast, so each 64-bit word is a pair of
// 32-bit halves (…h, …l); additions carry from the low half through a float sum.

/**
 * The keyed function for a 16-byte key: the 128-bit SipHash of `input` as 8 UTF-16 code
 * units (a string for a Map key, never for display), or undefined when `input` has a
 * character above U+00FF (it is hashed as latin1 bytes, which only those strings are).
 */
export function sipHash128(key: Uint8Array): (input: string) => string | undefined {
  if (key.length !== 16) throw new Error('SipHash needs a 16-byte key');
  const view = new DataView(key.buffer, key.byteOffset, 16);
  const k0l = view.getInt32(0, true);
  const k0h = view.getInt32(4, true);
  const k1l = view.getInt32(8, true);
  const k1h = view.getInt32(12, true);

  // Everything is in local variables of this one function (closure or object state would
  // cost a memory access per operation). One loop runs every SipRound of the hash, the
  // message words' (c = 2 each) and the finalization's (d = 4 per output half), so the
  // round is written once; what happens between rounds depends on the step.
  return function sipHash(input: string): string | undefined {
    // "somepseudorandomlygeneratedbytes", and 0xee for the 128-bit variant
    let v0l = k0l ^ 0x70736575;
    let v0h = k0h ^ 0x736f6d65;
    let v1l = k1l ^ 0x6e646f6d ^ 0xee;
    let v1h = k1h ^ 0x646f7261;
    let v2l = k0l ^ 0x6e657261;
    let v2h = k0h ^ 0x6c796765;
    let v3l = k1l ^ 0x79746573;
    let v3h = k1h ^ 0x74656462;
    const n = input.length;
    const words = n >>> 3;
    /** rounds over the message: 2 per 64-bit word, the last (partial) word included */
    const messageRounds = 2 * (words + 1);
    const steps = messageRounds + 8;
    let wide = 0; // every char OR-ed: above 0xff means not latin1
    let ml = 0;
    let mh = 0;
    let sum = 0;
    let t = 0;
    let out = '';
    for (let step = 0; step < steps; step++) {
      if (step < messageRounds) {
        if ((step & 1) === 0) {
          // the next word, little-endian; the last one holds the 0–7 bytes left and the length's low byte on top
          const i = step << 2;
          if (i + 8 <= n) {
            const a = input.charCodeAt(i);
            const b = input.charCodeAt(i + 1);
            const c = input.charCodeAt(i + 2);
            const d = input.charCodeAt(i + 3);
            const e = input.charCodeAt(i + 4);
            const f = input.charCodeAt(i + 5);
            const g = input.charCodeAt(i + 6);
            const h = input.charCodeAt(i + 7);
            wide |= a | b | c | d | e | f | g | h;
            ml = a | (b << 8) | (c << 16) | (d << 24);
            mh = e | (f << 8) | (g << 16) | (h << 24);
          } else {
            ml = 0;
            mh = (n & 0xff) << 24;
            for (let j = i; j < n; j++) {
              const c = input.charCodeAt(j);
              wide |= c;
              const k = j - i;
              if (k < 4) ml |= c << (k << 3);
              else mh |= c << ((k - 4) << 3);
            }
          }
          v3l ^= ml;
          v3h ^= mh;
        }
      } else if (step === messageRounds) {
        if (wide > 0xff) return undefined;
        v2l ^= 0xee;
      } else if (step === messageRounds + 4) {
        v1l ^= 0xdd;
      }
      // SipRound
      sum = (v0l >>> 0) + (v1l >>> 0);
      v0l = sum | 0;
      v0h = (v0h + v1h + (sum > 0xffffffff ? 1 : 0)) | 0;
      t = (v1l << 13) | (v1h >>> 19);
      v1h = (v1h << 13) | (v1l >>> 19);
      v1l = t ^ v0l;
      v1h ^= v0h;
      t = v0l;
      v0l = v0h;
      v0h = t;
      sum = (v2l >>> 0) + (v3l >>> 0);
      v2l = sum | 0;
      v2h = (v2h + v3h + (sum > 0xffffffff ? 1 : 0)) | 0;
      t = (v3l << 16) | (v3h >>> 16);
      v3h = (v3h << 16) | (v3l >>> 16);
      v3l = t ^ v2l;
      v3h ^= v2h;
      sum = (v0l >>> 0) + (v3l >>> 0);
      v0l = sum | 0;
      v0h = (v0h + v3h + (sum > 0xffffffff ? 1 : 0)) | 0;
      t = (v3l << 21) | (v3h >>> 11);
      v3h = (v3h << 21) | (v3l >>> 11);
      v3l = t ^ v0l;
      v3h ^= v0h;
      sum = (v2l >>> 0) + (v1l >>> 0);
      v2l = sum | 0;
      v2h = (v2h + v1h + (sum > 0xffffffff ? 1 : 0)) | 0;
      t = (v1l << 17) | (v1h >>> 15);
      v1h = (v1h << 17) | (v1l >>> 15);
      v1l = t ^ v2l;
      v1h ^= v2h;
      t = v2l;
      v2l = v2h;
      v2h = t;
      if (step < messageRounds) {
        if ((step & 1) === 1) {
          v0l ^= ml;
          v0h ^= mh;
        }
      } else if (step === messageRounds + 3 || step === steps - 1) {
        // an output half: v0 ^ v1 ^ v2 ^ v3, as four 16-bit code units
        const lo = v0l ^ v1l ^ v2l ^ v3l;
        const hi = v0h ^ v1h ^ v2h ^ v3h;
        out += String.fromCharCode(lo & 0xffff, lo >>> 16, hi & 0xffff, hi >>> 16);
      }
    }
    return out;
  };
}

/** The 16 output bytes of sipHash128's string (little-endian, as the reference prints them). */
export function sipHashBytes(output: string): Buffer {
  const bytes = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) bytes.writeUInt16LE(output.charCodeAt(i), i * 2);
  return bytes;
}
