// Resource owner password credentials (RFC 6749 §4.3). Legacy: RFC 9700 §2.4 says MUST NOT,
// so it is off unless a client lists `password` in grant_types (and start.ts warns then).
// The login goes through verifyLogin: the brute-force guard, and one answer (invalid_grant)
// whether the username is unknown, the account locked or the password wrong. Users with a
// second factor (or signing in to a client with `mfa: required`) are refused: this grant has no
// way to ask for it.
import { randomUUID } from 'node:crypto';
import { invalidGrant, tooManyRequests } from '../../core/errors.js';
import { remoteAddress } from '../../core/http.js';
import { grantedScopes, requestedResources } from '../scope.js';
import { issueAccessToken, userAccessClaims } from '../tokens/access-token.js';
import { issueRefreshToken } from '../tokens/refresh-token.js';
import { verifyLogin } from '../users/verify-login.js';
import type { UserRecord } from '../../storage/types.js';
import { noteSubject, requestAudit } from '../request-scope.js';
import type { Grant, TokenResponse } from './types.js';
import { confirmIssued } from './confirm-issued.js';

export const password: Grant = {
  allowPublic: true,
  handle: async function passwordGrant(ctx, { req, params, client }) {
    const username = params.require('username');
    const secret = params.require('password');
    const scope = grantedScopes(client, params.get('scope'));
    const audience = requestedResources(client, params);
    // a user with a second factor is refused below: the right password must not clear the
    // failures then, or it would reset the count of TOTP codes guessed on the login page
    const needsMfa = async (u: UserRecord): Promise<boolean> => {
      const mfa = await ctx.storage.users.getMfa(u.id);
      return client.mfa === 'required' || (mfa !== undefined && (mfa.required || mfa.totp_confirmed_at !== null));
    };
    const login = await verifyLogin(ctx, username, secret, remoteAddress(req), undefined, requestAudit(ctx, req), { secondFactorFollows: needsMfa });
    if (!login.user) {
      if (!login.allowed) throw tooManyRequests(login.retryAfter, 'too many failed logins; try again later');
      throw invalidGrant('invalid username or password');
    }
    const user = login.user;
    if (await needsMfa(user)) throw invalidGrant('MFA required: use the authorization code flow');
    const grantId = randomUUID();
    noteSubject(req, user.id);
    const access = await issueAccessToken(ctx, { client, sub: user.id, scope, audience, grantId, extra: userAccessClaims(user, scope, { username: user.username }) });
    const body: TokenResponse = { access_token: access.access_token, token_type: access.token_type, expires_in: access.expires_in };
    if (client.grantSet.has('refresh_token')) {
      // no SSO session to outlive here: the refresh token lives its full lifetimes
      body.refresh_token = await issueRefreshToken(ctx, { client, sub: user.id, scope, grantId, offline: true });
    }
    if (access.scope !== '') body.scope = access.scope;
    // the user locked or deleted while this request was under way (confirm-issued.ts)
    if ((await confirmIssued(ctx, { grantId, userId: user.id })) !== undefined) throw invalidGrant('the user is no longer active');
    ctx.logger.info({ event: 'token.issued', grant_type: 'password', client_id: client.client_id, user_id: user.id }, 'token issued');
    return body;
  },
};
