// Descriptor table of the JWS algorithms Drawbridge signs with. What is not in the table
// is rejected: there is no `none` and no HMAC, so algorithm confusion cannot happen.
import type { SigningAlg } from '../config/types.js';

export interface AlgDescriptor {
  /** node:crypto digest name, or null for EdDSA (the curve fixes the hash) */
  hash: string | null;
  /** ECDSA signatures in JOSE are raw r||s (IEEE P1363), not DER */
  dsaEncoding?: 'ieee-p1363';
  keyType: 'ec' | 'rsa' | 'ed25519';
  generate: { type: 'ec'; namedCurve: 'P-256' } | { type: 'rsa'; modulusLength: 2048 } | { type: 'ed25519' };
}

export const SIGNING_ALGS: Readonly<Record<SigningAlg, AlgDescriptor>> = {
  ES256: { hash: 'sha256', dsaEncoding: 'ieee-p1363', keyType: 'ec', generate: { type: 'ec', namedCurve: 'P-256' } },
  RS256: { hash: 'sha256', keyType: 'rsa', generate: { type: 'rsa', modulusLength: 2048 } },
  EdDSA: { hash: null, keyType: 'ed25519', generate: { type: 'ed25519' } },
};

/**
 * Algorithms accepted on client assertions (RFC 7523) and request objects (RFC 9101):
 * asymmetric only. `Ed25519` is RFC 9864's fully specified name for what `EdDSA` means with an
 * Ed25519 key; clients such as oauth4webapi sign with it.
 */
export const CLIENT_ASSERTION_ALGS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;

/** What request objects may be signed with (discovery's request_object_signing_alg_values_supported). */
export const REQUEST_OBJECT_ALGS: readonly string[] = CLIENT_ASSERTION_ALGS;

export function isSigningAlg(value: unknown): value is SigningAlg {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(SIGNING_ALGS, value);
}
