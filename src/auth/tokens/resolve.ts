// Finds the stored record behind a presented token string, whatever its format, and
// says whether it is active. Used by introspection and revocation.
import { sha256Base64url } from '../../core/crypto-util.js';
import { verifyJwt } from '../../crypto/jwt.js';
import type { TokenRecord } from '../../storage/types.js';
import type { AuthContext } from '../context.js';

/** Longest token string looked at: anything longer is not one of ours. */
export const MAX_TOKEN_LENGTH = 8192;

export async function findToken(ctx: AuthContext, token: string): Promise<TokenRecord | undefined> {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  if (looksLikeJwt(token)) {
    // only our own, correctly signed JWTs are looked up; anything else is simply unknown
    const verified = verifyJwt(token, ctx.keyring.verificationKeys);
    if (!verified || verified.payload.iss !== ctx.endpoints.issuer || typeof verified.payload.jti !== 'string') return undefined;
    const rec = await ctx.storage.tokens.findByJti(verified.payload.jti);
    return rec && rec.format === 'jwt' ? rec : undefined;
  }
  const rec = await ctx.storage.tokens.findByDigest(sha256Base64url(token));
  return rec && rec.format !== 'jwt' ? rec : undefined;
}

export function isActive(rec: TokenRecord | undefined, now: number): rec is TokenRecord {
  return (
    rec !== undefined &&
    rec.revoked_at === null &&
    rec.expires_at > now &&
    rec.issued_at <= now + 60 &&
    // a refresh token also dies unused (its idle lifetime)
    (rec.refresh === undefined || rec.refresh.idle_expires_at > now)
  );
}

export function looksLikeJwt(token: string): boolean {
  const first = token.indexOf('.');
  return first > 0 && token.indexOf('.', first + 1) > first;
}
