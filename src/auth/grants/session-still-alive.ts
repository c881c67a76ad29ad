// The SSO session a grant is made in, checked again once the grant's tokens are stored.
// Ending a session (RP-initiated logout, `drawbridge session revoke`, sign-out everywhere)
// deletes it, then reads the grants recorded with it and revokes those grants' tokens
// (SsoSessionRepo.end). A code exchange (or an implicit answer) under way at that moment
// records its grant too late to be read, or stores its tokens after that revocation, and they
// stayed active for their whole lifetime after the logout. So these grants look at the session
// again once their tokens are stored and the grant recorded (confirm-issued.ts): when it is
// gone, they revoke what they stored and refuse. (A session ended after this look has the
// grant in its list and revokes the tokens itself: the session is deleted before its grants
// are read, so a grant that still saw it had recorded itself before that read.)
// The tokens were never handed out: no gateway needs telling.
import type { AuthContext } from '../context.js';
import { sessionTimeouts } from '../sessions/sso.js';

/** The SSO session exists and neither of its timeouts has passed (as sessions/sso.ts judges it). */
export async function sessionAlive(ctx: AuthContext, id: string, now: number): Promise<boolean> {
  // where the auth server keeps its sessions: Redis when configured, else SQL
  const session = await (ctx.ssoSessions ?? ctx.storage.ssoSessions).get(id);
  return session !== undefined && session.expires_at > now && session.last_seen_at + sessionTimeouts(ctx).idle > now;
}

