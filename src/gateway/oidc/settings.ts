// What the session authenticators need from the gateway: the session store
// (GatewayDeps.sessions, built from `gateway.sessions`) and its settings, plus the per-gateway
// table of relying parties (oidc-login configurations) that the `session` plugin and the
// /_drawbridge/* endpoints look sessions' providers up in.
import { ConfigError } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../observability/logger.js';
import type { SessionStore } from '../../sessions/types.js';
import { sessionCacheOf, type GatewaySessionCache } from '../session-events.js';
import type { EventBus, GatewayDeps } from '../types.js';
import type { RelyingParty } from './relying-party.js';

/** `gateway.sessions` (seconds). */
export interface SessionSettings {
  cookie_name: string;
  idle_timeout: number;
  absolute_timeout: number;
  /** refresh the access token this long before it expires */
  refresh_before: number;
}

const DEFAULT_SESSION_SETTINGS: SessionSettings = Object.freeze({
  cookie_name: 'drawbridge_session',
  idle_timeout: 30 * 60,
  absolute_timeout: 12 * 3600,
  refresh_before: 60,
});

/** GatewayDeps as the session plugins read them. */
type SessionDeps = GatewayDeps & { sessions?: SessionStore };

export interface SessionContext {
  store: SessionStore;
  /**
   * The per-request read cache in front of `store` (one per gateway), and the way to
   * announce sessions ended here: whoever deletes sessions calls `cache.ended(ids)`.
   */
  cache: GatewaySessionCache;
  settings: SessionSettings;
  registry: RelyingPartyRegistry;
  clock: Clock;
  logger: Logger;
  /** master secret (session tokens and login state are sealed under keys derived from it) */
  secret: string;
}

/** The store and settings, or a ConfigError at `path` when the gateway has no session store. */
export function sessionContext(deps: GatewayDeps, path: string): SessionContext {
  const d = deps as SessionDeps;
  if (d.sessions === undefined) throw new ConfigError(path, 'session plugins need a session store: configure gateway.sessions (and redis: for store redis)');
  return {
    store: d.sessions,
    cache: sessionCacheOf(deps.events, deps.logger),
    settings: { ...DEFAULT_SESSION_SETTINGS, ...d.sessionSettings },
    registry: registryOf(deps.events),
    clock: deps.clock,
    logger: deps.logger,
    secret: deps.secret,
  };
}

/**
 * The relying parties of one gateway, by key (issuer + client_id). A reload replaces
 * entries; one that disappears from the config stays known until restart, so sessions it
 * started can still log out cleanly.
 */
class RelyingPartyRegistry {
  readonly #byKey = new Map<string, RelyingParty>();

  add(rp: RelyingParty): void {
    this.#byKey.set(rp.key, rp);
  }

  get(key: string): RelyingParty | undefined {
    return this.#byKey.get(key);
  }

  /** the relying party that signs sessions of (issuer, client_id) */
  find(issuer: string, clientId: string): RelyingParty | undefined {
    return this.#byKey.get(relyingPartyKey(issuer, clientId));
  }

  all(): RelyingParty[] {
    return [...this.#byKey.values()];
  }
}

export function relyingPartyKey(issuer: string, clientId: string): string {
  return `${issuer} ${clientId}`;
}

const registries = new WeakMap<EventBus, RelyingPartyRegistry>();

export function registryOf(events: EventBus): RelyingPartyRegistry {
  let found = registries.get(events);
  if (found === undefined) {
    found = new RelyingPartyRegistry();
    registries.set(events, found);
  }
  return found;
}
