// The JWS algorithms the jwt authenticator accepts, as a descriptor table: asymmetric only.
// `none` and every HMAC algorithm are simply not in it, so a token cannot choose them, and
// each algorithm names the one key type it verifies with (no algorithm confusion).
import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';

export type JwtAlg =
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512'
  | 'EdDSA' | 'Ed25519';

interface AlgDescriptor {
  /** node:crypto digest, null for EdDSA (the curve fixes it) */
  hash: string | null;
  /** KeyObject.asymmetricKeyType values this algorithm verifies with */
  keyTypes: readonly string[];
  /** EC: the JWK curve */
  curve?: string;
  /** ECDSA in JOSE is r||s (IEEE P1363) of a fixed length */
  signatureLength?: number;
  pss?: number; // RSA-PSS salt length (= hash length)
}

const RSA = ['rsa'] as const;

const JWT_ALGS: Readonly<Record<JwtAlg, AlgDescriptor>> = {
  RS256: { hash: 'sha256', keyTypes: RSA },
  RS384: { hash: 'sha384', keyTypes: RSA },
  RS512: { hash: 'sha512', keyTypes: RSA },
  PS256: { hash: 'sha256', keyTypes: RSA, pss: 32 },
  PS384: { hash: 'sha384', keyTypes: RSA, pss: 48 },
  PS512: { hash: 'sha512', keyTypes: RSA, pss: 64 },
  ES256: { hash: 'sha256', keyTypes: ['ec'], curve: 'P-256', signatureLength: 64 },
  ES384: { hash: 'sha384', keyTypes: ['ec'], curve: 'P-384', signatureLength: 96 },
  ES512: { hash: 'sha512', keyTypes: ['ec'], curve: 'P-521', signatureLength: 132 },
  EdDSA: { hash: null, keyTypes: ['ed25519', 'ed448'] },
  Ed25519: { hash: null, keyTypes: ['ed25519'] },
};

export const ALL_JWT_ALGS = Object.keys(JWT_ALGS) as JwtAlg[];

export function isJwtAlg(value: unknown): value is JwtAlg {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(JWT_ALGS, value);
}

/** A verification key prepared once from a JWK. */
export interface PreparedKey {
  kid?: string;
  /** `alg` of the JWK, when it names one: then only that algorithm may use the key */
  alg?: string;
  key: KeyObject;
  /** asymmetricKeyType: rsa | ec | ed25519 | ed448 */
  type: string;
  /** EC curve as in JWK (`P-256` …) */
  curve?: string;
  /** RSA modulus length in bits */
  bits?: number;
}

/** true when `alg` may be verified with `key` (type, curve, the JWK's own alg, RSA ≥ 2048 bits as jose requires). */
export function keyFits(alg: JwtAlg, key: PreparedKey): boolean {
  const d = JWT_ALGS[alg];
  if (!d.keyTypes.includes(key.type)) return false;
  if (key.alg !== undefined && key.alg !== alg) return false;
  if (d.curve !== undefined && key.curve !== d.curve) return false;
  if (key.type === 'rsa' && (key.bits ?? 0) < 2048) return false;
  return true;
}

/** Verifies a JWS signature with node:crypto (synchronous: no WebCrypto round trip). */
export function verifySignature(alg: JwtAlg, key: PreparedKey, input: Buffer, signature: Buffer): boolean {
  const d = JWT_ALGS[alg];
  if (d.signatureLength !== undefined && signature.length !== d.signatureLength) return false;
  try {
    if (d.pss !== undefined) {
      return cryptoVerify(d.hash, input, { key: key.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: d.pss }, signature);
    }
    if (d.signatureLength !== undefined) {
      return cryptoVerify(d.hash, input, { key: key.key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    return cryptoVerify(d.hash, input, key.key, signature);
  } catch {
    return false; // a signature OpenSSL cannot even parse is simply not valid
  }
}
