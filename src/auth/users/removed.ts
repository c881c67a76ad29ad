// Users removed from `auth.users` lose what they held, as with `drawbridge user delete`: the
// user sync (./sync.ts) deletes them, and this wraps it so that their SSO sessions end, all
// their tokens are revoked and every gateway hears `user.revoked` (cached identities of that
// sub dropped). Sessions are ended before the delete, which takes the SQL ones with it
// (ON DELETE CASCADE) and so would skip their back-channel logouts; the tokens are revoked
// again after it, for any issued in between by another instance.
import type { UserRecord } from '../../storage/types.js';
import type { AuthContext } from '../context.js';
import { endUserSessions, logoutDeps } from '../logout/end-sessions.js';
import { syncConfiguredUsers, type UserSyncResult } from './sync.js';

/** syncConfiguredUsers, with every pruned user signed out everywhere. */
export async function syncConfiguredUsersSigningOutRemoved(ctx: AuthContext): Promise<UserSyncResult> {
  const configured = new Set(ctx.auth.users.map((u) => u.username));
  // the users the prune will delete, looked up first: the prune reports usernames, tokens and sessions are by id
  const leaving = new Map<string, UserRecord>();
  for (const u of await ctx.storage.users.list()) if (u.source === 'config' && !configured.has(u.username)) leaving.set(u.username, u);
  const deps = logoutDeps(ctx);
  const signedOut = new Map<string, { tokens: number; sessions: number }>();
  for (const u of leaving.values()) {
    try {
      const done = await endUserSessions(deps, u.id);
      signedOut.set(u.username, { tokens: done.tokens_revoked, sessions: done.sessions.length });
    } catch (err) {
      // e.g. Redis (the session store) down: the start goes on; the tokens are revoked below
      ctx.logger.warn({ username: u.username, err: (err as Error).message }, 'auth.users: could not end the SSO sessions of a removed user');
    }
  }
  const result = await syncConfiguredUsers(ctx.storage, ctx.auth, ctx.clock.now(), ctx.logger);
  for (const username of result.pruned) {
    const u = leaving.get(username);
    if (u === undefined) {
      // stored as a config user by another instance after the look-up: its id is unknown here
      ctx.logger.warn({ username }, 'auth.users: removed user deleted, but its tokens were not revoked (it appeared during the sync)');
      continue;
    }
    const late = await ctx.storage.tokens.revokeBySubject(u.id, ctx.clock.now());
    const done = signedOut.get(username);
    if (late > 0 || done === undefined) await deps.publish({ type: 'user.revoked', sub: u.id });
    ctx.logger.info(
      { username, sub: u.id, tokens_revoked: (done?.tokens ?? 0) + late, sessions_ended: done?.sessions ?? 0 },
      'auth.users: user removed from the config file deleted and signed out everywhere',
    );
  }
  return result;
}
