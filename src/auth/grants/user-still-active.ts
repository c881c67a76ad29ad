// A user locked or deleted while one of their token requests was under way: the lock (or the
// delete) is stored first and then every token of the user is revoked, but a request that had
// checked the user before that stores its tokens after the revocation, and they stayed active.
// So a grant that issues tokens to a user (password, code, refresh, implicit) reads the user
// again once its tokens are stored: if they are gone or locked now, it revokes what it stored
// and refuses. (A lock after this read revokes the new tokens itself.) The tokens were never
// handed out: no gateway needs telling.
import { invalidGrant } from '../../core/errors.js';
import type { AuthContext } from '../context.js';

export async function unlessUserGone(ctx: AuthContext, userId: string, grantId: string): Promise<void> {
  if (await userGoneMeanwhile(ctx, userId, grantId)) throw invalidGrant('the user is no longer active');
}

/**
 * The same check for a grant that answers otherwise than the token endpoint (the implicit
 * grant, at the redirect URI): true when the user is locked or gone, the grant's tokens revoked.
 */
export async function userGoneMeanwhile(ctx: AuthContext, userId: string, grantId: string): Promise<boolean> {
  const user = await ctx.storage.users.get(userId);
  if (user !== undefined && !user.locked) return false;
  await ctx.storage.tokens.revokeGrant(grantId, ctx.clock.now());
  return true;
}
