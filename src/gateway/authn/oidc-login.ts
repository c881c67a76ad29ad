// `oidc-login`: the gateway as an OpenID Connect relying party (issue #5). A request with
// a live session passes exactly as under `session`. Without one:
//   - a browser navigation (GET/HEAD, not XHR, with `Sec-Fetch-Mode: navigate` or an
//     Accept naming text/html) is sent to the provider's authorization endpoint (code + PKCE
//     S256 + state + nonce) with a sealed login-state cookie, and comes back through
//     /_drawbridge/callback (src/gateway/oidc/endpoints.ts) to the URL it asked for;
//   - anything else (APIs, XHR, non-GET, or a request carrying Authorization for another
//     authenticator) is skipped, so other authenticators — or the 401 — answer.
// The provider is found by discovery, so any OpenID provider works.
import { bool, ConfigError, duration, format, keyPath, list, object, oneOf, record, str } from '../../config/schema.js';
import { GatewayError, serviceUnavailable } from '../errors.js';
import { ProviderUnavailableError } from '../oidc/provider.js';
import { RelyingParty, type RelyingPartyConfig } from '../oidc/relying-party.js';
import { sessionContext } from '../oidc/settings.js';
import { SKIP, type Authenticator, type AuthnResult, type GatewayRequest, type PluginFactory, type PluginInstance } from '../types.js';
import { DEFAULT_REALM, headerValue, realmField } from './common.js';
import { SessionCheck, sessionChallenge, type SessionAware, type SessionLookup } from './session.js';

interface OidcLoginConfig extends RelyingPartyConfig {
  realm: string;
  hide_credentials: boolean;
}

