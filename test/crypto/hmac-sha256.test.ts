// HMAC-SHA256 with prepared pads (src/crypto/hmac-sha256.ts) against RFC 4231's test vectors
// and node:crypto's createHmac for keys and messages of every shape.
import * as assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { HmacSha256 } from '../../src/crypto/hmac-sha256.js';

describe('HmacSha256', () => {
  it('RFC 4231 test cases 1, 2, 4 and 6 (HMAC-SHA-256)', () => {
    const cases: Array<[Buffer, Buffer, string]> = [
      [Buffer.alloc(20, 0x0b), Buffer.from('Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
      [Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
      [
        Buffer.from('0102030405060708090a0b0c0d0e0f10111213141516171819', 'hex'),
        Buffer.alloc(50, 0xcd),
        '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
      ],
      // a key longer than the block size is hashed first
      [Buffer.alloc(131, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
    ];
    for (const [key, data, expected] of cases) {
      const h = new HmacSha256(key);
      assert.equal(h.mac(data).toString('hex'), expected);
      assert.ok(h.verify(data, Buffer.from(expected, 'hex')));
    }
  });

  it('equals createHmac for keys of 0–150 bytes and messages up to 5,000 characters, strings as UTF-8', () => {
    for (let keyLength = 0; keyLength <= 150; keyLength += 7) {
      const key = randomBytes(keyLength);
      const h = new HmacSha256(key);
      for (const message of ['', 'a', '"@method": GET\n"@path": /x', 'é€😀 ünïcödé', 'x'.repeat(5_000), randomBytes(300)]) {
        const expected = createHmac('sha256', key).update(message).digest();
        assert.deepEqual(h.mac(message), expected, `key ${keyLength} bytes`);
        assert.ok(h.verify(message, expected));
      }
    }
    // a string key is its UTF-8 bytes, as createHmac takes it
    assert.deepEqual(new HmacSha256('sécret').mac('m'), createHmac('sha256', 'sécret').update('m').digest());
  });

  it('verify refuses a changed byte anywhere, a shorter or longer signature, and another key', () => {
    const key = randomBytes(32);
    const h = new HmacSha256(key);
    const good = createHmac('sha256', key).update('message').digest();
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] ^= 0x01;
      assert.equal(h.verify('message', bad), false, `byte ${i}`);
    }
    assert.equal(h.verify('message', good.subarray(0, 31)), false);
    assert.equal(h.verify('message', Buffer.concat([good, Buffer.alloc(1)])), false);
    assert.equal(new HmacSha256(randomBytes(32)).verify('message', good), false);
    assert.equal(h.verify('messagf', good), false);
  });

  it('one instance gives the same MAC again after other keys and longer messages used the shared scratch', () => {
    const a = new HmacSha256('key-a');
    const b = new HmacSha256('key-b');
    const first = a.mac('short');
    b.mac('y'.repeat(10_000));
    assert.deepEqual(a.mac('short'), first);
  });
});
