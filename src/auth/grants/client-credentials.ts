// client_credentials (RFC 6749 §4.4): the client acts on its own behalf. No refresh token.
// Its targets as at token exchange: `audience` (service names) and `resource` (URIs).
import { grantedScopes, requestedTargets } from '../scope.js';
import { issueAccessToken } from '../tokens/access-token.js';
import { noteSubject } from '../request-scope.js';
import type { Grant } from './types.js';

export const clientCredentials: Grant = {
  allowPublic: false,
  handle: async function clientCredentialsGrant(ctx, { req, params, client }) {
    const scope = grantedScopes(client, params.get('scope'));
    const audience = requestedTargets(client, params);
    const issued = await issueAccessToken(ctx, { client, sub: client.client_id, scope, audience });
    noteSubject(req, client.client_id);
    const body: Record<string, unknown> & { access_token: string; token_type: string; expires_in: number } = {
      access_token: issued.access_token,
      token_type: issued.token_type,
      expires_in: issued.expires_in,
    };
    if (issued.scope !== '') body.scope = issued.scope;
    return body;
  },
};
