// Our synchronous signJwt/verifyJwt (src/crypto/jwt.ts) against jose, both directions, for
// every signing algorithm; and what verifyJwt must refuse.
import * as assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, createHmac, sign as cryptoSign } from 'node:crypto';
import { describe, it } from 'node:test';
import * as jose from 'jose';
import type { SigningAlg } from '../../src/config/types.js';
import { generateSigningKey, jwkThumbprint } from '../../src/crypto/generate.js';
import { decodeJwt, publicKeyFromJwk, signJwt, verifyJwt, type SigningKey } from '../../src/crypto/jwt.js';

const ALGS: SigningAlg[] = ['ES256', 'RS256', 'EdDSA'];

function makeKey(alg: SigningAlg): SigningKey {
  const g = generateSigningKey(alg);
  const privateKey = createPrivateKey(g.privatePem);
  return { kid: g.kid, alg, privateKey, publicKey: createPublicKey(privateKey), publicJwk: g.publicJwk };
}

const keys = Object.fromEntries(ALGS.map((alg) => [alg, makeKey(alg)])) as Record<SigningAlg, SigningKey>;
const ring = (...ks: SigningKey[]) => new Map(ks.map((k) => [k.kid, k]));
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

const PAYLOAD = { iss: 'https://issuer.example', sub: 'svc', aud: 'orders', iat: 1_700_000_000, exp: 4_000_000_000, jti: 'j-1', scope: 'a b' };

describe('signJwt / verifyJwt cross-checked with jose', () => {
  for (const alg of ALGS) {
    describe(alg, () => {
      const key = keys[alg];

      it('the generated key: kid is the RFC 7638 thumbprint, JWK public only', async () => {
        assert.equal(key.kid, await jose.calculateJwkThumbprint(key.publicJwk as jose.JWK));
        assert.equal(key.kid, jwkThumbprint(key.publicJwk));
        assert.equal(key.publicJwk.alg, alg);
        assert.equal(key.publicJwk.use, 'sig');
        assert.equal(key.publicJwk.d, undefined);
        assert.equal(key.publicJwk.p, undefined);
      });

      it('ours → jose: jose verifies what we sign, header and payload intact', async () => {
        const token = signJwt(key, PAYLOAD, 'at+jwt');
        const jwks = jose.createLocalJWKSet({ keys: [key.publicJwk as jose.JWK] });
        const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
          typ: 'at+jwt',
          algorithms: [alg],
          currentDate: new Date(1_700_000_100_000),
        });
        assert.deepEqual(protectedHeader, { alg, typ: 'at+jwt', kid: key.kid });
        assert.deepEqual(payload, PAYLOAD);
      });

      it('the default typ is JWT', async () => {
        const token = signJwt(key, { a: 1 });
        assert.deepEqual(jose.decodeProtectedHeader(token), { alg, typ: 'JWT', kid: key.kid });
      });

      it('jose → ours: we verify what jose signs', async () => {
        const token = await new jose.SignJWT(PAYLOAD).setProtectedHeader({ alg, kid: key.kid, typ: 'at+jwt' }).sign(key.privateKey);
        const verified = verifyJwt(token, ring(key));
        assert.ok(verified, 'jose-signed token rejected');
        assert.deepEqual(verified.payload, PAYLOAD);
        assert.equal(verified.header.kid, key.kid);
      });

      it('jose verifies through the JWK the keyring would publish (publicKeyFromJwk round trip)', async () => {
        const pub = publicKeyFromJwk(key.publicJwk);
        assert.deepEqual(pub.export({ format: 'jwk' }), key.publicKey.export({ format: 'jwk' }));
      });

      it('a tampered payload is rejected (and jose agrees)', async () => {
        const token = signJwt(key, PAYLOAD);
        const [h, , s] = token.split('.');
        const forged = `${h}.${b64({ ...PAYLOAD, scope: 'admin' })}.${s}`;
        assert.equal(verifyJwt(forged, ring(key)), undefined);
        await assert.rejects(jose.jwtVerify(forged, jose.createLocalJWKSet({ keys: [key.publicJwk as jose.JWK] })));
      });

      it('a tampered header is rejected', () => {
        const token = signJwt(key, PAYLOAD);
        const [, p, s] = token.split('.');
        const forged = `${b64({ alg, typ: 'JWT', kid: key.kid, extra: 1 })}.${p}.${s}`;
        assert.equal(verifyJwt(forged, ring(key)), undefined);
      });

      it('a tampered signature is rejected', () => {
        const token = signJwt(key, PAYLOAD);
        const sig = Buffer.from(token.split('.')[2]!, 'base64url');
        sig[sig.length - 1] ^= 1;
        const forged = token.slice(0, token.lastIndexOf('.') + 1) + sig.toString('base64url');
        assert.equal(verifyJwt(forged, ring(key)), undefined);
      });

      it('the alg comes from the key: a header alg that differs is rejected even with a valid signature', () => {
        // the right key and a correct signature over a header claiming another alg
        for (const claimed of ALGS.filter((a) => a !== alg).concat(['HS256', 'none', 'ES384', 'PS256'] as never[])) {
          const input = `${b64({ alg: claimed, kid: key.kid })}.${b64(PAYLOAD)}`;
          const sig = signJwt(key, PAYLOAD).split('.')[2]; // any real signature
          const self = cryptoSign(
            alg === 'EdDSA' ? null : 'sha256',
            Buffer.from(input),
            alg === 'ES256' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey,
          ).toString('base64url');
          assert.equal(verifyJwt(`${input}.${self}`, ring(key)), undefined, `header alg ${claimed} accepted`);
          assert.equal(verifyJwt(`${input}.${sig}`, ring(key)), undefined);
        }
      });

      it('an unknown kid, or none, is rejected', () => {
        const token = signJwt(key, PAYLOAD);
        const other = keys[ALGS.find((a) => a !== alg)!];
        assert.equal(verifyJwt(token, ring(other)), undefined);
        assert.equal(verifyJwt(token, new Map()), undefined);
        const [, p, s] = token.split('.');
        assert.equal(verifyJwt(`${b64({ alg })}.${p}.${s}`, ring(key)), undefined);
        assert.equal(verifyJwt(`${b64({ alg, kid: 42 })}.${p}.${s}`, ring(key)), undefined);
      });
    });
  }

  it('ES256 signatures are JOSE (r||s, 64 bytes), not DER', () => {
    const token = signJwt(keys.ES256, PAYLOAD);
    assert.equal(Buffer.from(token.split('.')[2]!, 'base64url').length, 64);
    // a DER signature over the same input does not verify
    const input = token.slice(0, token.lastIndexOf('.'));
    const der = cryptoSign('sha256', Buffer.from(input), keys.ES256.privateKey).toString('base64url');
    assert.equal(verifyJwt(`${input}.${der}`, ring(keys.ES256)), undefined);
  });

  it('a key of another issuer with the same kid does not verify', () => {
    const mine = keys.ES256;
    const theirs = { ...makeKey('ES256'), kid: mine.kid };
    assert.equal(verifyJwt(signJwt(theirs, PAYLOAD), ring(mine)), undefined);
  });
});

