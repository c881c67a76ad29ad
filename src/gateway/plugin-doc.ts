// The plugin reference in README.md, generated from each plugin's own config schema so the
// two cannot disagree (`npm run docs:config` writes it; a test compares).
import { renderFieldRows } from '../config/doc.js';
import type { Field } from '../config/schema.js';
import { basicAuthConfigSchema } from './authn/basic-auth.js';
import { hmacAuthConfigSchema } from './authn/hmac/config.js';
import { jwtConfigSchema } from './authn/jwt.js';
import { keyAuthConfigSchema } from './authn/key-auth.js';
import { introspectionConfigSchema } from './authn/oauth2-introspection.js';
import { oidcLoginConfigSchema } from './authn/oidc-login.js';
import { sessionConfigSchema } from './authn/session.js';
import { aclConfigSchema } from './authz/acl.js';
import { scopesConfigSchema } from './authz/scopes.js';
import { corsConfigSchema } from './limits/cors.js';
import { ipRestrictionConfigSchema } from './limits/ip-restriction.js';
import { rateLimitingConfigSchema } from './limits/rate-limiting.js';
import { requestSizeLimitingConfigSchema } from './limits/request-size-limiting.js';
import { PLUGINS } from './plugins.js';

export const PLUGIN_REFERENCE_START = '<!-- plugin-reference:start -->';
export const PLUGIN_REFERENCE_END = '<!-- plugin-reference:end -->';

interface PluginDoc {
  name: string;
  stage: string;
  summary: string;
  schema: Field<unknown>;
}

