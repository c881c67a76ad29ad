import type { IncomingMessage } from 'node:http';
import type { FormParams } from '../../core/http.js';
import type { Client } from '../clients.js';
import type { AuthContext } from '../context.js';

export interface GrantRequest {
  req: IncomingMessage;
  params: FormParams;
  client: Client;
}

/** A token endpoint response body (RFC 6749 §5.1). */
export type TokenResponse = Record<string, unknown> & { access_token: string; token_type: string; expires_in: number };

export interface Grant {
  /** public clients may use it (authorization_code, refresh_token); client_credentials may not */
  allowPublic: boolean;
  handle(ctx: AuthContext, r: GrantRequest): Promise<TokenResponse>;
}
