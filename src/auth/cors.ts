// CORS for the endpoints browser apps call directly: token, userinfo, revocation (an SPA, a
// public client, redeems its code and refreshes from JavaScript). The allowed origins are the
// origins of every registered client's redirect URIs (what Keycloak's "+" web origin does):
// an app that may receive codes at https://app.example/cb may call us from https://app.example.
//
// The set is built from the whole client list and rebuilt only when clients may have changed
// (the same change stamp and staleness bound as the client cache: core/stamped.ts), never per
// request. The allowed origin is echoed, never `*`, and no Access-Control-Allow-Credentials is
// sent: these endpoints take credentials in the request (Authorization header, form body),
// never cookies. Origin `null` (sandboxed frames, file:, custom-scheme redirect URIs) is
// never allowed. Discovery and JWKS send `*` themselves (public documents).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { defaultHeader } from '../core/listener.js';
import type { ClientRepo } from '../storage/types.js';
import { StampedSnapshot, type StampOptions } from '../core/stamped.js';

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

type AllowedOriginsOptions = StampOptions;

/** The registered clients' redirect URI origins, kept by the same rule as the client cache. */
export class AllowedOrigins {
  readonly #origins: StampedSnapshot<ReadonlySet<string>>;

  constructor(repo: ClientRepo, opts: AllowedOriginsOptions) {
    this.#origins = new StampedSnapshot(() => readOrigins(repo), opts);
  }

  /** The answer without waiting, or undefined when the set must be rebuilt first. */
  peek(origin: string): boolean | undefined {
    return this.#origins.peek()?.has(origin);
  }

  async has(origin: string): Promise<boolean> {
    return (await this.#origins.get()).has(origin);
  }
}

async function readOrigins(repo: ClientRepo): Promise<ReadonlySet<string>> {
  const origins = new Set<string>();
  for (const client of await repo.list()) {
    for (const uri of client.redirect_uris) {
      const origin = originOf(uri);
      if (origin !== undefined) origins.add(origin);
    }
  }
  return origins;
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