describe('verifyJwt refuses', () => {
  const key = keys.ES256;
  const good = signJwt(key, PAYLOAD);
  const [gh, gp, gs] = good.split('.') as [string, string, string];

  it('alg: none (unsigned), with and without a signature part', () => {
    const header = b64({ alg: 'none', kid: key.kid });
    assert.equal(verifyJwt(`${header}.${gp}.`, ring(key)), undefined);
    assert.equal(verifyJwt(`${header}.${gp}.${gs}`, ring(key)), undefined);
    const unsecured = new jose.UnsecuredJWT(PAYLOAD).encode();
    assert.equal(verifyJwt(unsecured, ring(key)), undefined);
  });

  it('HS256 keyed with the public key (algorithm confusion)', () => {
    for (const secret of [
      key.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      JSON.stringify(key.publicJwk),
      key.publicKey.export({ format: 'der', type: 'spki' }),
    ]) {
      const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${gp}`;
      const mac = createHmac('sha256', secret).update(input).digest('base64url');
      assert.equal(verifyJwt(`${input}.${mac}`, ring(key)), undefined);
    }
  });

  const malformed: Array<[string, string]> = [
    ['empty', ''],
    ['one part', gh],
    ['two parts', `${gh}.${gp}`],
    ['four parts', `${good}.${gs}`],
    ['five parts (JWE shape)', `${gh}.${gp}.${gs}.x.y`],
    ['empty header', `.${gp}.${gs}`],
    ['empty payload', `${gh}..${gs}`],
    ['dots only', '..'],
    ['header not JSON', `${b64('not json')}.${gp}.${gs}`],
    ['header a JSON array', `${b64([1, 2])}.${gp}.${gs}`],
    ['header JSON null', `${b64('null')}.${gp}.${gs}`],
    ['payload not JSON', `${gh}.${b64('{"a":')}.${gs}`],
    ['payload a JSON string', `${gh}.${b64('"x"')}.${gs}`],
    ['payload a JSON array', `${gh}.${b64([PAYLOAD])}.${gs}`],
    ['whitespace around', ` ${good} `],
    ['garbage characters', '@@@.###.$$$'],
    ['huge', `${gh}.${'A'.repeat(100_000)}.${gs}`],
  ];
  for (const [name, token] of malformed) {
    it(`a malformed token: ${name}`, () => {
      assert.doesNotThrow(() => verifyJwt(token, ring(key)));
      assert.equal(verifyJwt(token, ring(key)), undefined);
    });
  }

  it('decodeJwt parses a good token and refuses malformed ones without throwing', () => {
    const d = decodeJwt(good);
    assert.ok(d);
    assert.deepEqual(d.payload, PAYLOAD);
    assert.equal(d.input, `${gh}.${gp}`);
    for (const [, token] of malformed.slice(0, 15)) {
      assert.doesNotThrow(() => decodeJwt(token));
    }
  });

  it('the good token itself verifies (the cases above fail for their own reason)', () => {
    assert.ok(verifyJwt(good, ring(key)));
  });
});
