// The implicit flow's answer (RFC 6749 §4.2.2, OIDC Core §3.2.2.5): the tokens themselves,
// at the redirect URI (fragment or form_post, never the query). An access token for `token`,
// an ID token for `id_token` (with the request's nonce, and at_hash when an access token comes
// with it); never a refresh token. The grant is recorded with the SSO session so logout ends
// it like a code-flow grant.
import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../../../observability/audit.js';
import type { SsoSessionRecord } from '../../../storage/types.js';
import type { AuthContext } from '../../context.js';
import { issueAccessToken, userAccessClaims } from '../../tokens/access-token.js';
import { issueIdToken } from '../../tokens/id-token.js';
import { confirmIssued } from '../../grants/confirm-issued.js';
import { AuthorizationError, type AuthorizationRequest } from './request.js';

export async function issueImplicit(
  ctx: AuthContext,
  r: AuthorizationRequest,
  session: SsoSessionRecord,
  audit: AuditLog = ctx.audit,
): Promise<Array<[string, string]>> {
  const user = await ctx.storage.users.get(session.user_id);
  if (!user || user.locked) throw new AuthorizationError('access_denied', 'the user is no longer active');
  const types = new Set(r.responseType.split(' '));
  const grantId = randomUUID();
  const out: Array<[string, string]> = [];
  let accessToken: string | undefined;
  if (types.has('token')) {
    const issued = await issueAccessToken(ctx, { client: r.client, sub: user.id, scope: r.scope, audience: r.resources, grantId, extra: userAccessClaims(user, r.scope, { sid: session.id }) });
    accessToken = issued.access_token;
    out.push(['access_token', issued.access_token], ['token_type', issued.token_type], ['expires_in', String(issued.expires_in)]);
    if (issued.scope !== '') out.push(['scope', issued.scope]);
  }
  if (types.has('id_token')) {
    const idToken = issueIdToken(ctx, {
      clientId: r.client.client_id, alg: r.client.id_token_signed_response_alg, user, scope: r.scope, nonce: r.nonce ?? null, authTime: session.auth_time, sid: session.id,
      amr: session.amr, acr: session.acr, ...(accessToken !== undefined ? { accessToken } : {}),
    });
    out.push(['id_token', idToken]);
  }
  const now = ctx.clock.now();
  await (ctx.ssoSessions ?? ctx.storage.ssoSessions).addGrant(session.id, r.client.client_id, grantId, now);
  // a lock (or delete) of the user since the read above revoked their tokens before ours were
  // stored (grants/user-still-active.ts), and a logout since the session was read did not see
  // this grant (grants/session-still-alive.ts): look again, as the token endpoint's grants do
  const refused = await confirmIssued(ctx, { grantId, userId: user.id, sid: session.id });
  if (refused !== undefined) throw new AuthorizationError('access_denied', refused.reason === 'session' ? 'the session has ended' : 'the user is no longer active');
  audit.record({
    event: 'token.issued', grant_type: 'implicit', response_type: r.responseType, client_id: r.client.client_id,
    sub: user.id, username: user.username, scope: r.scope.join(' '), issued: [...types].map((t) => (t === 'token' ? 'access_token' : t)),
  });
  return out;
}
