// TOTP (RFC 6238): the Appendix B test vectors, HOTP (RFC 4226 Appendix D), base32, the ±1
// step window, replay refusal, secrets and otpauth:// URIs.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  base32Decode,
  base32Encode,
  generateTotpSecret,
  hotp,
  totp,
  totpStep,
  totpUri,
  verifyTotp,
  type TotpAlgorithm,
} from '../../src/auth/mfa/totp.js';

// RFC 6238 Appendix B: the seed is "12345678901234567890" repeated to the hash's length.
const SEEDS: Record<TotpAlgorithm, Buffer> = {
  sha1: Buffer.from('12345678901234567890'),
  sha256: Buffer.from('12345678901234567890123456789012'),
  sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
};

const VECTORS: Array<[time: number, step: string, sha1: string, sha256: string, sha512: string]> = [
  [59, '0000000000000001', '94287082', '46119246', '90693936'],
  [1111111109, '00000000023523EC', '07081804', '68084774', '25091201'],
  [1111111111, '00000000023523ED', '14050471', '67062674', '99943326'],
  [1234567890, '000000000273EF07', '89005924', '91819424', '93441116'],
  [2000000000, '0000000003F940AA', '69279037', '90698825', '38618901'],
  [20000000000, '0000000027BC86AA', '65353130', '77737706', '47863826'],
];

describe('RFC 6238 Appendix B test vectors', () => {
  for (const [time, step, sha1, sha256, sha512] of VECTORS) {
    it(`T = ${time}`, () => {
      assert.equal(totpStep(time), parseInt(step, 16));
      assert.equal(totp(SEEDS.sha1, time, { digits: 8, algorithm: 'sha1' }), sha1);
      assert.equal(totp(SEEDS.sha256, time, { digits: 8, algorithm: 'sha256' }), sha256);
      assert.equal(totp(SEEDS.sha512, time, { digits: 8, algorithm: 'sha512' }), sha512);
      // the 6-digit code apps show is the last six digits
      assert.equal(totp(SEEDS.sha1, time), sha1.slice(2));
    });
  }
});

describe('HOTP (RFC 4226 Appendix D)', () => {
  it('matches the ten published values', () => {
    const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
    assert.deepEqual(expected.map((_, counter) => hotp(SEEDS.sha1, counter)), expected);
  });
});

describe('base32', () => {
  it('round-trips and matches RFC 4648 §10 (without padding)', () => {
    const cases: Array<[string, string]> = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of cases) {
      assert.equal(base32Encode(Buffer.from(plain)), encoded);
      assert.equal(base32Decode(encoded).toString(), plain);
    }
    assert.equal(base32Decode('mzxw 6ytb-oi======').toString(), 'foobar', 'case, spaces, dashes and padding ignored');
    assert.throws(() => base32Decode('MZXW1'), /invalid character/);
  });

  it('encodes the RFC seed as authenticator apps expect', () => {
    assert.equal(base32Encode(SEEDS.sha1), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    assert.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59), '287082');
  });
});

describe('generateTotpSecret', () => {
  it('is 160 random bits in base32 (32 characters)', () => {
    const a = generateTotpSecret();
    assert.match(a, /^[A-Z2-7]{32}$/);
    assert.equal(base32Decode(a).length, 20);
    assert.notEqual(a, generateTotpSecret());
  });
});

describe('verifyTotp', () => {
  const secret = generateTotpSecret();
  const now = 1_700_000_015; // mid-step
  const step = totpStep(now);

  it('accepts the current code and one step either side; returns the step that matched', () => {
    assert.equal(verifyTotp(secret, totp(secret, now), now), step);
    assert.equal(verifyTotp(secret, totp(secret, now - 30), now), step - 1);
    assert.equal(verifyTotp(secret, totp(secret, now + 30), now), step + 1);
    assert.equal(verifyTotp(secret, totp(secret, now - 60), now), null, 'two steps old');
    assert.equal(verifyTotp(secret, totp(secret, now + 60), now), null, 'two steps ahead');
    assert.equal(verifyTotp(secret, totp(secret, now - 60), now, { window: 2 }), step - 2);
  });

  it('refuses a step already used (replay) and older ones', () => {
    const code = totp(secret, now);
    assert.equal(verifyTotp(secret, code, now, { lastUsedStep: step }), null);
    assert.equal(verifyTotp(secret, totp(secret, now - 30), now, { lastUsedStep: step }), null, 'older than the last used');
    assert.equal(verifyTotp(secret, totp(secret, now + 30), now, { lastUsedStep: step }), step + 1);
    assert.equal(verifyTotp(secret, code, now, { lastUsedStep: step - 1 }), step);
  });

  it('accepts spaces, rejects anything but six digits', () => {
    const code = totp(secret, now);
    assert.equal(verifyTotp(secret, `${code.slice(0, 3)} ${code.slice(3)}`, now), step);
    for (const bad of ['', '12345', '1234567', 'abcdef', `${code}0`, ` ${code.slice(1)}x`]) {
      assert.equal(verifyTotp(secret, bad, now), null, JSON.stringify(bad));
    }
    assert.equal(verifyTotp(generateTotpSecret(), code, now), null, 'another secret');
  });
});

describe('totpUri', () => {
  it('writes the Key Uri Format with issuer label and parameter', () => {
    const uri = totpUri({ secret: 'JBSWY3DPEHPK3PXP', account: 'alice@example.com', issuer: 'Acme Corp' });
    assert.equal(
      uri,
      'otpauth://totp/Acme%20Corp:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30',
    );
    const parsed = new URL(uri);
    assert.equal(parsed.protocol, 'otpauth:');
    assert.equal(parsed.searchParams.get('secret'), 'JBSWY3DPEHPK3PXP');
    assert.equal(parsed.searchParams.get('issuer'), 'Acme Corp');
  });
});
