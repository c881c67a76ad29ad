// Token revocation (RFC 7009): the token is inactive at once. Unknown or already invalid
// tokens answer 200 as the RFC requires (§2.2), so the endpoint is no token oracle.
// Tokens exchanged from the revoked ones (RFC 8693), and those exchanged from them, go too:
// delegation ends with the token it was delegated from. `token_type_hint` is only a hint
// (§2.1: the server extends its search to all token types): one lookup finds any token of
// ours, so every hint, unknown ones included, is accepted and not needed.
import { unauthorizedClient } from '../../core/errors.js';
import { readForm } from '../../core/http.js';
import { authenticateClient } from '../client-auth/index.js';
import { accessTokenRevocations, tokenRevoked } from '../events.js';
import { findToken } from '../tokens/resolve.js';
import { requestAudit } from '../request-scope.js';
import type { Endpoint } from './types.js';

export const revocationEndpoint: Endpoint = {
  methods: ['POST'],
  handle: async function revoke(ctx, req, res) {
    const params = await readForm(req, ctx.auth.max_body_size);
    const client = await authenticateClient(ctx, { req, params, endpoint: ctx.endpoints.revocation }, { allowPublic: true });
    const token = params.require('token');
    params.get('token_type_hint'); // accepted (and checked for repeats), as at introspection
    const rec = await findToken(ctx, token);
    if (rec) {
      if (rec.client_id !== client.client_id) throw unauthorizedClient('the token was not issued to this client');
      const now = ctx.clock.now();
      await ctx.storage.tokens.revoke(rec.digest, now);
      // refresh tokens take their whole grant with them (RFC 7009 §2.1)
      const family = rec.kind === 'refresh_token' && rec.grant_id ? await ctx.storage.tokens.revokeGrant(rec.grant_id, now) : [];
      // and the tokens exchanged from it, down the chain (those exchanged from the family's
      // access tokens joined the grant, so they went with it above)
      const exchanged = await ctx.storage.tokens.revokeExchanged([rec.digest], now);
      // every gateway evicts it, the grant's and the exchanged access tokens from its caches at once
      await ctx.events.publish(tokenRevoked(rec));
      for (const e of accessTokenRevocations([...family, ...exchanged])) await ctx.events.publish(e);
      requestAudit(ctx, req).record({
        event: 'token.revoked', client_id: client.client_id, sub: rec.sub, kind: rec.kind, grant_id: rec.grant_id, jti: rec.jti, exchanged_revoked: exchanged.length,
      });
      ctx.logger.info({ event: 'token.revoked', client_id: client.client_id, jti: rec.jti, kind: rec.kind }, 'token revoked');
    }
    res.writeHead(200, { 'cache-control': 'no-store', pragma: 'no-cache', 'content-length': 0 });
    res.end();
  },
};
