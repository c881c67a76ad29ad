import type { IncomingMessage } from 'node:http';
import type { ClientAuthMethod } from '../../config/types.js';
import type { FormParams } from '../../core/http.js';
import type { AuthContext } from '../context.js';
import type { Client } from '../clients.js';

/** What the request presented, before any client is looked up. */
export interface PresentedCredentials {
  method: ClientAuthMethod;
  clientId: string;
  /** secret for the secret methods, assertion JWT for private_key_jwt */
  credential?: string;
}

export interface ClientAuthRequest {
  req: IncomingMessage;
  params: FormParams;
  /** URL of the endpoint being called: an accepted `aud` of client assertions */
  endpoint: string;
}

/**
 * One file per method: checks the presented credential against the client. Throws
 * invalid_client. A check that needs no I/O (client secrets) returns nothing instead of a
 * promise, so the common request has nothing to await.
 */
export type ClientAuthenticator = (
  ctx: AuthContext,
  client: Client,
  presented: PresentedCredentials,
  endpoint: string,
) => void | Promise<void>;
