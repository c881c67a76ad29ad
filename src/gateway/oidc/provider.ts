// One OpenID provider as the gateway sees it: its metadata from discovery
// (`<issuer>/.well-known/openid-configuration`, OIDC Discovery §4), cached and refreshed
// every `refreshSeconds` in the background (a failed refresh keeps what we had), and its
// signing keys through the JWKS cache the jwt plugin uses (kid refetch throttled).
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../observability/logger.js';
import { ALL_JWT_ALGS, isJwtAlg, type JwtAlg } from '../authn/jwt/algorithms.js';
import { RemoteKeySource } from '../authn/jwt/jwks.js';
import type { TrustedIssuer } from '../authn/jwt/verify.js';
import { callProvider } from './http.js';

interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  revocation_endpoint?: string;
  end_session_endpoint?: string;
  /** RFC 9126 */
  pushed_authorization_request_endpoint?: string;
  /** RFC 9126 §5: the provider takes authorization requests only through that endpoint */
  require_pushed_authorization_requests: boolean;
  /** RFC 9207: the provider sends `iss` with authorization responses */
  iss_parameter_supported: boolean;
  id_token_algs: ReadonlySet<JwtAlg>;
}

interface ProviderOptions {
  issuer: string;
  clock: Clock;
  logger: Logger;
  timeoutMs: number;
  refreshSeconds?: number;
}

/** The provider cannot be reached or described itself badly: 503, not the user's fault. */
export class ProviderUnavailableError extends Error {
  override readonly name = 'ProviderUnavailableError';
}

function httpsOrHttp(value: unknown): value is string {
  return typeof value === 'string' && /^https?:\/\/[^/\s]+/i.test(value);
}

function parseMetadata(doc: Record<string, unknown>, issuer: string): ProviderMetadata | string {
  // OIDC Discovery §4.3: the issuer in the document must be exactly the one we asked
  if (doc.issuer !== issuer) return `discovery names issuer ${JSON.stringify(doc.issuer)}, expected ${issuer}`;
  for (const name of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
    if (!httpsOrHttp(doc[name])) return `discovery has no valid ${name}`;
  }
  const advertised = Array.isArray(doc.id_token_signing_alg_values_supported) ? doc.id_token_signing_alg_values_supported.filter(isJwtAlg) : [];
  const meta: ProviderMetadata = {
    issuer,
    authorization_endpoint: doc.authorization_endpoint as string,
    token_endpoint: doc.token_endpoint as string,
    jwks_uri: doc.jwks_uri as string,
    iss_parameter_supported: doc.authorization_response_iss_parameter_supported === true,
    require_pushed_authorization_requests: doc.require_pushed_authorization_requests === true,
    // asymmetric algorithms only: what the provider lists, intersected with our table
    id_token_algs: new Set(advertised.length > 0 ? advertised : ALL_JWT_ALGS),
  };
  if (httpsOrHttp(doc.revocation_endpoint)) meta.revocation_endpoint = doc.revocation_endpoint;
  if (httpsOrHttp(doc.end_session_endpoint)) meta.end_session_endpoint = doc.end_session_endpoint;
  if (httpsOrHttp(doc.pushed_authorization_request_endpoint)) meta.pushed_authorization_request_endpoint = doc.pushed_authorization_request_endpoint;
  return meta;
}

export class OpenIdProvider {
  readonly issuer: string;
  readonly #opts: ProviderOptions;
  #meta: ProviderMetadata | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #inFlight: Promise<ProviderMetadata> | undefined;
  #keys: RemoteKeySource | undefined;
  #keysUri: string | undefined;
  /** discovery fetches made (tests) */
  fetches = 0;

  constructor(opts: ProviderOptions) {
    this.issuer = opts.issuer;
    this.#opts = opts;
  }

  /** Starts discovery without waiting (a slow provider must not hold up start). */
  prefetch(): void {
    this.metadata().catch((err: unknown) => this.#opts.logger.warn({ issuer: this.issuer, err: (err as Error).message }, 'oidc: discovery failed; retrying on use'));
  }

  /** The metadata; fetched on first use, refreshed in the background when old. Throws ProviderUnavailableError. */
  async metadata(): Promise<ProviderMetadata> {
    const now = this.#opts.clock.now();
    if (this.#meta !== undefined) {
      if (now - this.#fetchedAt >= (this.#opts.refreshSeconds ?? 3600)) void this.#load().catch(() => undefined);
      return this.#meta;
    }
    return this.#load();
  }

  #load(): Promise<ProviderMetadata> {
    this.#inFlight ??= this.#discover().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #discover(): Promise<ProviderMetadata> {
    const url = `${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const started = this.#opts.clock.now();
    this.fetches++;
    const answer = await callProvider(url, { method: 'GET', timeoutMs: this.#opts.timeoutMs });
    if (!answer.ok) throw new ProviderUnavailableError(answer.problem);
    if (answer.status !== 200 || answer.json === undefined) throw new ProviderUnavailableError(`discovery at ${url} answered ${answer.status}`);
    const meta = parseMetadata(answer.json, this.issuer);
    if (typeof meta === 'string') throw new ProviderUnavailableError(meta);
    this.#meta = meta;
    this.#fetchedAt = started;
    return meta;
  }

  /** The provider's keys and algorithms for verifyJwt (ID tokens, logout tokens). */
  async trusted(): Promise<ReadonlyMap<string, TrustedIssuer>> {
    const meta = await this.metadata();
    if (this.#keys === undefined || this.#keysUri !== meta.jwks_uri) {
      this.#keys = new RemoteKeySource({ uri: meta.jwks_uri, clock: this.#opts.clock, logger: this.#opts.logger, refetchInterval: 60, cacheTtl: 600 });
      this.#keysUri = meta.jwks_uri;
    }
    return new Map([[this.issuer, { issuer: this.issuer, algorithms: meta.id_token_algs, keys: this.#keys }]]);
  }
}
