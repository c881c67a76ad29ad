// The gateway's browser sessions as a source of `drawbridge session list|revoke` (rows of
// kind `gateway`), read from the store `gateway.sessions` names (Redis or the SQL database).
// Revoking deletes them from the shared store and, with Redis configured, announces the
// ended ids (`gateway-session.ended`) so that every running gateway drops its cached copy
// at once (without Redis they stop serving it within their 1 s session-cache TTL); the
// user's tokens at the auth server are revoked by the `sso` source.
import { systemClock } from '../../core/clock.js';
import { StartupError } from '../errors.js';
import { SESSION_CACHE_TTL_MS } from '../../sessions/cache.js';
import type { GatewaySession } from '../../sessions/types.js';
import type { SessionEnv, SessionRow, SessionSource } from './session.js';

export async function openGatewaySessionSource(env: SessionEnv): Promise<SessionSource | undefined> {
  const { cfg, storage } = env;
  // loaded on demand: most commands never touch gateway sessions
  const { openSessionStore, sessionStoreKind } = await import('../../sessions/open.js');
  const kind = sessionStoreKind(cfg);
  if (kind === 'redis' && cfg.redis === undefined) return undefined;
  let store;
  try {
    store = await openSessionStore({ config: cfg, storage, connectWaitMs: 2000 });
  } catch (err) {
    throw new StartupError(`gateway sessions: ${(err as Error).message}`, 1, err);
  }
  if (kind === 'redis') {
    try {
      await store.ping();
    } catch (err) {
      await store.close();
      throw new StartupError(`redis: cannot connect (${(err as Error).message}); the gateway sessions live there`, 1, err);
    }
  }
  const open = store;
  const announce = async (ids: string[]): Promise<void> => {
    if (ids.length === 0 || cfg.redis === undefined) return;
    const { publishOnce } = await import('../../cache/events.js');
    if (!(await publishOnce(cfg.redis, { type: 'gateway-session.ended', ids }))) {
      process.stderr.write(`drawbridge: warning: could not notify running gateways over redis; they drop cached sessions within ${SESSION_CACHE_TTL_MS / 1000} s\n`);
    }
  };
  const idle = cfg.gateway?.sessions.idle_timeout;
  const live = (s: GatewaySession, now: number) => s.expires_at > now && (idle === undefined || s.last_seen_at + idle > now);
  return {
    kind: 'gateway',
    async list(user) {
      const now = systemClock.now();
      return (await open.listByUser(user.id)).filter((s) => live(s, now)).map(rowOf);
    },
    async revokeUser(user) {
      const rows = (await open.listByUser(user.id)).map(rowOf);
      const ended = new Set(await open.deleteByUser(user.id));
      await announce([...ended]);
      return { sessions: rows.filter((r) => ended.has(r.id)), tokens_revoked: 0, backchannel: [] };
    },
    async revokeId(id) {
      const s = await open.get(id);
      if (!s || !(await open.delete(id))) return undefined;
      await announce([id]);
      return { sessions: [rowOf(s)], tokens_revoked: 0, backchannel: [] };
    },
    close: () => open.close(),
  };
}

function rowOf(s: GatewaySession): SessionRow {
  const amr = Array.isArray(s.claims.amr) ? s.claims.amr.filter((x): x is string => typeof x === 'string') : [];
  return {
    kind: 'gateway',
    id: s.id,
    user: s.sub,
    created_at: s.created_at,
    last_seen_at: s.last_seen_at,
    expires_at: s.expires_at,
    amr,
    // the client the gateway signed in as (the provider issued its tokens to it)
    clients: [s.client_id],
  };
}
