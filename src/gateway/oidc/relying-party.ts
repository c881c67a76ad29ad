// One `oidc-login` configuration: the gateway as an OpenID relying party of one provider.
// Starts logins (authorization code + PKCE S256 + state + nonce, RFC 9700 §2.1.1), turns a
// callback into a server-side session, refreshes a session's tokens and ends them at the
// provider (revocation, RP-Initiated Logout 1.0).
import { createHash } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../observability/logger.js';
import type { JtiRepo } from '../../storage/types.js';
import type { GatewaySession, SessionTokens } from '../../sessions/types.js';
import { CALLBACK_PATH, LoginStateSealer, newLoginSecrets, type LoginState } from './cookies.js';
import { validateIdToken } from './id-token.js';
import { OpenIdProvider, ProviderUnavailableError } from './provider.js';
import { relyingPartyKey } from './settings.js';
import { exchangeCode, pushAuthorizationRequest, refreshTokens, revokeToken, type ClientAuthMethod, type ClientCredentials, type TokenOutcome } from './token-client.js';

export interface RelyingPartyConfig {
  issuer: string;
  client_id: string;
  client_secret?: string;
  token_endpoint_auth_method: ClientAuthMethod;
  scopes: string[];
  redirect_uri?: string;
  post_logout_redirect_uri?: string;
  /** extra authorization request parameters (prompt, acr_values, …) */
  authorization_params: Record<string, unknown>;
  /** RFC 9126: `auto` pushes when the provider requires it */
  pushed_authorization_requests: 'auto' | 'always' | 'never';
  timeout: number;
  leeway: number;
}

/** Claims copied from the ID token into the session (and so into the internal token). */
const SESSION_CLAIMS = ['preferred_username', 'name', 'email', 'email_verified', 'groups'];

type CallbackOutcome =
  | { ok: true; session: Omit<GatewaySession, 'id' | 'created_at' | 'last_seen_at' | 'expires_at' | 'tokens'>; tokens: SessionTokens }
  | { ok: false; problem: string; unavailable?: boolean };

export class RelyingParty {
  readonly key: string;
  readonly config: RelyingPartyConfig;
  readonly provider: OpenIdProvider;
  readonly loginStates: LoginStateSealer;
  readonly #creds: ClientCredentials;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** one-time markers: back-channel logout token `jti`s */
  readonly jtis: JtiRepo;
  /** refresh-token grants sent (tests count them) */
  refreshes = 0;

  constructor(config: RelyingPartyConfig, deps: { clock: Clock; logger: Logger; secret: string; jtis: JtiRepo }) {
    this.jtis = deps.jtis;
    this.config = config;
    this.key = relyingPartyKey(config.issuer, config.client_id);
    this.provider = new OpenIdProvider({ issuer: config.issuer, clock: deps.clock, logger: deps.logger, timeoutMs: config.timeout * 1000 });
    this.loginStates = new LoginStateSealer(deps.secret);
    this.#creds = { clientId: config.client_id, clientSecret: config.client_secret, authMethod: config.token_endpoint_auth_method, timeoutMs: config.timeout * 1000 };
    this.#clock = deps.clock;
    this.#logger = deps.logger;
  }

  redirectUri(scheme: string, host: string): string {
    return this.config.redirect_uri ?? `${scheme}://${host}${CALLBACK_PATH}`;
  }

