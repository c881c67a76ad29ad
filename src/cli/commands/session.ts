// `drawbridge session list|revoke`: a user's sessions, and ending them. Rows come from session
// sources, one per kind: `sso` (the auth server's login sessions, SQL or Redis as the server
// keeps them) now; gateway sessions slot in as another SessionSource. Revoking goes through
// the auth server's own logout path (src/auth/logout/end-sessions.ts): tokens revoked,
// gateways told over Redis, back-channel logout tokens sent to the clients concerned.
// `drawbridge user revoke` (sign out everywhere) is `session revoke --user` by another name.
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/types.js';
import { systemClock } from '../../core/clock.js';
import type { DeliveryResult } from '../../auth/logout/backchannel.js';
import type { LogoutDeps } from '../../auth/logout/end-sessions.js';
import { pino } from 'pino';
import type { AuditLog } from '../../observability/audit.js';
import type { Storage, UserRecord } from '../../storage/types.js';
import { existingUser } from '../../auth/users/manage.js';
import type { SignedOut } from '../../auth/users/sign-out.js';
import { signedOutAnswer } from '../../core/signed-out.js';
import { StartupError } from '../errors.js';
import { openGatewaySessionSource } from './gateway-sessions.js';
import { openAudit, print, printTable, readConfig, UsageError, withStorage } from '../shared.js';

const CONFIG_OPTION = ['-c, --config <file>', 'config file; default $DRAWBRIDGE_CONFIG'] as const;
/** Shown in tables; --id accepts it together with --user. */
const ID_PREFIX = 12;

/** One session, whatever its kind. Times are epoch seconds. */
export interface SessionRow {
  kind: 'sso' | 'gateway';
  id: string;
  user: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  amr: string[];
  /** clients (sso) or services (gateway) the session was used with */
  clients: string[];
}

interface RevokeOutcome {
  sessions: SessionRow[];
  tokens_revoked: number;
  backchannel: DeliveryResult[];
}

/** Where sessions of one kind live. Opened per command, closed after it. */
export interface SessionSource {
  kind: SessionRow['kind'];
  list(user: UserRecord): Promise<SessionRow[]>;
  /** ends every session of the user (and what goes with them) */
  revokeUser(user: UserRecord): Promise<RevokeOutcome>;
  /** ends one session by id; undefined when this source has no such session */
  revokeId(id: string): Promise<RevokeOutcome | undefined>;
  close(): Promise<void>;
}

export interface SessionEnv {
  cfg: Config;
  storage: Storage;
  /** the audit log the caller has open (and closes); without it a source opens its own */
  audit?: AuditLog;
}

/** Every session source this build knows; a gateway-session source is appended here. */
const SESSION_SOURCES: Array<(env: SessionEnv) => Promise<SessionSource | undefined>> = [openSsoSource, openGatewaySessionSource];

export function registerSessionCommands(program: Command): void {
  const session = program.command('session').description("users' sessions: list, revoke");

  session
    .command('list')
    .description("list a user's sessions (id prefix, created, last seen, expires, amr, clients)")
    .requiredOption('--user <username>', 'whose sessions')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON (full ids, epoch-second times)')
    .action(async function listSessions(opts: { config?: string; user: string; json?: boolean }) {
      const cfg = readConfig(opts);
      await withSources(cfg, async (storage, sources) => {
        const user = await existingUser(storage, opts.user);
        const rows: SessionRow[] = [];
        for (const source of sources) rows.push(...(await source.list(user)));
        rows.sort((a, b) => a.created_at - b.created_at);
        if (opts.json) {
          print(JSON.stringify(rows, null, 2));
          return;
        }
        if (rows.length === 0) {
          print(`${user.username} has no sessions`);
          return;
        }
        printTable(
          rows.map((r) => ({
            kind: r.kind,
            id: r.id.slice(0, ID_PREFIX),
            created: isoTime(r.created_at),
            last_seen: isoTime(r.last_seen_at),
            expires: isoTime(r.expires_at),
            amr: r.amr.join(','),
            clients: r.clients.join(','),
          })),
          ['kind', 'id', 'created', 'last_seen', 'expires', 'amr', 'clients'],
        );
      });
    });

  session
    .command('revoke')
    .description("end sessions: --user ends all of a user's sessions and revokes their tokens (sign out everywhere); --id ends one")
    .option('--user <username>', 'every session of this user, and all their access and refresh tokens')
    .option('--id <id>', 'one session: its full id, or with --user the prefix `session list` shows')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON')
    .action(async function revokeSessions(opts: { config?: string; user?: string; id?: string; json?: boolean }) {
      if (opts.user === undefined && opts.id === undefined) throw new UsageError('session revoke: give --user NAME or --id ID');
      const cfg = readConfig(opts);
      await withSources(cfg, async (storage, sources) => {
        const user = opts.user === undefined ? undefined : await existingUser(storage, opts.user);
        let outcome: RevokeOutcome;
        if (opts.id === undefined) {
          outcome = await revokeUserSessions(sources, user!);
        } else {
          const id = user ? await resolvePrefix(sources, user, opts.id) : opts.id;
          const found = await revokeSessionId(sources, id);
          if (!found || (user && found.sessions.some((s) => s.user !== user.id))) throw new UsageError(`no session "${opts.id}"`);
          outcome = found;
        }
        report(outcome, opts.json === true, user?.username);
      });
    });
}

