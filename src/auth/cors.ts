// CORS for the endpoints browser apps call directly: token, userinfo, revocation (an SPA, a
// public client, redeems its code and refreshes from JavaScript). The allowed origins are the
// origins of every registered client's redirect URIs (what Keycloak's "+" web origin does):
// an app that may receive codes at https://app.example/cb may call us from https://app.example.
//
// The set is built from the whole client list and rebuilt only when clients may have changed
// (the same change stamp and staleness bound as the client cache, clients.ts), never per
// request. The allowed origin is echoed, never `*`, and no Access-Control-Allow-Credentials is
// sent: these endpoints take credentials in the request (Authorization header, form body),
// never cookies. Origin `null` (sandboxed frames, file:, custom-scheme redirect URIs) is
// never allowed. Discovery and JWKS send `*` themselves (public documents).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { defaultHeader } from '../core/listener.js';
import type { ClientRepo } from '../storage/types.js';

export interface CorsPolicy {
  /** Access-Control-Allow-Methods of a preflight */
  methods: string;
}

/** How long a browser may cache a preflight answer, in seconds (Chromium caps it at 2 h). */
export const PREFLIGHT_MAX_AGE = 600;
const ALLOW_HEADERS = 'Authorization, Content-Type';
/** an error's challenge must be readable by the app (RFC 6750 §3) */
const EXPOSE_HEADERS = 'WWW-Authenticate';

/** The origin of an http(s) redirect URI; undefined for others (custom schemes have origin "null"). */
export function originOf(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return url.origin;
}

export interface AllowedOriginsOptions {
  /** how long the set is used without reading the clients again, in ms */
  ttlMs: number;
  /** storage's clientsChangeStamp: a different value means clients may have changed */
  changeStamp?: () => number;
  nowMs?: () => number;
}

/** The registered clients' redirect URI origins, kept like the client cache keeps clients. */
export class AllowedOrigins {
  readonly #repo: ClientRepo;
  readonly #ttlMs: number;
  readonly #stamp: () => number;
  readonly #nowMs: () => number;
  #origins: ReadonlySet<string> = new Set();
  #builtStamp = Number.NaN;
  #expiresAt = 0;
  #loading: { stamp: number; promise: Promise<ReadonlySet<string>> } | undefined;

  constructor(repo: ClientRepo, opts: AllowedOriginsOptions) {
    this.#repo = repo;
    this.#ttlMs = opts.ttlMs;
    this.#stamp = opts.changeStamp ?? (() => 0);
    this.#nowMs = opts.nowMs ?? Date.now;
  }

  /** The answer without waiting, or undefined when the set must be rebuilt first. */
  peek(origin: string): boolean | undefined {
    if (this.#expiresAt <= this.#nowMs() || this.#builtStamp !== this.#stamp()) return undefined;
    return this.#origins.has(origin);
  }

  async has(origin: string): Promise<boolean> {
    const fresh = this.peek(origin);
    return fresh !== undefined ? fresh : (await this.#rebuild()).has(origin);
  }

  #rebuild(): Promise<ReadonlySet<string>> {
    // the stamp is read before the query: a change committed meanwhile leaves the set stale
    const stamp = this.#stamp();
    if (this.#loading !== undefined && this.#loading.stamp === stamp) return this.#loading.promise;
    const promise = this.#read(stamp);
    this.#loading = { stamp, promise };
    return promise;
  }

  async #read(stamp: number): Promise<ReadonlySet<string>> {
    try {
      const origins = new Set<string>();
      for (const client of await this.#repo.list()) {
        for (const uri of client.redirect_uris) {
          const origin = originOf(uri);
          if (origin !== undefined) origins.add(origin);
        }
      }
      this.#origins = origins;
      this.#builtStamp = stamp;
      this.#expiresAt = this.#nowMs() + this.#ttlMs;
      return origins;
    } finally {
      if (this.#loading?.stamp === stamp) this.#loading = undefined;
    }
  }
}

/** The request's Origin when it is an allowed one (undefined: not a CORS request, or not allowed). */
async function allowedOrigin(origins: AllowedOrigins, req: IncomingMessage): Promise<string | undefined> {
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return undefined;
  return (await origins.has(origin)) ? origin : undefined;
}

/**
 * An actual (non-preflight) request: an allowed Origin is echoed on whatever the endpoint
 * answers, errors included (an SPA must read invalid_grant), through the listener's default
 * headers. Vary: Origin whenever an Origin came, so no shared cache hands one origin's answer
 * to another.
 */
export async function corsActual(origins: AllowedOrigins, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.headers.origin === undefined) return;
  defaultHeader(res, 'vary', 'Origin');
  const origin = await allowedOrigin(origins, req);
  if (origin === undefined) return;
  defaultHeader(res, 'access-control-allow-origin', origin);
  defaultHeader(res, 'access-control-expose-headers', EXPOSE_HEADERS);
}

/**
 * A preflight (OPTIONS with Origin): 204 with the allow headers for an allowed origin; 403
 * without any Access-Control-Allow-* for another, so the browser refuses the real request
 * (and the reason is plain in its developer tools).
 */
export async function corsPreflight(origins: AllowedOrigins, policy: CorsPolicy, req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume();
  const origin = await allowedOrigin(origins, req);
  if (origin === undefined) {
    res.writeHead(403, { vary: 'Origin', 'cache-control': 'no-store', 'content-length': 0 });
    res.end();
    return;
  }
  res.writeHead(204, {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': policy.methods,
    'access-control-allow-headers': ALLOW_HEADERS,
    'access-control-max-age': String(PREFLIGHT_MAX_AGE),
    vary: 'Origin',
  });
  res.end();
}