  /** The authorization request URL and the login state to keep in the browser. Throws ProviderUnavailableError. */
  async startLogin(returnTo: string, redirectUri: string): Promise<{ location: string; login: LoginState }> {
    const meta = await this.provider.metadata();
    const secrets = newLoginSecrets();
    const login: LoginState = { ...secrets, return_to: returnTo, rp: this.key, redirect_uri: redirectUri, created_at: this.#clock.now() };
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(this.config.authorization_params)) params.set(name, String(value));
    params.set('response_type', 'code');
    params.set('client_id', this.config.client_id);
    params.set('redirect_uri', redirectUri);
    params.set('scope', this.config.scopes.join(' '));
    params.set('state', secrets.state);
    params.set('nonce', secrets.nonce);
    params.set('code_challenge', createHash('sha256').update(secrets.code_verifier).digest('base64url'));
    params.set('code_challenge_method', 'S256');
    // the endpoint's own query (if any) stays
    const url = new URL(meta.authorization_endpoint);
    const mode = this.config.pushed_authorization_requests;
    if (mode === 'always' || (mode === 'auto' && meta.require_pushed_authorization_requests)) {
      // RFC 9126: the parameters go to the provider directly; the browser carries a request_uri
      const endpoint = meta.pushed_authorization_request_endpoint;
      if (endpoint === undefined) throw new ProviderUnavailableError('the provider has no pushed authorization request endpoint (pushed_authorization_requests)');
      const pushed = await pushAuthorizationRequest(endpoint, this.#creds, params);
      if (!pushed.ok) throw new ProviderUnavailableError(pushed.problem);
      url.searchParams.set('client_id', this.config.client_id);
      url.searchParams.set('request_uri', pushed.requestUri);
    } else {
      for (const [name, value] of params) url.searchParams.set(name, value);
    }
    return { location: url.href, login };
  }

  /** Code → tokens → validated ID token → what the session will hold. */
  async finishLogin(login: LoginState, code: string, iss: string | undefined): Promise<CallbackOutcome> {
    let meta;
    try {
      meta = await this.provider.metadata();
    } catch (err) {
      return { ok: false, problem: (err as Error).message, unavailable: true };
    }
    // RFC 9207: a provider that sends `iss` must send ours (mix-up defence)
    if (iss !== undefined ? iss !== meta.issuer : meta.iss_parameter_supported) return { ok: false, problem: 'authorization response iss does not match the provider' };
    const outcome = await exchangeCode(this.provider, this.#creds, code, login.redirect_uri, login.code_verifier);
    if (outcome.kind !== 'tokens') return outcomeProblem(outcome);
    const { tokens } = outcome;
    if (tokens.id_token === undefined) return { ok: false, problem: 'the provider returned no ID token (is `openid` among the scopes?)' };
    const now = this.#clock.now();
    const checked = await validateIdToken(this.provider, tokens.id_token, {
      clientId: this.config.client_id,
      nonce: login.nonce,
      accessToken: tokens.access_token,
      now,
      leeway: this.config.leeway,
    });
    if (!checked.ok) return checked.unavailable ? { ok: false, problem: checked.problem, unavailable: true } : { ok: false, problem: `ID token rejected: ${checked.problem}` };
    const idClaims = checked.claims;
    const claims: Record<string, unknown> = {};
    for (const name of SESSION_CLAIMS) if (idClaims[name] !== undefined) claims[name] = idClaims[name];
    const accessExpiresAt = now + (tokens.expires_in ?? 3600);
    const sessionTokens: SessionTokens = { access_token: tokens.access_token, expires_at: accessExpiresAt, id_token: tokens.id_token };
    if (tokens.refresh_token !== undefined) sessionTokens.refresh_token = tokens.refresh_token;
    return {
      ok: true,
      session: {
        sub: idClaims.sub as string,
        issuer: this.config.issuer,
        client_id: this.config.client_id,
        idp_sid: typeof idClaims.sid === 'string' && idClaims.sid !== '' ? idClaims.sid : null,
        claims,
        scope: tokens.scope !== undefined ? tokens.scope.split(' ').filter((s) => s !== '') : [...this.config.scopes],
        access_expires_at: accessExpiresAt,
      },
      tokens: sessionTokens,
    };
  }

  /**
   * The refresh-token grant. `dead`: the provider refused the refresh token (invalid_grant:
   * revoked, reused, expired) — the session must end; `unavailable`: try again later.
   */
  async refresh(tokens: SessionTokens): Promise<{ kind: 'ok'; tokens: SessionTokens } | { kind: 'dead'; problem: string } | { kind: 'unavailable'; problem: string }> {
    if (tokens.refresh_token === undefined) return { kind: 'dead', problem: 'no refresh token' };
    this.refreshes++;
    const outcome = await refreshTokens(this.provider, this.#creds, tokens.refresh_token);
    if (outcome.kind === 'unavailable') return { kind: 'unavailable', problem: outcome.problem };
    if (outcome.kind === 'refused') {
      // invalid_grant: the refresh token is revoked, reused or expired — the login is over.
      // Anything else (invalid_client …) is our configuration, not the user's session.
      if (outcome.error === 'invalid_grant') return { kind: 'dead', problem: 'refresh refused: invalid_grant' };
      return { kind: 'unavailable', problem: `refresh refused: ${outcome.error}` };
    }
    const now = this.#clock.now();
    const next: SessionTokens = {
      access_token: outcome.tokens.access_token,
      // RFC 6749 §6: no new refresh token means the old one stays valid
      refresh_token: outcome.tokens.refresh_token ?? tokens.refresh_token,
      expires_at: now + (outcome.tokens.expires_in ?? 3600),
    };
    let idToken = tokens.id_token;
    if (outcome.tokens.id_token !== undefined) {
      const checked = await validateIdToken(this.provider, outcome.tokens.id_token, { clientId: this.config.client_id, now, leeway: this.config.leeway });
      if (checked.ok) idToken = outcome.tokens.id_token;
      else this.#logger.warn({ issuer: this.config.issuer, problem: checked.problem }, 'oidc: ID token from a refresh rejected; keeping the previous one');
    }
    if (idToken !== undefined) next.id_token = idToken;
    return { kind: 'ok', tokens: next };
  }

  /** RFC 7009 for the refresh and access tokens (best effort: logout proceeds regardless). */
  async revoke(tokens: SessionTokens): Promise<void> {
    const pending: Array<Promise<boolean>> = [];
    if (tokens.refresh_token !== undefined) pending.push(revokeToken(this.provider, this.#creds, tokens.refresh_token, 'refresh_token'));
    pending.push(revokeToken(this.provider, this.#creds, tokens.access_token, 'access_token'));
    const results = await Promise.all(pending);
    if (results.includes(false)) this.#logger.info({ issuer: this.config.issuer }, 'oidc: the provider did not revoke every session token (no revocation endpoint, or it refused)');
  }

  /** RP-Initiated Logout 1.0 §2: the end_session URL, or undefined when the provider has none. */
  async endSessionUrl(idToken: string | undefined, state: string): Promise<string | undefined> {
    let meta;
    try {
      meta = await this.provider.metadata();
    } catch {
      return undefined;
    }
    if (meta.end_session_endpoint === undefined) return undefined;
    const url = new URL(meta.end_session_endpoint);
    if (idToken !== undefined) url.searchParams.set('id_token_hint', idToken);
    url.searchParams.set('client_id', this.config.client_id);
    if (this.config.post_logout_redirect_uri !== undefined) {
      url.searchParams.set('post_logout_redirect_uri', this.config.post_logout_redirect_uri);
      url.searchParams.set('state', state);
    }
    return url.href;
  }
}

function outcomeProblem(outcome: Exclude<TokenOutcome, { kind: 'tokens' }>): { ok: false; problem: string; unavailable?: boolean } {
  if (outcome.kind === 'unavailable') return { ok: false, problem: outcome.problem, unavailable: true };
  return { ok: false, problem: `the provider refused the code: ${outcome.error}${outcome.description ? ` (${outcome.description})` : ''}` };
}
