// `cors` (intercept stage), with Kong's keys. Preflights (OPTIONS with Origin and
// Access-Control-Request-Method) are answered here with 204, before authentication —
// browsers send them without credentials — unless `preflight_continue` passes them on.
// Other requests get Access-Control-Allow-Origin for an allowed Origin (the origin itself,
// or `*` for `origins: ['*']`) and `Vary: Origin`. `*` with `credentials: true` is a config
// error: echoing every Origin with credentials (as Kong does) lets any site read them.
//
// Origins: exact (`https://app.example.com`), `*`, or a regex after `~`
// (`~^https://[a-z0-9-]+\.example\.com$`, matched against the whole Origin).
//
// Note: a route whose `methods` omit OPTIONS never sees preflights (as in Kong).
import { ConfigError, bool, format, int, keyPath, list, object, str } from '../../config/schema.js';
import type { GatewayRequest, Interceptor, PluginFactory } from '../types.js';

interface CorsConfig {
  origins: string[];
  methods: string[];
  headers?: string[];
  exposed_headers?: string[];
  credentials: boolean;
  max_age?: number;
  preflight_continue: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 token: header and method names
const headerName = format('header', 'a header name', (text) => (TOKEN.test(text) ? text : undefined));
const method = format('method', 'an HTTP method like GET', (text) => (/^[A-Za-z]+$/.test(text) ? text.toUpperCase() : undefined));

export const corsConfigSchema = object<CorsConfig>(
  {
    origins: list(str(), { min: 1 })
      .default(['*'])
      .doc('Allowed origins: exact (`https://app.example.com`), `*`, or a regex after `~` matched against the whole Origin.'),
    methods: list(method, { min: 1 })
      .default(['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'])
      .doc('Access-Control-Allow-Methods of preflight answers.'),
    headers: list(headerName)
      .optional()
      .doc("Access-Control-Allow-Headers of preflight answers; absent: the preflight's Access-Control-Request-Headers."),
    exposed_headers: list(headerName).optional().doc('Access-Control-Expose-Headers: response headers scripts may read.'),
    credentials: bool()
      .default(false)
      .doc('Access-Control-Allow-Credentials: true (cookies and Authorization from browsers); needs named origins, not `*`.'),
    max_age: int(0).optional().doc('Access-Control-Max-Age: seconds browsers may cache a preflight answer.'),
    preflight_continue: bool().default(false).doc('Pass preflights on through the pipeline instead of answering them.'),
  },
  function checkCors(value, path) {
    const any = value.origins.indexOf('*');
    if (any !== -1 && value.credentials) {
      // Kong echoes every Origin then: any site could read what a signed-in browser gets
      throw new ConfigError(
        keyPath(keyPath(path, 'origins'), any),
        "'*' cannot be combined with credentials: true (every site could read credentialed responses); name the origins",
      );
    }
    value.origins.forEach((origin, index) => {
      if (!origin.startsWith('~')) return;
      try {
        new RegExp(origin.slice(1));
      } catch (err) {
        throw new ConfigError(keyPath(keyPath(path, 'origins'), index), `invalid regex: ${(err as Error).message}`);
      }
    });
  },
);

/** Decides whether an Origin is allowed; regex results are memoised (bounded). */
function originMatcher(origins: readonly string[]): (origin: string) => boolean {
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const origin of origins) {
    if (origin.startsWith('~')) patterns.push(new RegExp(`^(?:${origin.slice(1)})$`));
    else exact.add(origin.replace(/\/+$/, '').toLowerCase());
  }
  if (exact.has('*')) return () => true;
  if (patterns.length === 0) return (origin) => exact.has(origin.toLowerCase());
  const memo = new Map<string, boolean>();
  return function matchOrigin(origin) {
    if (exact.has(origin.toLowerCase())) return true;
    let allowed = memo.get(origin);
    if (allowed === undefined) {
      allowed = patterns.some((pattern) => pattern.test(origin));
      if (memo.size >= 1000) memo.clear(); // any Origin may be sent: keep memory bounded
      memo.set(origin, allowed);
    }
    return allowed;
  };
}

function header(gr: GatewayRequest, name: string): string | undefined {
  const value = gr.req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function createCors(config: Record<string, unknown>, path: string): Interceptor {
  const settings = corsConfigSchema.parse(config, path);
  const allowed = originMatcher(settings.origins);
  // never with credentials (checkCors)
  const wildcard = settings.origins.includes('*');
  const credentials = settings.credentials ? 'true' : undefined;
  const exposed = settings.exposed_headers?.length ? settings.exposed_headers.join(', ') : undefined;
  const methods = settings.methods.join(', ');
  const allowHeaders = settings.headers?.join(', ');
  const maxAge = settings.max_age === undefined ? undefined : String(settings.max_age);
  const preflightVary = allowHeaders === undefined ? 'Origin, Access-Control-Request-Headers' : 'Origin';
  const answerPreflights = !settings.preflight_continue;

  /** ACAO for this request: '*', the origin, or undefined when not allowed. */
  function allowOrigin(origin: string | undefined): string | undefined {
    if (wildcard) return '*';
    return origin !== undefined && allowed(origin) ? origin : undefined;
  }

  function answerPreflight(gr: GatewayRequest, origin: string | undefined): true {
    const headers: Record<string, string> = { ...gr.responseHeaders, vary: preflightVary };
    const allowedOrigin = allowOrigin(origin);
    if (allowedOrigin !== undefined) {
      headers['access-control-allow-origin'] = allowedOrigin;
      if (credentials !== undefined) headers['access-control-allow-credentials'] = credentials;
      headers['access-control-allow-methods'] = methods;
      const requested = allowHeaders ?? header(gr, 'access-control-request-headers');
      if (requested !== undefined && requested !== '') headers['access-control-allow-headers'] = requested;
      if (maxAge !== undefined) headers['access-control-max-age'] = maxAge;
    }
    gr.res.writeHead(204, headers);
    gr.res.end();
    return true;
  }

  return {
    name: 'cors',
    intercept: function interceptCors(gr: GatewayRequest): boolean {
      const origin = header(gr, 'origin');
      if (answerPreflights && gr.method === 'OPTIONS' && origin !== undefined && header(gr, 'access-control-request-method') !== undefined) {
        return answerPreflight(gr, origin);
      }
      const out = gr.responseHeaders;
      if (!wildcard) out.vary = 'Origin'; // the answer differs by Origin: caches must key on it
      const allowedOrigin = allowOrigin(origin);
      if (allowedOrigin === undefined) return false;
      out['access-control-allow-origin'] = allowedOrigin;
      if (credentials !== undefined) out['access-control-allow-credentials'] = credentials;
      if (exposed !== undefined) out['access-control-expose-headers'] = exposed;
      return false;
    },
  };
}

export const corsPlugin: PluginFactory = {
  name: 'cors',
  create: function createCorsPlugin(config, _deps, path) {
    return { stage: 'intercept', impl: createCors(config, path) };
  },
};
