// What every endpoint of the auth server works with, resolved once at start.
import type { AuthConfig, Config } from '../config/types.js';
import type { Clock } from '../core/clock.js';
import type { Keyring } from '../crypto/keyring.js';
import type { AuditLog } from '../observability/audit.js';
import type { Logger } from '../observability/logger.js';
import type { SsoSessionRepo, Storage } from '../storage/types.js';
import type { WindowCounter } from '../cache/counter.js';
import type { ClientCache } from './clients.js';
import type { AuthEvents } from './events.js';

export interface Endpoints {
  issuer: string;
  token: string;
  introspection: string;
  revocation: string;
  jwks: string;
  authorization: string;
  userinfo: string;
  /** RP-initiated logout (OIDC `end_session_endpoint`) */
  endSession: string;
  /** pushed authorization requests (RFC 9126) */
  pushedAuthorization: string;
}

export interface AuthContext {
  config: Config;
  auth: AuthConfig;
  storage: Storage;
  keyring: Keyring;
  clock: Clock;
  logger: Logger;
  endpoints: Endpoints;
  /** failed client authentications per client and per IP */
  failures: WindowCounter;
  /** ready-built clients by client_id, fresh within a couple of seconds (see clients.ts) */
  clients: ClientCache;
  /** SSO sessions: Redis when configured, else storage.ssoSessions (see sessions/sso.ts) */
  ssoSessions?: SsoSessionRepo;
  /** revocations announced to every gateway (no-op without Redis or an in-process gateway) */
  events: AuthEvents;
  /** security events as JSON lines (observability/audit.ts); never a secret */
  audit: AuditLog;
}

export function endpointsFor(issuer: string): Endpoints {
  return {
    issuer,
    token: `${issuer}/oauth2/token`,
    introspection: `${issuer}/oauth2/introspect`,
    revocation: `${issuer}/oauth2/revoke`,
    jwks: `${issuer}/.well-known/jwks.json`,
    authorization: `${issuer}/oauth2/authorize`,
    userinfo: `${issuer}/oauth2/userinfo`,
    endSession: `${issuer}/oauth2/logout`,
    pushedAuthorization: `${issuer}/oauth2/par`,
  };
}

/** Path part of an endpoint URL, relative to the listener (the issuer may carry a path). */
export function pathOf(url: string): string {
  return new URL(url).pathname;
}
