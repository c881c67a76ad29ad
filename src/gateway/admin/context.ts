// What every admin handler gets, resolved once when the admin server starts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../../config/types.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../observability/logger.js';
import type { SessionStore } from '../../sessions/types.js';
import type { Storage } from '../../storage/types.js';
import type { CredentialKeys } from '../credentials.js';
import type { Metrics } from '../metrics.js';
import type { EventBus, PluginFactory } from '../types.js';

export interface AdminContext {
  storage: Storage;
  events: EventBus;
  keys: CredentialKeys;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  plugins: ReadonlyMap<string, PluginFactory>;
  /** the browser-session store (`gateway.sessions`); absent: /sessions answers 404 */
  sessions?: SessionStore;
  /** the config file's gateway section as currently loaded */
  fileConfig(): GatewayConfig;
  /** what /clients checks a client against, from the config file as currently loaded */
  clientRules(): ClientRules;
  /**
   * Rebuilds the running configuration from the file and the stored entities and applies it
   * on this instance (throws ConfigError when it is invalid), then tells the other instances.
   */
  applyEntities(): Promise<void>;
}

export interface ClientRules {
  issuer: string;
  /** keys.algorithm and keys.id_token_algorithms: a client's ID token alg must be one the keyring keeps */
  keys: Record<string, unknown>;
  /** client_ids of the file's auth.clients: read-only here, and not to be taken by a new client */
  fileClientIds: ReadonlySet<string>;
}

export interface AdminRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** decoded path segments, e.g. ['consumers', 'partner-a', 'key-auth'] */
  segments: string[];
  requestId: string;
}

export type AdminHandler = (ctx: AdminContext, ar: AdminRequest) => Promise<void>;
