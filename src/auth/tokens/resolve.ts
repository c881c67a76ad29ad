// Finds the stored record behind a presented token string, whatever its format, and
// says whether it is active. Used by introspection, revocation, userinfo and token exchange.
import { sha256Base64url } from '../../core/crypto-util.js';
import { verifyJwt, type DecodedJwt } from '../../crypto/jwt.js';
import type { TokenRecord } from '../../storage/types.js';
import type { AuthContext } from '../context.js';

/** Longest token string looked at: anything longer is not one of ours. */
export const MAX_TOKEN_LENGTH = 8192;

export async function findToken(ctx: AuthContext, token: string): Promise<TokenRecord | undefined> {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  if (looksLikeJwt(token)) {
    // only our own, correctly signed JWTs are looked up; anything else is simply unknown
    const verified = verifyOwnJwt(ctx, token);
    return verified && typeof verified.payload.jti === 'string' ? findStoredJwt(ctx, verified.payload.jti) : undefined;
  }
  const rec = await ctx.storage.tokens.findByDigest(sha256Base64url(token));
  return rec && rec.format !== 'jwt' ? rec : undefined;
}

/**
 * A JWT of ours: verified with our keys (the algorithm fixed by the key, never `none`) and
 * naming our issuer. Undefined for any other, whatever it claims.
 */
export function verifyOwnJwt(ctx: AuthContext, token: string): DecodedJwt | undefined {
  const verified = verifyJwt(token, ctx.keyring.verificationKeys);
  return verified && verified.payload.iss === ctx.endpoints.issuer ? verified : undefined;
}

/**
 * The stored record of a JWT of ours, by its jti. Undefined when none was stored (e.g. the
 * gateway's internal JWTs) or the record under that jti is not a JWT's.
 */
export async function findStoredJwt(ctx: AuthContext, jti: string): Promise<TokenRecord | undefined> {
  const rec = await ctx.storage.tokens.findByJti(jti);
  return rec && rec.format === 'jwt' ? rec : undefined;
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

/**
 * The client a token was issued to still exists. Deleting a client revokes its tokens, but a
 * token stored a moment after that revocation (its request had authenticated the client just
 * before the deletion, on this instance or on another whose client cache had not heard yet)
 * escapes it: such a token must not be active either. Answered from the client cache (no
 * query while it is fresh), so it follows a deletion as the cache does.
 */
export async function clientExists(ctx: AuthContext, clientId: string): Promise<boolean> {
  return (await ctx.clients.get(clientId)) !== null;
}

export function looksLikeJwt(token: string): boolean {
  const first = token.indexOf('.');
  return first > 0 && token.indexOf('.', first + 1) > first;
}
