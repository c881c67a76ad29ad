// ID token validation for the relying party (OIDC Core §3.1.3.7): signature with the
// provider's JWKS (asymmetric algorithms the provider advertises; never `none` or HMAC),
// `iss`, `aud` containing our client_id, `azp` when present (required with several
// audiences), `exp`/`iat` with leeway, `sub`, the login's `nonce`, and `at_hash` when present.
import { createHash } from 'node:crypto';
import { safeEqual } from '../../core/crypto-util.js';
import { verifyJwt } from '../authn/jwt/verify.js';
import type { OpenIdProvider } from './provider.js';

interface IdTokenExpectations {
  clientId: string;
  /** the nonce of this login; undefined for ID tokens from a refresh (no nonce check) */
  nonce?: string;
  accessToken?: string;
  now: number;
  leeway: number;
}

type IdTokenResult = { ok: true; claims: Record<string, unknown> } | { ok: false; problem: string; unavailable?: boolean };

const HALF_HASH: Record<string, string> = {
  RS256: 'sha256', PS256: 'sha256', ES256: 'sha256',
  RS384: 'sha384', PS384: 'sha384', ES384: 'sha384',
  RS512: 'sha512', PS512: 'sha512', ES512: 'sha512',
  // Ed25519 signs with SHA-512 (the OpenID Foundation's EdDSA errata; oidc-provider agrees)
  EdDSA: 'sha512', Ed25519: 'sha512',
};

/** at_hash / c_hash: base64url of the left half of the token's hash (the signing alg's hash). */
function halfHash(alg: string, token: string): string | undefined {
  const algorithm = HALF_HASH[alg];
  if (algorithm === undefined) return undefined;
  const digest = createHash(algorithm).update(token, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export async function validateIdToken(provider: OpenIdProvider, token: string, expect: IdTokenExpectations): Promise<IdTokenResult> {
  let trusted;
  try {
    trusted = await provider.trusted();
  } catch (err) {
    return { ok: false, problem: (err as Error).message, unavailable: true };
  }
  const verified = await verifyJwt(token, trusted, { audience: new Set([expect.clientId]), leeway: expect.leeway, now: expect.now });
  if (!verified.ok) return verified.unavailable ? { ok: false, problem: verified.problem, unavailable: true } : { ok: false, problem: verified.problem };
  const claims = verified.payload;
  if (typeof claims.sub !== 'string' || claims.sub === '') return { ok: false, problem: 'ID token has no sub' };
  if (typeof claims.iat !== 'number') return { ok: false, problem: 'ID token has no iat' };
  if (claims.iat > expect.now + expect.leeway) return { ok: false, problem: 'ID token issued in the future' };
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (audiences.length > 1 && claims.azp === undefined) return { ok: false, problem: 'ID token with several audiences has no azp' };
  if (claims.azp !== undefined && claims.azp !== expect.clientId) return { ok: false, problem: 'ID token azp is not our client_id' };
  if (expect.nonce !== undefined) {
    if (typeof claims.nonce !== 'string' || !safeEqual(claims.nonce, expect.nonce)) return { ok: false, problem: 'ID token nonce does not match the login' };
  }
  if (claims.at_hash !== undefined && expect.accessToken !== undefined) {
    const expected = halfHash(String(verified.header.alg), expect.accessToken);
    if (typeof claims.at_hash !== 'string' || expected === undefined || !safeEqual(claims.at_hash, expected)) {
      return { ok: false, problem: 'ID token at_hash does not match the access token' };
    }
  }
  return { ok: true, claims };
}
