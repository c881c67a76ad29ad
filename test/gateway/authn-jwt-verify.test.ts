// The jwt authenticator's node:crypto verification, cross-checked against jose on a set of
// valid and invalid tokens (same keys, same options: issuer, audience, algorithms,
// leeway, exp required, a fixed "now"), plus the key preparation rules.
import * as assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, KeyObject, sign as cryptoSign } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { ALL_JWT_ALGS, type JwtAlg } from '../../src/gateway/authn/jwt/algorithms.js';
import { KeySet, prepareJwk, staticKeySource } from '../../src/gateway/authn/jwt/jwks.js';
import { looksLikeJwt, verifyJwt, type TrustedIssuer } from '../../src/gateway/authn/jwt/verify.js';

const ISS = 'https://issuer.test';
const AUD = 'api://test';
const NOW = 1_750_000_000;
const LEEWAY = 30;

interface Key {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function key(alg: string, kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

/** RSA key generation is slow: one RSA key pair serves every RS and PS algorithm (under distinct kids). */
const rsaPair = generateKeyPairSync('rsa', { modulusLength: 2048 });

async function rsaKey(alg: string, kid: string): Promise<Key> {
  const privateKey = (await importJWK(rsaPair.privateKey.export({ format: 'jwk' }) as JWK, alg, { extractable: true })) as CryptoKey;
  return { alg, kid, privateKey, jwk: { ...(rsaPair.publicKey.export({ format: 'jwk' }) as JWK), kid, alg } };
}

function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

describe('jwt verification agrees with jose', () => {
  const keys: Key[] = [];
  let issuers: Map<string, TrustedIssuer>;
  let jwks: ReturnType<typeof createLocalJWKSet>;
  const cases: Array<{ name: string; token: string }> = [];

  async function sign(k: Key, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT({ iss: ISS, aud: AUD, sub: 's', iat: NOW - 10, exp: NOW + 300, ...claims })
      .setProtectedHeader({ alg: k.alg, kid: k.kid, ...header })
      .sign(k.privateKey);
  }

  before(async () => {
    for (const [alg, kid] of [
      ['RS256', 'rs256'], ['RS384', 'rs384'], ['RS512', 'rs512'],
      ['PS256', 'ps256'], ['PS384', 'ps384'], ['PS512', 'ps512'],
      ['ES256', 'es256'], ['ES384', 'es384'], ['ES512', 'es512'],
      ['EdDSA', 'eddsa'],
    ] as const) {
      keys.push(alg.startsWith('RS') || alg.startsWith('PS') ? await rsaKey(alg, kid) : await key(alg, kid));
    }
    const published = keys.map((k) => k.jwk);
    const prepared = published.map((jwk) => {
      const p = prepareJwk(jwk as Record<string, unknown>);
      assert.ok(typeof p !== 'string', String(p));
      return p;
    });
    issuers = new Map([[ISS, { issuer: ISS, algorithms: new Set<JwtAlg>(ALL_JWT_ALGS), keys: staticKeySource(new KeySet(prepared)) }]]);
    jwks = createLocalJWKSet({ keys: published });

    const [rs, , , ps, , , es, , , ed] = keys as [Key, Key, Key, Key, Key, Key, Key, Key, Key, Key];
    for (const k of keys) cases.push({ name: `valid ${k.alg}`, token: await sign(k, {}) });
    cases.push(
      { name: 'aud in a list', token: await sign(es, { aud: ['other', AUD] }) },
      { name: 'wrong aud', token: await sign(es, { aud: 'other' }) },
      { name: 'no aud', token: await sign(es, { aud: undefined }) },
      { name: 'wrong iss', token: await sign(es, { iss: 'https://other.test' }) },
      { name: 'expired', token: await sign(es, { exp: NOW - LEEWAY - 1 }) },
      { name: 'expired within leeway', token: await sign(es, { exp: NOW - LEEWAY + 1 }) },
      { name: 'exp exactly now - leeway', token: await sign(es, { exp: NOW - LEEWAY }) },
      { name: 'nbf in the future', token: await sign(es, { nbf: NOW + LEEWAY + 1 }) },
      { name: 'nbf within leeway', token: await sign(es, { nbf: NOW + LEEWAY }) },
      { name: 'no exp', token: await sign(es, { exp: undefined }) },
      { name: 'exp as a string', token: await sign(rs, { exp: String(NOW + 300) as never }) },
      { name: 'iat as a string', token: await sign(ps, { iat: 'yesterday' as never }) },
      { name: 'unknown kid', token: await sign(es, {}, { kid: 'nope' }) },
      { name: 'kid of another key type', token: await sign(es, {}, { kid: 'rs256' }) },
      { name: 'RS256 key, PS256 header', token: await sign(rs, {}, { alg: 'PS256' }).catch(() => 'x.y.z') },
      { name: 'alg none', token: `${b64({ alg: 'none', kid: 'es256' })}.${b64({ iss: ISS, aud: AUD, exp: NOW + 300 })}.` },
      { name: 'HS256 with the public key', token: await hs256WithPublicKey(rs) },
      { name: 'tampered payload', token: tamper(await sign(ed, {})) },
      { name: 'signature of another token', token: swapSignature(await sign(es, { sub: 'a' }), await sign(es, { sub: 'b' })) },
      { name: 'truncated ES signature', token: truncate(await sign(es, {})) },
      { name: 'crit header', token: rawSign(es, { alg: 'ES256', kid: 'es256', crit: ['exp'], exp: 1 }) },
      { name: 'raw ES256 (control)', token: rawSign(es, { alg: 'ES256', kid: 'es256' }) },
      { name: 'payload not JSON', token: `${b64({ alg: 'ES256', kid: 'es256' })}.${b64('not json')}.AAAA` },
      { name: 'four segments', token: `${await sign(es, {})}.AAAA` },
    );
  });

  it('accepts and refuses exactly the tokens jose accepts and refuses', async () => {
    let accepted = 0;
    for (const { name, token } of cases) {
      const ours = await verifyJwt(token, issuers, { audience: new Set([AUD]), leeway: LEEWAY, now: NOW });
      const theirs = await jwtVerify(token, jwks, {
        issuer: ISS,
        audience: AUD,
        algorithms: ALL_JWT_ALGS,
        clockTolerance: LEEWAY,
        currentDate: new Date(NOW * 1000),
        requiredClaims: ['exp'],
      }).then(
        (r) => r.payload,
        () => undefined,
      );
      assert.equal(ours.ok, theirs !== undefined, `${name}: ours ${ours.ok ? 'accepted' : `refused (${ours.problem})`}, jose ${theirs ? 'accepted' : 'refused'}`);
      if (ours.ok && theirs) {
        assert.deepEqual(ours.payload, theirs, name);
        accepted++;
      }
    }
    // the set is worth something only if both outcomes occur
    assert.ok(accepted >= 13 && accepted < cases.length, `accepted ${accepted} of ${cases.length}`);
  });

  it('takes the issuer from the token and only that issuer’s algorithms', async () => {
    const [rs] = keys as [Key];
    const only = new Map([[ISS, { ...issuers.get(ISS)!, algorithms: new Set<JwtAlg>(['ES256']) }]]);
    const result = await verifyJwt(await sign(rs, {}), only, { leeway: 0, now: NOW });
    assert.deepEqual(result, { ok: false, problem: 'token algorithm not accepted' });
  });
});

describe('jwt keys', () => {
  it('prepares RSA, EC and OKP public keys and refuses symmetric, encryption and small RSA keys', async () => {
    const ok = prepareJwk({ ...(await key('ES256', 'a')).jwk });
    assert.ok(typeof ok !== 'string');
    assert.equal(ok.type, 'ec');
    assert.equal(ok.curve, 'P-256');
    assert.match(String(prepareJwk({ kty: 'oct', k: 'c2VjcmV0' })), /key type oct is not accepted/);
    assert.match(String(prepareJwk({ ...(await key('ES256', 'b')).jwk, use: 'enc' })), /not "sig"/);
    assert.match(String(prepareJwk({ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' })), /not a valid public key/);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const prepared = prepareJwk(small as Record<string, unknown>);
    assert.ok(typeof prepared !== 'string');
    // a 1024-bit RSA key loads, but never fits an RS*/PS* algorithm (jose requires 2048)
    assert.deepEqual(new KeySet([prepared]).candidates('RS256', undefined), []);
  });

  it('tells JWS-shaped tokens from opaque ones', () => {
    assert.ok(looksLikeJwt('a.b.c'));
    assert.ok(looksLikeJwt('a.b.'));
    assert.ok(!looksLikeJwt('opaque'));
    assert.ok(!looksLikeJwt('a.b'));
    assert.ok(!looksLikeJwt('a..c'));
    assert.ok(!looksLikeJwt('.b.c'));
    assert.ok(!looksLikeJwt('a.b.c.d'));
  });
});

async function hs256WithPublicKey(k: Key): Promise<string> {
  const input = `${b64({ alg: 'HS256', kid: k.kid })}.${b64({ iss: ISS, aud: AUD, exp: NOW + 300 })}`;
  const sig = createHmac('sha256', JSON.stringify(k.jwk)).update(input).digest('base64url');
  return `${input}.${sig}`;
}

/** A token signed with node:crypto directly, for headers jose refuses to produce. */
function rawSign(k: Key, header: Record<string, unknown>): string {
  const input = `${b64(header)}.${b64({ iss: ISS, aud: AUD, sub: 's', exp: NOW + 300 })}`;
  const privateKey = KeyObject.from(k.privateKey as never);
  const signature =
    k.alg === 'ES256'
      ? cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
      : cryptoSign('sha256', Buffer.from(input), privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

function tamper(token: string): string {
  const [h, , s] = token.split('.');
  return `${h}.${b64({ iss: ISS, aud: AUD, sub: 'admin', exp: NOW + 300 })}.${s}`;
}

function swapSignature(a: string, b: string): string {
  return `${a.split('.').slice(0, 2).join('.')}.${b.split('.')[2]}`;
}

function truncate(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const sig = Buffer.from(s, 'base64url');
  return `${h}.${p}.${sig.subarray(0, sig.length - 1).toString('base64url')}`;
}
