// What upstream receives besides the body (ARCHITECTURE §5): the client's headers minus
// hop-by-hop ones, minus spoofable identity headers, minus the edge credential; then ours:
// the internal token, X-Consumer-* (Id, Username, Groups, Custom-ID), X-Request-Id, X-Forwarded-*, X-Real-IP,
// and our entry in Via (RFC 9110 §7.6.3: an HTTP-to-HTTP gateway MUST send one in each request it forwards).
//
// Without an authenticator on the route (and so without an identity) the client's own
// `Authorization` passes through unchanged, as in Kong: such a route is a plain proxy.
import type { IncomingHttpHeaders } from 'node:http';
import { peekStripHeaders, peekUpstreamHeaders, type GatewayRequest, type Identity } from '../types.js';

/** RFC 9110 §7.6.1 hop-by-hop fields, plus Expect and HTTP2-Settings (never forwarded). */
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
  'expect', // the gateway answered 100-continue itself
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
  /** some configured name or prefix does not start with `x-` (so other names are checked too) */
  stripOthers: boolean;
  /** the listener's port, for X-Forwarded-Port */
  port: string;
}

export function headerPolicy(trusted: (address: string) => boolean, extra: readonly string[], port: string): HeaderPolicy {
  const names = new Set(SPOOFABLE_NAMES);
  const prefixes = [...SPOOFABLE_PREFIXES];
  for (const h of extra) {
    const name = dashed(h.toLowerCase());
    if (name.endsWith('*')) prefixes.push(name.slice(0, -1));
    else names.add(name);
  }
  const stripOthers = [...names, ...prefixes].some((n) => !n.startsWith('x-'));
  return { trusted, stripNames: names, stripPrefixes: prefixes, stripOthers, port };
}

/**
 * `x_consumer_id` as `x-consumer-id`: CGI-style servers (WSGI, Rack, PHP behind a server that
 * keeps such fields) read both as HTTP_X_CONSUMER_ID, so a field is judged by its dashed name.
 * (nginx drops underscored fields by default for the same reason.)
 */
function dashed(name: string): string {
  return name.indexOf('_') === -1 ? name : name.replaceAll('_', '-');
}

