// Authorization server metadata (RFC 8414) and OpenID Provider metadata. Advertises
// exactly what this build supports; both well-known paths serve the same document.
import { SUPPORTED_CLIENT_AUTH_METHODS } from '../client-auth/index.js';
import { CLIENT_ASSERTION_ALGS, REQUEST_OBJECT_ALGS } from '../../crypto/algorithms.js';
import { sendJson } from '../../core/http.js';
import { SUPPORTED_GRANT_TYPES } from '../grants/index.js';
import { CLAIMS_SUPPORTED } from '../tokens/id-token.js';
import { RESPONSE_MODES } from './authorize/check-response-mode.js';
import { RESPONSE_TYPES } from './authorize/check-response-type.js';
import type { AuthContext } from '../context.js';
import type { Endpoint } from './types.js';

export function metadata(ctx: AuthContext): Record<string, unknown> {
  const e = ctx.endpoints;
  const confidentialMethods = SUPPORTED_CLIENT_AUTH_METHODS.filter((m) => m !== 'none');
  const scopes = new Set<string>(['openid', 'profile', 'email', 'groups', 'offline_access']);
  for (const c of ctx.auth.clients) for (const s of c.scopes) scopes.add(s);
  return {
    issuer: e.issuer,
    authorization_endpoint: e.authorization,
    token_endpoint: e.token,
    userinfo_endpoint: e.userinfo,
    jwks_uri: e.jwks,
    introspection_endpoint: e.introspection,
    revocation_endpoint: e.revocation,
    end_session_endpoint: e.endSession,
    pushed_authorization_request_endpoint: e.pushedAuthorization,
    require_pushed_authorization_requests: ctx.auth.require_pushed_authorization_requests,
    // implicit is answered at the authorization endpoint, not by a token endpoint grant
    grant_types_supported: [...SUPPORTED_GRANT_TYPES, 'implicit'],
    // the implicit types only for clients that list `implicit` (unauthorized_client otherwise)
    response_types_supported: [...RESPONSE_TYPES],
    response_modes_supported: [...RESPONSE_MODES],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    claims_supported: CLAIMS_SUPPORTED,
    prompt_values_supported: ['none', 'login', 'consent', 'select_account'],
    scopes_supported: [...scopes].sort(),
    // public clients (`none`) use the token endpoint for refresh_token (and authorization_code)
    token_endpoint_auth_methods_supported: SUPPORTED_CLIENT_AUTH_METHODS,
    token_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_ALGS],
    introspection_endpoint_auth_methods_supported: confidentialMethods,
    introspection_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_ALGS],
    introspection_signing_alg_values_supported: [ctx.keyring.current.alg],
    revocation_endpoint_auth_methods_supported: SUPPORTED_CLIENT_AUTH_METHODS,
    revocation_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_ALGS],
    subject_types_supported: ['public'],
    // OIDC Discovery §3: RS256 MUST be listed (keys.id_token_algorithms has it by default)
    id_token_signing_alg_values_supported: [...ctx.keyring.idTokenAlgs],
    claims_parameter_supported: false,
    // request objects by value (RFC 9101), at the authorization and PAR endpoints, signed only
    request_parameter_supported: true,
    request_object_signing_alg_values_supported: [...REQUEST_OBJECT_ALGS],
    // OIDC Discovery §3: absent means true; request objects by reference are not supported
    // (request_uri only as the PAR endpoint returns it, RFC 9126)
    request_uri_parameter_supported: false,
    // OIDC Back-Channel Logout 1.0 §2.1 (front-channel logout is not offered)
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
  };
}

export const discoveryEndpoint: Endpoint = {
  methods: ['GET', 'HEAD'],
  handle: async function discovery(ctx, _req, res) {
    sendJson(res, 200, metadata(ctx), { 'cache-control': 'public, max-age=60', 'access-control-allow-origin': '*' });
  },
};
