// A user locked or deleted while one of their token requests was under way: the lock (or the
// delete) is stored first and then every token of the user is revoked, but a request that had
// checked the user before that stores its tokens after the revocation, and they stayed active.
// So a grant that issues tokens to a user (password, code, refresh, implicit) reads the user
// again once its tokens are stored (confirm-issued.ts): if they are gone or locked now, it
// revokes what it stored and refuses. (A lock after this read revokes the new tokens itself.)
// The tokens were never handed out: no gateway needs telling.
import type { AuthContext } from '../context.js';

/** The user exists and is not locked, as storage has it now. */
export async function userActive(ctx: AuthContext, userId: string): Promise<boolean> {
  const user = await ctx.storage.users.get(userId);
  return user !== undefined && !user.locked;
}
