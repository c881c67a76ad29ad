// This service's own token (RFC 6749 §4.4, client_credentials) for calling other services.
//
// The token is cached until shortly before it expires (a fifth of its lifetime, at most
// 30 s early) and fetched by one request however many callers want it at the same time.
// `.fetch()` adds it as `Authorization: Bearer` and, when the callee answers 401 (the token
// was revoked, or the keys rotated), fetches a fresh one and retries once.
import { appendAll, checkEndpointOptions, postToken, scopeParam, type TokenEndpointOptions, type TokenResponse } from './token-endpoint.js';
import { DrawbridgeOAuthError } from './errors.js';

export interface ClientCredentialsOptions extends TokenEndpointOptions {
  scope?: string | readonly string[];
  /** RFC 8707 resource indicator(s): the service(s) the token is for */
  resource?: string | readonly string[];
  /** `audience` parameter, for servers that take it instead of `resource` */
  audience?: string | readonly string[];
}

export interface ClientCredentials {
  /** A valid access token: cached, or fetched (once for all concurrent callers). */
  token(): Promise<string>;
  /** `fetch` with this service's token; retried once with a fresh token on 401. */
  fetch(input: string | URL, init?: RequestInit): Promise<Response>;
  /** Forget the cached token (the next call fetches a new one). */
  invalidate(): void;
}

interface Cached {
  token: string;
  /** ms epoch after which a new token is fetched */
  refreshAt: number;
}

/** When the server does not say how long a token lives, assume a minute. */
const DEFAULT_LIFETIME_S = 60;

export function clientCredentials(opts: ClientCredentialsOptions): ClientCredentials {
  checkEndpointOptions(opts, 'clientCredentials');
  let cached: Cached | undefined;
  let pending: Promise<string> | undefined;

  async function fetchToken(): Promise<string> {
    const params = new URLSearchParams({ grant_type: 'client_credentials' });
    const scope = scopeParam(opts.scope);
    if (scope !== undefined) params.set('scope', scope);
    appendAll(params, 'resource', opts.resource);
    appendAll(params, 'audience', opts.audience);
    const started = Date.now();
    const response: TokenResponse = await postToken(opts, params);
    if (response.token_type.toLowerCase() !== 'bearer') {
      throw new DrawbridgeOAuthError('server_error', `token endpoint issued a ${response.token_type} token, not a Bearer token`, 200);
    }
    const lifetimeMs = (response.expires_in ?? DEFAULT_LIFETIME_S) * 1000;
    // count from when we asked: the server's clock started no later than that
    const margin = Math.min(30_000, lifetimeMs / 5);
    cached = { token: response.access_token, refreshAt: started + lifetimeMs - margin };
    return response.access_token;
  }

  function token(): Promise<string> {
    if (cached !== undefined && Date.now() < cached.refreshAt) return Promise.resolve(cached.token);
    if (pending === undefined) {
      const p = fetchToken().finally(() => {
        if (pending === p) pending = undefined;
      });
      pending = p;
    }
    return pending;
  }

  async function authorizedFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const first = await token();
    const res = await fetch(input, withBearer(init, first));
    if (res.status !== 401 || !replayable(init.body)) return res;
    await res.body?.cancel();
    // drop the token only if nobody replaced it meanwhile
    if (cached?.token === first) cached = undefined;
    return fetch(input, withBearer(init, await token()));
  }

  return {
    token,
    fetch: authorizedFetch,
    invalidate() {
      cached = undefined;
    },
  };
}

function withBearer(init: RequestInit, token: string): RequestInit {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return { ...init, headers };
}

/** A stream body is consumed by the first attempt and cannot be sent again. */
function replayable(body: RequestInit['body']): boolean {
  return body === undefined || body === null || !(body instanceof ReadableStream || isAsyncIterable(body));
}

function isAsyncIterable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && Symbol.asyncIterator in v;
}
