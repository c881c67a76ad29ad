// Token endpoint (RFC 6749 §3.2): form POST → grant → JSON, never cached.
import { invalidRequest, unauthorizedClient, unsupportedGrantType } from '../../core/errors.js';
import { readForm, sendNoStoreJson } from '../../core/http.js';
import { authenticateClient } from '../client-auth/index.js';
import { GRANTS } from '../grants/index.js';
import type { GrantType } from '../../config/types.js';
import { noteClient, requestAudit, requestScope } from '../request-scope.js';
import type { Endpoint } from './types.js';

export const tokenEndpoint: Endpoint = {
  methods: ['POST'],
  handle: async function token(ctx, req, res) {
    const params = await readForm(req, ctx.auth.max_body_size);
    const grantType = params.get('grant_type');
    if (grantType === undefined) throw invalidRequest('missing required parameter "grant_type"');
    const grant = Object.prototype.hasOwnProperty.call(GRANTS, grantType) ? GRANTS[grantType as GrantType] : undefined;
    if (!grant) throw unsupportedGrantType(`grant type "${grantType}" is not supported`);
    const client = await authenticateClient(ctx, { req, params, endpoint: ctx.endpoints.token }, { allowPublic: grant.allowPublic });
    if (!client.grantSet.has(grantType as GrantType)) {
      throw unauthorizedClient(`client is not allowed to use the ${grantType} grant`);
    }
    noteClient(req, client.client_id);
    const body = await grant.handle(ctx, { req, params, client });
    requestAudit(ctx, req).record({
      event: grantType === 'refresh_token' ? 'token.refreshed' : 'token.issued',
      grant_type: grantType,
      client_id: client.client_id,
      sub: requestScope(req)?.sub,
      scope: typeof body.scope === 'string' ? body.scope : '',
      issued: ['access_token', 'refresh_token', 'id_token'].filter((k) => typeof body[k] === 'string'),
    });
    sendNoStoreJson(res, 200, body);
  },
};
