// What upstream receives besides the body (ARCHITECTURE §5): the client's headers minus
// hop-by-hop ones, minus spoofable identity headers, minus the edge credential; then ours:
// the internal token, X-Consumer-*, X-Request-Id, X-Forwarded-*, X-Real-IP.
//
// Without an authenticator on the route (and so without an identity) the client's own
// `Authorization` passes through unchanged, as in Kong: such a route is a plain proxy.
import type { IncomingHttpHeaders } from 'node:http';
import { peekStripHeaders, peekUpstreamHeaders, type GatewayRequest, type Identity } from '../types.js';

/** RFC 9110 §7.6.1 hop-by-hop fields, plus ones undici refuses to forward. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect', // the gateway answered 100-continue itself; undici refuses to send it
  'http2-settings',
]);

/** Identity headers only the gateway may set (prefixes, lower case). */
const SPOOFABLE_PREFIXES = ['x-consumer-', 'x-drawbridge-', 'x-credential-', 'x-authenticated-'];
const SPOOFABLE_NAMES = ['x-userinfo', 'x-anonymous-consumer', 'x-real-ip'];

export interface HeaderPolicy {
  /** is this direct peer a trusted proxy (its X-Forwarded-* are kept)? */
  trusted: (address: string) => boolean;
  /** exact lower-case names removed from client requests */
  stripNames: ReadonlySet<string>;
  /** lower-case prefixes removed from client requests */
  stripPrefixes: readonly string[];
  /** the listener's port, for X-Forwarded-Port */
  port: string;
}

export function headerPolicy(trusted: (address: string) => boolean, extra: readonly string[], port: string): HeaderPolicy {
  const names = new Set(SPOOFABLE_NAMES);
  const prefixes = [...SPOOFABLE_PREFIXES];
  for (const h of extra) {
    if (h.endsWith('*')) prefixes.push(h.slice(0, -1));
    else names.add(h);
  }
  return { trusted, stripNames: names, stripPrefixes: prefixes, port };
}

export function isSpoofable(policy: HeaderPolicy, name: string): boolean {
  if (policy.stripNames.has(name)) return true;
  for (let i = 0; i < policy.stripPrefixes.length; i++) if (name.startsWith(policy.stripPrefixes[i]!)) return true;
  return false;
}

/** Names listed in `Connection` (besides close/keep-alive) are hop-by-hop too. */
function connectionTokens(value: string | undefined): Set<string> | null {
  // nearly every client says just "keep-alive" (or "close"): plain comparisons, no regular expression
  if (value === undefined || value === 'keep-alive' || value === 'close') return null;
  if (value.length <= 10) {
    const lower = value.toLowerCase();
    if (lower === 'keep-alive' || lower === 'close') return null;
  }
  let tokens: Set<string> | null = null;
  for (const raw of value.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive' || token === 'upgrade') continue;
    (tokens ??= new Set()).add(token);
  }
  return tokens;
}

/** Sets the internal token and the consumer convenience headers on gr.upstreamHeaders. */
export function setIdentityHeaders(gr: GatewayRequest, identity: Identity, token: string): void {
  const h = gr.upstreamHeaders;
  h.authorization = `Bearer ${token}`;
  // plugins that set these already (acl's groups) know better
  const consumer = identity.consumer;
  if (consumer !== undefined) {
    h['x-consumer-id'] ??= consumer.id;
    h['x-consumer-username'] ??= consumer.username;
    if (consumer.groups.length > 0) h['x-consumer-groups'] ??= consumer.groups.join(', ');
  }
  if (identity.auth_method === 'anonymous') h['x-anonymous-consumer'] = 'true';
}

/** Headers plugins asked never to send (acl's hide_groups_header); applied last. */
export function omitHeaders(headers: Record<string, unknown>, omit: ReadonlySet<string> | undefined): void {
  if (omit !== undefined) for (const name of omit) delete headers[name];
}

export interface UpstreamHeaderOptions {
  preserveHost: boolean;
  /** what strip_path removed ('' when nothing) */
  strippedPrefix: string;
}

/** The header object handed to undici for the upstream request. */
export function upstreamHeaders(gr: GatewayRequest, policy: HeaderPolicy, opts: UpstreamHeaderOptions): IncomingHttpHeaders {
  const src = gr.req.headers;
  const out: IncomingHttpHeaders = {};
  const listed = connectionTokens(src.connection);
  const strip = peekStripHeaders(gr); // undefined: no plugin hid a header
  const peer = gr.req.socket.remoteAddress ?? '';
  const trusted = policy.trusted(peer);
  const keepHost = opts.preserveHost;
  // Names are skipped here rather than deleted afterwards: a `delete` turns the object
  // into a dictionary, which every later read (ours and undici's) pays for.
  for (const name in src) {
    if (HOP_BY_HOP.has(name)) continue;
    // spoofable identity headers and forwarding claims all start with "x-": one char test for everything else
    if (name.charCodeAt(0) === 120 && name.charCodeAt(1) === 45) {
      if (isSpoofable(policy, name)) continue;
      // an untrusted client's own forwarding claims are dropped, not passed on
      if (!trusted && name === 'x-forwarded-prefix') continue;
    } else if (name === 'host') {
      if (!keepHost) continue;
    } else if (name === 'forwarded') {
      if (!trusted) continue;
    }
    if (listed !== null && listed.has(name)) continue;
    if (strip !== undefined && strip.size > 0 && strip.has(name)) continue;
    out[name] = src[name];
  }

  if (trusted) {
    const xff = src['x-forwarded-for'];
    out['x-forwarded-for'] = xff ? `${xff}, ${plain(peer)}` : plain(peer);
    out['x-forwarded-proto'] = src['x-forwarded-proto'] ?? gr.scheme;
    out['x-forwarded-host'] = src['x-forwarded-host'] ?? gr.host;
    out['x-forwarded-port'] = src['x-forwarded-port'] ?? policy.port;
  } else {
    out['x-forwarded-for'] = gr.clientIp;
    out['x-forwarded-proto'] = gr.scheme;
    out['x-forwarded-host'] = gr.host;
    out['x-forwarded-port'] = policy.port;
  }
  if (opts.strippedPrefix !== '') out['x-forwarded-prefix'] = opts.strippedPrefix;
  out['x-real-ip'] = gr.clientIp;
  out['x-request-id'] = gr.requestId;

  const add = peekUpstreamHeaders(gr);
  if (add !== undefined) for (const name in add) out[name.toLowerCase()] = add[name];
  omitHeaders(out, gr.omitUpstreamHeaders);
  return out;
}

function plain(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The query string without the parameters authenticators hid (e.g. `apikey`). */
export function stripQueryParams(query: string, names: ReadonlySet<string> | undefined): string {
  if (query === '' || names === undefined || names.size === 0) return query;
  return query
    .split('&')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq === -1 ? pair : pair.slice(0, eq);
      let name = rawName;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        // keep a malformed name as written
      }
      return !names.has(name);
    })
    .join('&');
}