export const PLUGIN_DOCS: readonly PluginDoc[] = [
  { name: 'key-auth', stage: 'authenticate', summary: 'API keys of consumers, from a header (or the query string when allowed).', schema: keyAuthConfigSchema },
  { name: 'basic-auth', stage: 'authenticate', summary: 'HTTP Basic (RFC 7617) against consumer credentials hashed with argon2id.', schema: basicAuthConfigSchema },
  { name: 'hmac-auth', stage: 'authenticate', summary:
      'HTTP Message Signatures (RFC 9421, hmac-sha256) with Content-Digest (RFC 9530); Kong\'s legacy `hmac` scheme when enabled. ' +
      'A `nonce` is accepted once while its signature is valid: in Redis when `redis` is set (every gateway agrees), else in a fixed ' +
      'in-process table of about a million nonces (12 MB; when full, the nonces closest to expiring are forgotten first). ' +
      "`hmac-auth`'s own 401s, and a route's 401 for a request without any credential, carry a `Signature` challenge and RFC 9421 §5.1's " +
      "`Accept-Signature`, both naming what that request's signature must cover (`@query` only with a query, `content-digest` only with a " +
      'body, and `enforce_headers`), the latter with `created` and `alg="hmac-sha256"`; e.g. for a GET with a query, ' +
      '`WWW-Authenticate: Signature realm="drawbridge", alg="hmac-sha256", headers="@method @authority @path @query"` and ' +
      '`Accept-Signature: sig1=("@method" "@authority" "@path" "@query");created;alg="hmac-sha256"`.', schema: hmacAuthConfigSchema },
  { name: 'jwt', stage: 'authenticate', summary: 'JWTs from trusted issuers, verified against their JWKS (asymmetric algorithms only). A token is only good where its `aud` says: see `audience` (secure by default for Drawbridge\'s own issuer; configure it for others). Only access tokens typed `at+jwt` (RFC 9068, as Drawbridge issues them) are taken unless an issuer\'s `typ` says otherwise: an issuer whose access tokens have `typ: JWT` or no `typ` (Keycloak, older Auth0) must be configured with `typ: [JWT]`, else every one of its tokens is refused. A bad token is a 401 `invalid_token`; an `Authorization: Bearer` value that is no token at all (empty, a space inside; RFC 6750 §2.1) is a 400 `invalid_request`.', schema: jwtConfigSchema },
  { name: 'oauth2-introspection', stage: 'authenticate', summary: 'Phantom tokens: opaque bearer tokens introspected at the issuer (RFC 7662, signed RFC 9701 responses), cached until expiry and evicted by revocation events. A token is only good where its `aud` says: see `audience` (secure by default for Drawbridge\'s own issuer; configure it for others). An inactive token is a 401 `invalid_token`; an `Authorization: Bearer` value that is no token at all (empty, a space inside; RFC 6750 §2.1) is a 400 `invalid_request` and is not sent to the issuer.', schema: introspectionConfigSchema },
  { name: 'oidc-login', stage: 'authenticate', summary: 'The gateway as OpenID relying party: browsers without a session are sent to the provider (code + PKCE + state + nonce; pushed first, RFC 9126, when the provider requires it) and come back through `/_drawbridge/callback` with a server-side session (`gateway.sessions`); API-style requests get 401. Logout at `/_drawbridge/logout`, back-channel logout at `/_drawbridge/backchannel-logout`.', schema: oidcLoginConfigSchema },
  { name: 'session', stage: 'authenticate', summary: 'Accepts the gateway session cookie made by `oidc-login` (idle and absolute timeouts, access token refreshed under a per-session lock) and answers 401 (`Cookie` challenge) without redirecting: for API routes called by the same browser app.', schema: sessionConfigSchema },
  { name: 'acl', stage: 'authorize', summary: 'Allow or deny by consumer / token groups.', schema: aclConfigSchema },
  { name: 'scopes', stage: 'authorize', summary: 'Required scopes per route and method: a caller without them gets 403 `insufficient_scope` naming them, with the RFC 6750 challenge (`WWW-Authenticate: Bearer …, error="insufficient_scope", scope="…"`) only when it presented a Bearer token (jwt, oauth2-introspection); a caller who signed (hmac-auth), gave a key or a password, has a session cookie or is the anonymous consumer gets the same 403 without a challenge.', schema: scopesConfigSchema },
  { name: 'rate-limiting', stage: 'limit', summary: 'Sliding-window limits per second/minute/hour/day, local or atomic in Redis (one Lua script, which hands a busy client\'s gateway a lease of up to 512 requests per round trip, at most a few hundred ms of its traffic; never more than the limit across gateways).', schema: rateLimitingConfigSchema },
  { name: 'request-size-limiting', stage: 'intercept', summary: 'Refuses bodies over a size (413), by Content-Length or while streaming.', schema: requestSizeLimitingConfigSchema },
  { name: 'cors', stage: 'intercept', summary: 'CORS: answers preflights before authentication, adds the allow headers.', schema: corsConfigSchema },
  { name: 'ip-restriction', stage: 'intercept', summary: 'Allow and/or deny lists of IPs and CIDRs (IPv4, IPv6) for the client address the gateway resolves (X-Forwarded-For only from `gateway.trusted_proxies`); runs before every other plugin of the route.', schema: ipRestrictionConfigSchema },
];

export function renderPluginReference(): string {
  const out = [
    '<!-- Generated from the plugins\' config schemas by `npm run docs:config`; edit the schemas, not this block. -->',
    '',
    'Each plugin is `{ name, enabled, config }` at `gateway.plugins` (global), `gateway.services[].plugins` or',
    '`gateway.services[].routes[].plugins`; the most specific one of a name wins. Unknown keys are an error.',
  ];
  for (const p of PLUGIN_DOCS) {
    out.push('', `### \`${p.name}\` (${p.stage})`, '', p.summary, '', '| Key | Type | Default | Description |', '| --- | --- | --- | --- |');
    out.push(...renderFieldRows(p.schema, 'config'));
  }
  return out.join('\n');
}

/** Names in the plugin table that the reference does not document (a test keeps this empty). */
export function undocumentedPlugins(): string[] {
  const documented = new Set(PLUGIN_DOCS.map((p) => p.name));
  return [...PLUGINS.keys()].filter((n) => !documented.has(n));
}