const httpUrl = format('URL', 'an absolute http(s) URL', (text) => (/^https?:\/\/[^/\s?#]+/i.test(text) ? text : undefined));
const issuerUrl = format('URL', 'an absolute http(s) URL', (text) => (/^https?:\/\/[^/\s?#]+/i.test(text) ? text.replace(/\/$/, '') : undefined));

export const oidcLoginConfigSchema = object<OidcLoginConfig>(
  {
    issuer: issuerUrl.doc('The OpenID provider (its discovery document names the endpoints and keys).'),
    client_id: str().doc('The gateway\'s client at the provider (redirect URI: `<scheme>://<host>/_drawbridge/callback` unless `redirect_uri` is set).'),
    client_secret: str().sensitive().optional().doc('Its secret (absent only with `token_endpoint_auth_method: none`).'),
    token_endpoint_auth_method: oneOf(['client_secret_basic', 'client_secret_post', 'none'] as const)
      .default('client_secret_basic')
      .doc('How the gateway authenticates at the token and revocation endpoints.'),
    scopes: list(str()).default(['openid', 'profile', 'email', 'offline_access']).doc('Scopes requested (must include `openid`; `offline_access` gives a refresh token, so sessions outlive the access token).'),
    redirect_uri: httpUrl.optional().doc('The callback URL registered at the provider; absent: `<scheme>://<host>/_drawbridge/callback` of each request.'),
    post_logout_redirect_uri: httpUrl.optional().doc('Where the provider sends the browser after RP-initiated logout (registered at the provider).'),
    authorization_params: record().default({}).doc('Extra authorization request parameters (e.g. `prompt`, `acr_values`); the protocol ones cannot be overridden.'),
    pushed_authorization_requests: oneOf(['auto', 'always', 'never'] as const)
      .default('auto')
      .doc('Push the authorization request to the provider first (RFC 9126; the browser then carries only a `request_uri`): `auto` when the provider\'s discovery says it requires it, `always` (the provider must have the endpoint), `never`.'),
    timeout: duration(1).default('5s').doc('Timeout of one call to the provider.'),
    leeway: duration().default('30s').doc('Clock skew tolerated when checking ID and logout tokens.'),
    realm: realmField.default(DEFAULT_REALM).doc('Realm of the `Cookie` challenge on 401.'),
    hide_credentials: bool().default(true).doc('Remove the session cookie from the request before proxying.'),
  },
  function checkOidcLogin(value, path) {
    for (const [name, param] of Object.entries(value.authorization_params)) {
      if (typeof param !== 'string') throw new ConfigError(keyPath(keyPath(path, 'authorization_params'), name), 'expected a string');
    }
    if (!value.scopes.includes('openid')) throw new ConfigError(keyPath(path, 'scopes'), 'must include openid');
    if (value.token_endpoint_auth_method !== 'none' && (value.client_secret === undefined || value.client_secret === '')) {
      throw new ConfigError(keyPath(path, 'client_secret'), `required with token_endpoint_auth_method ${value.token_endpoint_auth_method}`);
    }
  },
);

/** A top-level browser navigation (which can follow a redirect to a login page), not an API call. */
export function isNavigation(gr: GatewayRequest): boolean {
  if (gr.method !== 'GET' && gr.method !== 'HEAD') return false;
  const headers = gr.req.headers;
  if ((headerValue(headers, 'x-requested-with') ?? '').toLowerCase() === 'xmlhttprequest') return false;
  // browsers say so on navigations; other clients (fetch() outside a browser sends `cors`) by Accept
  if ((headerValue(headers, 'sec-fetch-mode') ?? '').toLowerCase() === 'navigate') return true;
  return /(^|[\s,])text\/html($|[\s,;])/i.test(headerValue(headers, 'accept') ?? '');
}

export const oidcLogin: PluginFactory = {
  name: 'oidc-login',
  create: function createOidcLogin(config, deps, path): PluginInstance {
    const settings = oidcLoginConfigSchema.parse(config, path);
    const context = sessionContext(deps, path);
    const rp = new RelyingParty(settings, { clock: deps.clock, logger: deps.logger, secret: deps.secret, jtis: deps.storage.jtis });
    rp.provider.prefetch();
    context.registry.add(rp);
    const check = new SessionCheck(context, deps, settings.hide_credentials);

    async function startLogin(gr: GatewayRequest): Promise<AuthnResult> {
      const returnTo = gr.query === '' ? gr.path : `${gr.path}?${gr.query}`;
      let started;
      try {
        started = await rp.startLogin(returnTo, rp.redirectUri(gr.scheme, gr.host));
      } catch (err) {
        if (!(err instanceof ProviderUnavailableError)) throw err;
        deps.logger.warn({ issuer: settings.issuer, err: err.message }, 'oidc-login: provider unavailable');
        return { kind: 'fail', error: serviceUnavailable('the login provider is unavailable') };
      }
      gr.res.appendHeader('set-cookie', rp.loginStates.setCookie(started.login, gr.scheme === 'https'));
      const redirect = new GatewayError('unauthorized', 302, 'login required', { headers: { location: started.location }, reason: 'login_redirect' });
      return { kind: 'fail', error: redirect };
    }

    const impl: Authenticator & SessionAware & { relyingParty: RelyingParty } = {
      name: 'oidc-login',
      challenge: sessionChallenge(settings.realm, context.settings.cookie_name),
      sessionContext: context,
      relyingParty: rp,
      hide: (gr) => check.hide(gr),
      // synchronous for a cached session (the usual request), a promise otherwise
      authenticate: function authenticateOidcLogin(gr: GatewayRequest): AuthnResult | Promise<AuthnResult> {
        const found = check.lookup(gr);
        return found instanceof Promise ? found.then(decide) : decide(found);
        function decide(lookup: SessionLookup): AuthnResult | Promise<AuthnResult> {
          // a session from another provider does not sign anyone in here: log in with ours
          if (lookup.kind === 'ok' && lookup.session.issuer === settings.issuer) return { kind: 'ok', identity: lookup.identity };
          // another authenticator's credential: not ours to redirect
          if (gr.req.headers.authorization !== undefined) return SKIP;
          return isNavigation(gr) ? startLogin(gr) : SKIP;
        }
      },
    };
    return { stage: 'authenticate', impl };
  },
};
