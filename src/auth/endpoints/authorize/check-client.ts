// client_id must name a known client allowed to use a redirect flow (the code flow, or the
// implicit flow when enabled for it); otherwise there is no redirect URI we may trust, so the
// error is shown, never redirected.
import type { FormParams } from '../../../core/http.js';
import type { Client } from '../../clients.js';
import type { AuthContext } from '../../context.js';
import { UntrustedRequestError } from './request.js';

export async function checkClient(ctx: AuthContext, params: FormParams): Promise<Client> {
  const clientId = params.get('client_id');
  if (clientId === undefined) throw new UntrustedRequestError('The request names no client (client_id is missing).');
  // an id longer than any client's is no such client, without a lookup (clients.ts)
  const client = await ctx.clients.get(clientId);
  if (!client) throw new UntrustedRequestError('The application is not known (client_id is invalid).');
  if (!client.grantSet.has('authorization_code') && !client.grantSet.has('implicit')) {
    throw new UntrustedRequestError('The application may not use this sign-in flow.');
  }
  return client;
}