function isSpoofable(policy: HeaderPolicy, name: string): boolean {
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

/** Sets the internal token (`authorization`: `Bearer <token>`) and the consumer convenience headers on gr.upstreamHeaders. */
export function setIdentityHeaders(gr: GatewayRequest, identity: Identity, authorization: string): void {
  const h = gr.upstreamHeaders;
  h.authorization = authorization;
  // plugins that set these already (acl's groups) know better
  const consumer = identity.consumer;
  if (consumer !== undefined) {
    h['x-consumer-id'] ??= consumer.id;
    h['x-consumer-username'] ??= consumer.username;
    if (consumer.groups.length > 0) h['x-consumer-groups'] ??= consumer.groups.join(', ');
    // one property test for consumers without one; the value is the stored string, nothing to compute
    if (consumer.custom_id !== undefined) h['x-consumer-custom-id'] ??= consumer.custom_id;
  }
  if (identity.auth_method === 'anonymous') h['x-anonymous-consumer'] = 'true';
}

/** Headers plugins asked never to send (acl's hide_groups_header); applied last. */
export function omitHeaders(headers: Record<string, unknown>, omit: ReadonlySet<string> | undefined): void {
  if (omit !== undefined) for (const name of omit) delete headers[name];
}

interface UpstreamHeaderOptions {
  preserveHost: boolean;
  /** what strip_path removed ('' when nothing) */
  strippedPrefix: string;
}

/** The header object for the upstream request (upgrades): the same fields as upstreamHeaderList. */
export function upstreamHeaders(gr: GatewayRequest, policy: HeaderPolicy, opts: UpstreamHeaderOptions): IncomingHttpHeaders {
  const list = upstreamHeaderList(gr, policy, opts.preserveHost, opts.strippedPrefix);
  const out: IncomingHttpHeaders = {};
  for (let i = 0; i < list.length; i += 2) out[list[i] as string] = list[i + 1];
  return out;
}

/**
 * Via after the client's: `received-protocol received-by` (RFC 9110 §7.6.3), the protocol
 * version the gateway received and a pseudonym, no host or port (ours are nobody's business
 * upstream). Made once per version: almost every request is HTTP/1.1.
 */
const VIA_PSEUDONYM = 'drawbridge';
const VIA_11 = `1.1 ${VIA_PSEUDONYM}`;
function viaEntry(httpVersion: string | undefined): string {
  return httpVersion === '1.1' || httpVersion === undefined ? VIA_11 : `${httpVersion} ${VIA_PSEUDONYM}`;
}

/** Forwarding fields the gateway always sets itself: the client's own are never copied. */
const OURS: ReadonlySet<string> = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-request-id']);

/**
 * The upstream request's headers as the flat [name, value, …] list the pool takes (every name
 * lower case and once): built in one pass, with no object for the pool to take apart again
 * (an object costs it an iterator probe and an Object.keys per request). The client's
 * fields come first minus the ones dropped; then ours (X-Forwarded-*, X-Real-IP,
 * X-Request-Id, Via with ours appended to the client's); then what plugins set (gr.upstreamHeaders, which win over both); fields
 * in gr.omitUpstreamHeaders are left out whoever set them.
 */
export function upstreamHeaderList(gr: GatewayRequest, policy: HeaderPolicy, preserveHost: boolean, strippedPrefix: string): Array<string | string[]> {
  const req = gr.req;
  const src = req.headers;
  const out: Array<string | string[]> = [];
  const listed = connectionTokens(src.connection);
  const stripped = peekStripHeaders(gr); // undefined: no plugin hid a header
  const strip = stripped !== undefined && stripped.size > 0 ? stripped : undefined;
  const added = peekUpstreamHeaders(gr);
  const add = added === undefined ? undefined : lowerCaseKeys(added);
  const omit = gr.omitUpstreamHeaders !== undefined && gr.omitUpstreamHeaders.size > 0 ? gr.omitUpstreamHeaders : undefined;
  const peer = req.socket.remoteAddress ?? '';
  const trusted = policy.trusted(peer);
  // only a trusted proxy's X-Forwarded-Prefix is passed on, and only when strip_path sets none
  const ownPrefix = !trusted || strippedPrefix !== '';
  for (const name in src) {
    if (HOP_BY_HOP.has(name)) continue;
    // spoofable identity headers and forwarding claims start with "x-" (or "x_"): one char test for everything else
    if (name.charCodeAt(0) === 120 /* x */) {
      const as = dashed(name);
      if (as.charCodeAt(1) === 45 /* - */) {
        if (OURS.has(as) || isSpoofable(policy, as)) continue;
        if (ownPrefix && as === 'x-forwarded-prefix') continue;
      } else if (policy.stripOthers && isSpoofable(policy, as)) {
        continue;
      }
    } else if (name === 'host') {
      if (!preserveHost) continue;
    } else if (name === 'forwarded') {
      if (!trusted) continue;
    } else if (name === 'via') {
      continue; // sent below with our entry appended
    } else if (policy.stripOthers && isSpoofable(policy, dashed(name))) {
      continue; // a configured strip_headers name without "x-"
    }
    if (listed !== null && listed.has(name)) continue;
    if (strip !== undefined && strip.has(name)) continue;
    if (add !== undefined && Object.hasOwn(add, name)) continue;
    if (omit !== undefined && omit.has(name)) continue;
    out.push(name, src[name]!);
  }

  // host: '' when the request had no Host (HTTP/1.0) or an empty one (RFC 9112 §3.2) and no trusted
  // proxy named one: X-Forwarded-Host is then left out (an empty one names no host; as with
  // Forwarded's host=, absent means unknown), never sent empty
  let xff: string, proto: string | string[], host: string | string[], port: string | string[];
  if (trusted) {
    const theirs = src['x-forwarded-for'];
    xff = theirs ? `${theirs}, ${plain(peer)}` : plain(peer);
    proto = src['x-forwarded-proto'] ?? gr.scheme;
    host = src['x-forwarded-host'] ?? gr.host;
    port = src['x-forwarded-port'] ?? policy.port;
  } else {
    xff = gr.clientIp;
    proto = gr.scheme;
    host = gr.host;
    port = policy.port;
  }
  const theirVia = src.via;
  const via = theirVia === undefined || theirVia === '' ? viaEntry(req.httpVersion) : `${theirVia}, ${viaEntry(req.httpVersion)}`;
  if (add === undefined && omit === undefined) {
    // the common case: nothing to override or leave out
    out.push('x-forwarded-for', xff, 'x-forwarded-proto', proto);
    if (host !== '') out.push('x-forwarded-host', host);
    out.push('x-forwarded-port', port);
    if (strippedPrefix !== '') out.push('x-forwarded-prefix', strippedPrefix);
    out.push('x-real-ip', gr.clientIp, 'x-request-id', gr.requestId, 'via', via);
    return out;
  }
  put(out, add, omit, 'x-forwarded-for', xff);
  put(out, add, omit, 'x-forwarded-proto', proto);
  if (host !== '') put(out, add, omit, 'x-forwarded-host', host);
  put(out, add, omit, 'x-forwarded-port', port);
  if (strippedPrefix !== '') put(out, add, omit, 'x-forwarded-prefix', strippedPrefix);
  put(out, add, omit, 'x-real-ip', gr.clientIp);
  put(out, add, omit, 'x-request-id', gr.requestId);
  put(out, add, omit, 'via', via);
  if (add !== undefined) for (const name in add) if (omit === undefined || !omit.has(name)) out.push(name, add[name]!);
  return out;
}

/** One of our fields, unless a plugin set it (added after) or asked for it to be left out. */
function put(
  out: Array<string | string[]>,
  add: Readonly<Record<string, string>> | undefined,
  omit: ReadonlySet<string> | undefined,
  name: string,
  value: string | string[],
): void {
  if ((add === undefined || !Object.hasOwn(add, name)) && (omit === undefined || !omit.has(name))) out.push(name, value);
}

/** Plugins set lower-case names; one that did not gets a lower-cased copy, so its field still wins. */
function lowerCaseKeys(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  for (const name in headers) {
    if (name !== name.toLowerCase()) {
      const lower: Record<string, string> = Object.create(null);
      for (const n in headers) lower[n.toLowerCase()] = headers[n]!;
      return lower;
    }
  }
  return headers;
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
