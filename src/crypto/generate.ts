// Creates a new signing key pair; kid is the RFC 7638 JWK thumbprint.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { SigningAlg } from '../config/types.js';
import { SIGNING_ALGS } from './algorithms.js';

export interface GeneratedKey {
  kid: string;
  alg: SigningAlg;
  publicJwk: Record<string, unknown>;
  privatePem: string;
}

export function generateSigningKey(alg: SigningAlg): GeneratedKey {
  const d = SIGNING_ALGS[alg];
  let pair: { publicKey: KeyObject; privateKey: KeyObject };
  if (d.generate.type === 'ec') pair = generateKeyPairSync('ec', { namedCurve: d.generate.namedCurve });
  else if (d.generate.type === 'rsa') pair = generateKeyPairSync('rsa', { modulusLength: d.generate.modulusLength });
  else pair = generateKeyPairSync('ed25519');
  const jwk = pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const kid = jwkThumbprint(jwk);
  return {
    kid,
    alg,
    publicJwk: { ...jwk, kid, alg, use: 'sig' },
    privatePem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

/** RFC 7638: SHA-256 over the required members in lexicographic order. */
export function jwkThumbprint(jwk: Record<string, unknown>): string {
  let members: string[];
  if (jwk.kty === 'EC') members = ['crv', 'kty', 'x', 'y'];
  else if (jwk.kty === 'RSA') members = ['e', 'kty', 'n'];
  else if (jwk.kty === 'OKP') members = ['crv', 'kty', 'x'];
  else throw new Error(`unsupported key type ${String(jwk.kty)}`);
  const canonical = '{' + members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(',') + '}';
  return createHash('sha256').update(canonical).digest('base64url');
}
