// Compact JWS signing and verification over node:crypto KeyObjects prepared once.
// jose's WebCrypto path costs 100+ µs per operation on Node 20; this path does the
// same work synchronously. Tests cross-check every token against jose.
import { createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { SigningAlg } from '../config/types.js';
import { SIGNING_ALGS } from './algorithms.js';

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: Record<string, unknown>;
}

export function signJwt(key: SigningKey, payload: Record<string, unknown>, typ = 'JWT'): string {
  const header = { alg: key.alg, typ, kid: key.kid };
  const input =
    Buffer.from(JSON.stringify(header)).toString('base64url') +
    '.' +
    Buffer.from(JSON.stringify(payload)).toString('base64url');
  const d = SIGNING_ALGS[key.alg];
  const signature = cryptoSign(
    d.hash,
    Buffer.from(input),
    d.dsaEncoding ? { key: key.privateKey, dsaEncoding: d.dsaEncoding } : key.privateKey,
  );
  return input + '.' + signature.toString('base64url');
}

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** Splits and parses a compact JWS; returns undefined for anything malformed. */
export function decodeJwt(token: string): (DecodedJwt & { input: string; signature: Buffer }) | undefined {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1) return undefined;
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, first), 'base64url').toString('utf8'));
    const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8'));
    if (!isObject(header) || !isObject(payload)) return undefined;
    return { header, payload, input: token.slice(0, second), signature: Buffer.from(token.slice(second + 1), 'base64url') };
  } catch {
    return undefined;
  }
}

/**
 * Verifies a compact JWS signed by one of `keys` (looked up by kid). The algorithm is
 * taken from the key, never from the token: a header alg that differs is rejected.
 */
export function verifyJwt(token: string, keys: ReadonlyMap<string, SigningKey>): DecodedJwt | undefined {
  const decoded = decodeJwt(token);
  if (!decoded) return undefined;
  const kid = decoded.header.kid;
  if (typeof kid !== 'string') return undefined;
  const key = keys.get(kid);
  if (!key || decoded.header.alg !== key.alg) return undefined;
  const d = SIGNING_ALGS[key.alg];
  const ok = cryptoVerify(
    d.hash,
    Buffer.from(decoded.input),
    d.dsaEncoding ? { key: key.publicKey, dsaEncoding: d.dsaEncoding } : key.publicKey,
    decoded.signature,
  );
  return ok ? { header: decoded.header, payload: decoded.payload } : undefined;
}

export function publicKeyFromJwk(jwk: Record<string, unknown>): KeyObject {
  const { kid: _kid, alg: _alg, use: _use, ...material } = jwk;
  return createPublicKey({ key: material as import('node:crypto').JsonWebKey, format: 'jwk' });
}

/** A JSON object (not null, not an array): a JWT header, payload or a claim such as `act`. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
