// Ending SSO sessions, the one code path behind RP-initiated logout (endpoints/logout.ts),
// `drawbridge session revoke` and `drawbridge user revoke` (sign out everywhere). Ending a
// session: its record deleted; the tokens of every grant made in it revoked (refresh tokens
// granted offline_access excepted: they exist to outlive the session) and each announced
// to the gateways; `session.revoked` published; a back-channel logout token sent to every
// client that received tokens in it. Deliveries are stored, then attempted at once in the
// background; a failed one is retried by the auth servers (retries.ts). Callers that must
// wait for the first attempts (the CLI, before it exits) await `deliveries`.
import type { Clock } from '../../core/clock.js';
import type { AuditLog } from '../../observability/audit.js';
import type { Logger } from '../../observability/logger.js';
import type { SsoSessionRecord, SsoSessionRepo, Storage } from '../../storage/types.js';
import type { AuthContext } from '../context.js';
import { accessTokenRevocations, type RevocationEvent } from '../events.js';
import { AttemptsUnderWay, RetryAlarm, backchannelTargets, sendBackchannelLogouts, type BackchannelClient, type BackchannelDeps, type DeliveryResult } from './backchannel.js';

export interface LogoutDeps extends BackchannelDeps {
  storage: Storage;
  /** where the SSO sessions live (Redis or SQL, as the auth server chooses) */
  ssoSessions: SsoSessionRepo;
  /** tells the gateways; never rejects */
  publish(event: RevocationEvent): Promise<void>;
}

/** What a process ends sessions with, wherever it finds each part; logoutDepsFrom assembles LogoutDeps from it. */
export interface LogoutSources {
  issuer: string;
  /** the key that signs a client's logout tokens: its ID token key (Keyring.idTokenKey) */
  idTokenKey: LogoutDeps['signingKey'];
  clock: Clock;
  logger: Logger;
  storage: Storage;
  /** where the SSO sessions live (Redis when `redis:` is set); absent: storage's */
  ssoSessions?: SsoSessionRepo | undefined;
  /** a client by id (the auth server's client cache); absent: read from storage */
  client?: (id: string) => Promise<BackchannelClient | null | undefined>;
  publish: LogoutDeps['publish'];
  audit?: AuditLog | undefined;
  /** `auth.backchannel_logout.retry_delays`; absent: the default schedule (backchannel.ts) */
  retryDelays?: readonly number[] | undefined;
  /** the auth server's own: its attempts under way (ended by its stop), its retry loop told of the retries they schedule */
  server?: boolean;
}

/**
 * The one place LogoutDeps is assembled: for the auth server (logoutDeps), a gateway started
 * alone (users/sign-out.ts) and `drawbridge session` / `user revoke`. Only the auth server
 * tracks its attempts and retries them; the others make first attempts and leave failed ones
 * in storage for the auth servers.
 */
export function logoutDepsFrom(src: LogoutSources): LogoutDeps {
  const client = src.client ?? ((id: string) => src.storage.clients.get(id));
  return {
    issuer: src.issuer,
    signingKey: src.idTokenKey,
    clock: src.clock,
    logger: src.logger,
    storage: src.storage,
    ssoSessions: src.ssoSessions ?? src.storage.ssoSessions,
    client: async (id) => (await client(id)) ?? undefined,
    publish: src.publish,
    ...(src.audit ? { audit: src.audit } : {}),
    ...(src.retryDelays ? { retryDelays: src.retryDelays } : {}),
    // the server's retry loop (retries.ts) learns of the retries its own first attempts schedule
    ...(src.server ? { underWay: new AttemptsUnderWay(), retryAlarm: new RetryAlarm() } : {}),
  };
}

const depsByContext = new WeakMap<AuthContext, LogoutDeps>();

/** The auth server's LogoutDeps (one per server): its SSO store, client cache, event bus, current key and audit log. */
export function logoutDeps(ctx: AuthContext): LogoutDeps {
  let deps = depsByContext.get(ctx);
  if (deps === undefined) {
    deps = logoutDepsFrom({
      issuer: ctx.endpoints.issuer,
      idTokenKey: (alg) => ctx.keyring.idTokenKey(alg),
      clock: ctx.clock,
      logger: ctx.logger,
      storage: ctx.storage,
      ssoSessions: ctx.ssoSessions,
      client: (id) => ctx.clients.get(id),
      publish: (event) => ctx.events.publish(event),
      audit: ctx.audit,
      retryDelays: ctx.config.auth?.backchannel_logout?.retry_delays,
      server: true,
    });
    depsByContext.set(ctx, deps);
  }
  return deps;
}

export interface SessionEnded {
  sid: string;
  user_id: string;
  /** the clients that received tokens in the session, in the order they did */
  clients: string[];
  tokens_revoked: number;
  /** one result per client with a backchannel_logout_uri; resolves when each first attempt is over (failed ones stay pending) */
  deliveries: Promise<DeliveryResult[]>;
}

export async function endSsoSession(deps: LogoutDeps, session: Pick<SsoSessionRecord, 'id' | 'user_id'>): Promise<SessionEnded> {
  const now = deps.clock.now();
  // the session is gone before its grants are read: a grant recorded too late to be read
  // finds it gone once its tokens are stored, and takes them back (grants/session-still-alive.ts)
  const grants = await deps.ssoSessions.end(session.id);
  let revoked = 0;
  for (const grant of grants) {
    const tokens = await deps.storage.tokens.revokeGrant(grant.grant_id, now, { keepOffline: true });
    revoked += tokens.length;
    for (const e of accessTokenRevocations(tokens)) await deps.publish(e);
  }
  await deps.publish({ type: 'session.revoked', sid: session.id });
  const clientIds = [...new Set(grants.map((g) => g.client_id))];
  const clients: BackchannelClient[] = [];
  for (const id of clientIds) {
    const c = await deps.client(id);
    if (c) clients.push(c);
  }
  const deliveries = sendBackchannelLogouts(deps, backchannelTargets(clients, session.user_id, session.id));
  return { sid: session.id, user_id: session.user_id, clients: clientIds, tokens_revoked: revoked, deliveries };
}

export interface UserSignedOut {
  sessions: SessionEnded[];
  /** every token of the user revoked, offline ones included */
  tokens_revoked: number;
  deliveries: Promise<DeliveryResult[]>;
}

/** Sign out everywhere: every session ended as above, then every token of the user revoked. */
export async function endUserSessions(deps: LogoutDeps, userId: string): Promise<UserSignedOut> {
  const sessions: SessionEnded[] = [];
  for (const s of await deps.ssoSessions.listByUser(userId)) sessions.push(await endSsoSession(deps, s));
  // a session started meanwhile, or left behind in the store not in use
  await deps.ssoSessions.deleteByUser(userId);
  if (deps.ssoSessions !== deps.storage.ssoSessions) await deps.storage.ssoSessions.deleteByUser(userId);
  const rest = await deps.storage.tokens.revokeBySubject(userId, deps.clock.now());
  await deps.publish({ type: 'user.revoked', sub: userId });
  const deliveries = Promise.all(sessions.map((s) => s.deliveries)).then((all) => all.flat());
  return { sessions, tokens_revoked: rest + sessions.reduce((n, s) => n + s.tokens_revoked, 0), deliveries };
}
