// Signing a user out everywhere at the auth server, for the user operations (./manage.ts:
// lock, delete, a new password with sign-out, and sign-out itself) and for `drawbridge
// session revoke --user` / `user revoke`: every SSO session ended through the logout path
// (../logout/end-sessions.ts: the session deleted, the tokens of its grants revoked,
// `session.revoked` published, a back-channel logout token stored and sent to each client of
// it that registered a backchannel_logout_uri), then every other token of the user revoked and
// `user.revoked` published, so that gateways end their browser sessions. Audited as one
// `session.revoked` per session and one `user.revoked`.
import type { AuditLog } from '../../observability/audit.js';
import type { UserRecord } from '../../storage/types.js';
import type { SignedOut } from '../../core/signed-out.js';
import { endUserSessions, logoutDepsFrom, type LogoutDeps } from '../logout/end-sessions.js';
import type { AuthServerDeps } from '../start.js';
import { RedisSsoSessionStore } from '../sessions/redis-store.js';

// what signing a user out ended: core's, shared with the admin API
export type { SignedOut } from '../../core/signed-out.js';

/** Who asked, for the audit lines. */
export interface SignOutSource {
  source: string;
  request_id?: string;
  ip?: string;
}

/** Ends every SSO session and revokes every token of the user; waits for the first back-channel attempts. */
export async function signOutUser(logout: LogoutDeps, audit: Pick<AuditLog, 'record'>, user: Pick<UserRecord, 'id' | 'username'>, who: SignOutSource): Promise<SignedOut> {
  const done = await endUserSessions(logout, user.id);
  const backchannel = await done.deliveries;
  const { source, ...request } = who;
  const base = { ...request, user_id: user.id, username: user.username };
  for (const s of done.sessions) audit.record({ event: 'session.revoked', ...base, sid: s.sid, clients: s.clients, source });
  audit.record({ event: 'user.revoked', ...base, sessions: done.sessions.length, revoked: done.tokens_revoked, source });
  return { sessions: done.sessions.map((s) => ({ kind: 'sso', id: s.sid, clients: s.clients })), tokens_revoked: done.tokens_revoked, backchannel };
}

/** What the auth server is started with (its keyring started: logout tokens are signed with the published keys), and a way to tell the gateways. */
type LogoutDepsWithoutServer = Pick<AuthServerDeps, 'config' | 'storage' | 'keyring' | 'clock' | 'logger' | 'redis' | 'audit'> & Pick<LogoutDeps, 'publish'>;

/**
 * The logout machinery of a process that does not run the auth server (a gateway started
 * alone, for its admin API): the SSO sessions where the auth server keeps them (Redis when
 * `redis:` is set, else SQL), clients read from storage, logout tokens signed by the shared
 * keyring. It makes first attempts only; the auth servers retry what fails (stored in SQL).
 */
export function logoutDepsWithoutServer(deps: LogoutDepsWithoutServer): LogoutDeps {
  return logoutDepsFrom({
    issuer: deps.config.issuer,
    idTokenKey: (alg) => deps.keyring.idTokenKey(alg),
    clock: deps.clock,
    logger: deps.logger,
    storage: deps.storage,
    ssoSessions: deps.redis ? new RedisSsoSessionStore(deps.redis) : undefined,
    publish: deps.publish,
    audit: deps.audit,
    retryDelays: deps.config.auth?.backchannel_logout?.retry_delays,
  });
}