/**
 * Sign out everywhere, as `session revoke --user` does, for (through manage.ts) `user
 * revoke|lock|delete|set-password --sign-out`, whose audit log is handed in: the file is
 * opened once per command.
 */
async function signOutEverywhere(cfg: Config, storage: Storage, user: UserRecord, audit?: AuditLog): Promise<RevokeOutcome> {
  const sources = await openSources({ cfg, storage, ...(audit !== undefined && { audit }) });
  try {
    return await revokeUserSessions(sources, user);
  } finally {
    await closeAll(sources);
  }
}

/** signOutEverywhere as manage.ts's UserChangeDeps.signOut wants it. */
export async function signOutForUserChange(cfg: Config, storage: Storage, user: UserRecord, audit: AuditLog): Promise<SignedOut> {
  const outcome = await signOutEverywhere(cfg, storage, user, audit);
  return { sessions: outcome.sessions.map((s) => ({ kind: s.kind, id: s.id, clients: s.clients })), tokens_revoked: outcome.tokens_revoked, backchannel: outcome.backchannel };
}

async function revokeUserSessions(sources: SessionSource[], user: UserRecord): Promise<RevokeOutcome> {
  const all: RevokeOutcome = { sessions: [], tokens_revoked: 0, backchannel: [] };
  for (const source of sources) merge(all, await source.revokeUser(user));
  return all;
}

async function revokeSessionId(sources: SessionSource[], id: string): Promise<RevokeOutcome | undefined> {
  for (const source of sources) {
    const outcome = await source.revokeId(id);
    if (outcome) return outcome;
  }
  return undefined;
}

async function resolvePrefix(sources: SessionSource[], user: UserRecord, prefix: string): Promise<string> {
  const ids = new Set<string>();
  for (const source of sources) for (const row of await source.list(user)) if (row.id.startsWith(prefix)) ids.add(row.id);
  if (ids.size === 0) throw new UsageError(`${user.username} has no session "${prefix}"`);
  if (ids.size > 1) throw new UsageError(`"${prefix}" names ${ids.size} sessions of ${user.username}; give more of the id`);
  return [...ids][0]!;
}

function merge(into: RevokeOutcome, from: RevokeOutcome): void {
  into.sessions.push(...from.sessions);
  into.tokens_revoked += from.tokens_revoked;
  into.backchannel.push(...from.backchannel);
}

function report(outcome: RevokeOutcome, json: boolean, username: string | undefined): void {
  if (json) {
    // in the words of `user revoke --json` and the admin API's POST /users/{username}/logout:
    // `username` (with --user) beside core/signed-out.ts's fields
    const answer = signedOutAnswer({ sessions: outcome.sessions.map((s) => ({ kind: s.kind, id: s.id, clients: s.clients })), tokens_revoked: outcome.tokens_revoked, backchannel: outcome.backchannel });
    print(JSON.stringify({ ...(username !== undefined ? { username } : {}), ...answer }, null, 2));
    return;
  }
  const who = username === undefined ? '' : ` of ${username}`;
  print(`ended ${outcome.sessions.length} session(s)${who}; revoked ${outcome.tokens_revoked} token(s)`);
  printBackchannel(outcome.backchannel);
}

/** The back-channel logout line (none without deliveries), for every command that ends sessions. */
export function printBackchannel(backchannel: DeliveryResult[]): void {
  if (backchannel.length === 0) return;
  // a delivery whose first attempt failed is stored: the auth servers retry it
  const pending = backchannel.filter((d) => !d.delivered && d.pending === true);
  const failed = backchannel.filter((d) => !d.delivered && d.pending !== true);
  const named = (ds: DeliveryResult[]) => (ds.length > 0 ? ` (${ds.map((d) => d.client_id).join(', ')})` : '');
  const retried = pending.length > 0 ? `, ${pending.length} to be retried by the auth server${named(pending)}` : '';
  print(`back-channel logout: ${backchannel.length - failed.length - pending.length} delivered, ${failed.length} failed${named(failed)}${retried}`);
}

async function withSources<T>(cfg: Config, fn: (storage: Storage, sources: SessionSource[]) => Promise<T>): Promise<T> {
  return withStorage(cfg, async (storage) => {
    const sources = await openSources({ cfg, storage });
    try {
      return await fn(storage, sources);
    } finally {
      await closeAll(sources);
    }
  });
}

