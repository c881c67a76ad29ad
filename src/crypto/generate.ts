// Creates a new signing key pair; kid is the RFC 7638 JWK thumbprint.
import { createHash, generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { SigningAlg } from '../config/types.js';
import { SIGNING_ALGS } from './algorithms.js';

export interface GeneratedKey {
  kid: string;
  alg: SigningAlg;
  publicJwk: Record<string, unknown>;
  privatePem: string;
}

interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export function generateSigningKey(alg: SigningAlg): GeneratedKey {
  const d = SIGNING_ALGS[alg];
  let pair: KeyPair;
  if (d.generate.type === 'ec') pair = generateKeyPairSync('ec', { namedCurve: d.generate.namedCurve });
  else if (d.generate.type === 'rsa') pair = generateKeyPairSync('rsa', { modulusLength: d.generate.modulusLength });
  else pair = generateKeyPairSync('ed25519');
  return describe(alg, pair);
}

/**
 * The same, off the event loop: an RSA 2048 key takes ~200 ms to find, which a starting
 * server (or one generating its RS256 ID token key) should not spend blocked.
 */
export async function generateSigningKeyAsync(alg: SigningAlg): Promise<GeneratedKey> {
  const d = SIGNING_ALGS[alg];
  const generate = promisify(generateKeyPair);
  let pair: KeyPair;
  if (d.generate.type === 'ec') pair = await generate('ec', { namedCurve: d.generate.namedCurve });
  else if (d.generate.type === 'rsa') pair = await generate('rsa', { modulusLength: d.generate.modulusLength });
  else pair = await generate('ed25519', {});
  return describe(alg, pair);
}

function describe(alg: SigningAlg, pair: KeyPair): GeneratedKey {
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
