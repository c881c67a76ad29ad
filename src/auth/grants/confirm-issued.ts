// The last step of a grant that issues tokens to a user (authorization_code, refresh_token,
// password, implicit): once its tokens are stored (and, where it has one, its grant recorded
// with the SSO session), it asks whether the grant may still stand. Something that happened
// while the request was under way may have tried to revoke these tokens before they were
// stored, and missed them:
// - a replay of the code, or a reuse of a retired refresh token of the family, marked first
//   and then revoked the family (authorization-code.ts, refresh-token.ts);
// - the user was locked or deleted, then their tokens revoked (user-still-active.ts);
// - the SSO session was ended, then its grants' tokens revoked (session-still-alive.ts).
// Each of these writes its mark (the replay mark, the lock or delete, the session's delete)
// before it revokes; so a read of that mark made after our tokens are stored either sees it,
// or the revocation comes later and sees our tokens. That is all the reads need to be
// ordered after: not after each other. So they go at once (one round trip, not up to three),
// and the grant's tokens are revoked once whichever of them refuses.
//
// Token exchange checks its own (grants/token-exchange.ts, unlessSubjectRevoked): it shares
// the subject token's grant, so a refusal takes back the new token alone, never the family;
// its two reads already go at once.
import type { RevokedToken } from '../../storage/types.js';
import type { AuthContext } from '../context.js';
import { sessionAlive } from './session-still-alive.js';
import { userActive } from './user-still-active.js';

/** Why the grant must not stand, in the order they win when more than one holds. */
export type Refusal =
  /** a replay of the code, or a reuse of the refresh token's family, left its mark */
  | 'marked'
  /** the user is locked or gone */
  | 'user'
  /** the SSO session has ended */
  | 'session';

interface IssuedGrant {
  /** the grant_id of the tokens stored: revoked when the grant does not stand */
  grantId: string;
  /** the user they were issued to */
  userId: string;
  /** the SSO session the grant was recorded with, if any (recorded before this step) */
  sid?: string | null;
  /** a mark (jti namespace and id) that a replay or reuse racing this request leaves */
  mark?: { namespace: string; id: string };
}

export interface Refused {
  reason: Refusal;
  /** the grant's tokens this step revoked */
  revoked: RevokedToken[];
}

/**
 * Undefined when the grant stands; else why not, its tokens revoked. The tokens were never
 * handed out: no gateway needs telling (a caller that must tell anyway has `revoked`).
 */
export async function confirmIssued(ctx: AuthContext, grant: IssuedGrant): Promise<Refused | undefined> {
  const now = ctx.clock.now();
  const { mark, sid } = grant;
  // settled, not all: one read that fails (a store down) must not hide another's refusal, or a
  // grant a replay or a reuse marked would stand with its tokens unrevoked
  const [marked, active, alive] = await Promise.allSettled([
    mark === undefined ? false : ctx.storage.jtis.has(mark.namespace, mark.id, now),
    userActive(ctx, grant.userId),
    sid === undefined || sid === null ? true : sessionAlive(ctx, sid, now),
  ]);
  const said = (read: PromiseSettledResult<boolean>, refuses: boolean) => read.status === 'fulfilled' && read.value === refuses;
  const reason: Refusal | undefined = said(marked, true) ? 'marked' : said(active, false) ? 'user' : said(alive, false) ? 'session' : undefined;
  if (reason === undefined) {
    for (const read of [marked, active, alive]) if (read.status === 'rejected') throw read.reason;
    return undefined;
  }
  return { reason, revoked: await ctx.storage.tokens.revokeGrant(grant.grantId, ctx.clock.now()) };
}