async function openSources(env: SessionEnv): Promise<SessionSource[]> {
  const sources: SessionSource[] = [];
  try {
    for (const open of SESSION_SOURCES) {
      const source = await open(env);
      if (source) sources.push(source);
    }
  } catch (err) {
    await closeAll(sources);
    throw err;
  }
  return sources;
}

async function closeAll(sources: SessionSource[]): Promise<void> {
  await Promise.allSettled(sources.map((s) => s.close()));
}

function isoTime(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

// ─── sso: the auth server's login sessions ───

/** The auth server's SSO sessions, where it keeps them: Redis when `redis:` is set, else SQL. */
async function openSsoSource(env: SessionEnv): Promise<SessionSource> {
  const { cfg, storage } = env;
  // warnings (back-channel retries) on stderr: stdout carries the command's output (--json)
  const logger = pino({ name: 'drawbridge', level: 'warn', base: undefined }, pino.destination({ dest: 2, sync: true }));
  let redis: Redis | undefined;
  let ssoSessions = storage.ssoSessions;
  if (cfg.redis) {
    // loaded on demand: only configurations with Redis need a client
    const { Redis } = await import('ioredis');
    const { RedisSsoSessionStore } = await import('../../auth/sessions/redis-store.js');
    redis = new Redis(cfg.redis, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 1, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new StartupError(`redis: cannot connect (${(err as Error).message}); the SSO sessions live there`, 1);
    }
    ssoSessions = new RedisSsoSessionStore(redis);
  }
  const { EVENTS_CHANNEL } = await import('../../cache/events.js');
  const { endSsoSession, logoutDepsFrom } = await import('../../auth/logout/end-sessions.js');
  const { signOutUser } = await import('../../auth/users/sign-out.js');
  // the keyring signs logout tokens; started only when a client wants one
  let signingKey: LogoutDeps['signingKey'] = () => {
    throw new Error('no signing key loaded');
  };
  let keyringStarted = false;
  let publishFailed = false;
  const deps = logoutDepsFrom({
    issuer: cfg.issuer,
    idTokenKey: (alg) => signingKey(alg),
    clock: systemClock,
    logger,
    storage,
    ssoSessions,
    retryDelays: cfg.auth?.backchannel_logout?.retry_delays,
    client: async (id) => {
      const c = await storage.clients.get(id);
      if (c?.backchannel_logout_uri && !keyringStarted) {
        keyringStarted = true;
        const { openKeyring } = await import('../run.js');
        const keyring = openKeyring({ ...cfg, keys: { ...cfg.keys, refresh_interval: 0 } }, storage, systemClock, logger);
        await keyring.start();
        signingKey = (alg) => keyring.idTokenKey(alg);
      }
      return c;
    },
    publish: async (event) => {
      if (!redis || publishFailed) return;
      try {
        await redis.publish(EVENTS_CHANNEL, JSON.stringify(event));
      } catch {
        publishFailed = true;
        process.stderr.write('drawbridge: warning: could not notify running gateways over redis; they drop cached tokens within their cache TTL\n');
      }
    },
  });
  const audit = env.audit ?? (await openAudit(cfg));
  const rowOf = async (s: { id: string; user_id: string; created_at: number; last_seen_at: number; expires_at: number; amr: string[] }): Promise<SessionRow> => ({
    kind: 'sso',
    id: s.id,
    user: s.user_id,
    created_at: s.created_at,
    last_seen_at: s.last_seen_at,
    expires_at: s.expires_at,
    amr: s.amr,
    clients: [...new Set((await ssoSessions.grants(s.id)).map((g) => g.client_id))],
  });
  return {
    kind: 'sso',
    async list(user) {
      const now = systemClock.now();
      const idle = cfg.auth?.sessions?.idle_timeout;
      const live = (await ssoSessions.listByUser(user.id)).filter((s) => s.expires_at > now && (idle === undefined || s.last_seen_at + idle > now));
      return Promise.all(live.map(rowOf));
    },
    async revokeUser(user) {
      const rows = await Promise.all((await ssoSessions.listByUser(user.id)).map(rowOf));
      const done = await signOutUser(deps, audit, user, { source: 'cli' });
      return { sessions: rows, tokens_revoked: done.tokens_revoked, backchannel: done.backchannel };
    },
    async revokeId(id) {
      const rec = await ssoSessions.get(id);
      if (!rec) return undefined;
      const row = await rowOf(rec);
      const done = await endSsoSession(deps, rec);
      const backchannel = await done.deliveries;
      audit.record({ event: 'session.revoked', user_id: rec.user_id, sid: rec.id, clients: done.clients, source: 'cli' });
      return { sessions: [row], tokens_revoked: done.tokens_revoked, backchannel };
    },
    async close() {
      if (env.audit === undefined) await audit.close?.();
      redis?.disconnect();
    },
  };
}
