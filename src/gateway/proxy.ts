// Forwarding to the upstream over the target's pool (h1/pool.ts). Bodies are streamed both
// ways: the client's request stream is the upstream request's body, and the response chunks
// are written straight to the client's response with backpressure (a dispatch handler, so
// no intermediate stream). Hop-by-hop response headers are dropped before anything else.
//
// Failures before the response started: connect timeout / read timeout → 504, refused /
// reset → 502, every target resting → 503 with Retry-After. Idempotent requests are retried
// on another target when nothing of the body was consumed. After the response started,
// a failure can only cut the response.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { hasRequestBody } from '../core/http.js';
import { ListenerResponse } from '../core/listener.js';
import { GatewayError, serviceUnavailable } from './errors.js';
import { limitBody } from './limits/body-limit.js';
import { peekResponseHeaders, type GatewayRequest } from './types.js';
import { IDEMPOTENT_METHODS, STALE_CONNECTION_ERRORS, type UpstreamResponseHandler } from './h1/pool.js';
import { UpstreamError } from './h1/types.js';
import type { ServiceUpstream, Target } from './upstream.js';

/** Response headers that describe one connection, not the message. */
const HOP_BY_HOP_RESPONSE: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Errors where the upstream never saw the request: safe to try another target. */
const CONNECT_ERRORS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'UPSTREAM_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

/** RFC 9112 §4 reason-phrase: HTAB, SP, VCHAR, obs-text */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The pool's errors that say nothing about the target's health. */
const OUR_FAULT: ReadonlySet<string> = new Set(['UPSTREAM_INVALID_REQUEST', 'UPSTREAM_REQUEST_BODY', 'UPSTREAM_ABORTED', 'UPSTREAM_CLOSED']);

const TIMEOUT_ERRORS: ReadonlySet<string> = new Set(['UPSTREAM_CONNECT_TIMEOUT', 'UPSTREAM_READ_TIMEOUT']);

/** How a forward ends: exactly one of the two is called, once. */
export interface ProxyCallbacks {
  /** the response was handed to the socket */
  proxied(): void;
  /** the exchange failed: a GatewayError (502/503/504, or the chain's own from the body stream); always a microtask later */
  proxyFailed(err: unknown): void;
}

/**
 * Forwards `gr` and writes the upstream's response to gr.res, without a promise: `done`
 * hears how it ended (proxyFailed with a GatewayError before any byte was written).
 * Success is reported from the pool's completion callback itself; a failure (and a retry on
 * another target) one microtask later, as an await would have run it.
 */
export function forward(
  gr: GatewayRequest,
  upstream: ServiceUpstream,
  path: string,
  query: string,
  headers: UpstreamHeaders,
  done: ProxyCallbacks,
): void {
  new Exchange(gr, upstream, path, query, headers, done).attempt();
}

/** The upstream request's headers: a flat [name, value, …] list (mutate/headers.ts upstreamHeaderList) or an object. */
type UpstreamHeaders = Array<string | string[]> | IncomingHttpHeaders;

/** One request's attempts at the service's targets. */
class Exchange {
  // declared, set in the constructor: plain stores rather than a class-field define each per request
  declare readonly gr: GatewayRequest;
  declare readonly upstream: ServiceUpstream;
  /** path after strip_path, starting with '/' (or '' for nothing left) */
  declare readonly path: string;
  /** query string without '?' */
  declare readonly query: string;
  declare readonly headers: UpstreamHeaders;
  declare readonly done: ProxyCallbacks;
  declare readonly body: Readable | Buffer | null;
  declare readonly replayable: boolean;
  declare readonly retries: number;
  declare tries: number;
  declare previous: Target | undefined;
  declare current: Target | undefined;
  /** the current attempt's response handler */
  declare writer: ResponseWriter | null;

  constructor(gr: GatewayRequest, upstream: ServiceUpstream, path: string, query: string, headers: UpstreamHeaders, done: ProxyCallbacks) {
    this.gr = gr;
    this.upstream = upstream;
    this.path = path;
    this.query = query;
    this.headers = headers;
    this.done = done;
    const req = gr.req;
    this.writer = null;
    // the limited body's failure is heard from its creation on (body-limit.ts): it can come
    // before the upstream connection reads the body, or after the connection stopped reading
    this.body =
      gr.body ??
      (hasRequestBody(req.headers) ? (gr.bodyLimit === undefined ? req : limitBody(req, gr.bodyLimit, (err) => this.bodyFailed(err))) : null);
    this.replayable = this.body === null || gr.body !== undefined;
    this.retries = IDEMPOTENT_METHODS.has(gr.method) ? upstream.service.retries : 0;
    this.tries = 0;
    this.previous = undefined;
    this.current = undefined;
  }

  attempt(): void {
    const upstream = this.upstream;
    const t = upstream.pick(this.previous);
    if (t === undefined) {
      this.fail(serviceUnavailable(`no healthy target for service ${upstream.service.name}`, upstream.retryAfter()));
      return;
    }
    this.current = t;
    const gr = this.gr;
    try {
      const path = joinPath(t.basePath, this.path, this.query);
      const writer = new ResponseWriter(gr.res, peekResponseHeaders(gr), this);
      this.writer = writer;
      t.pool.dispatch({ path, method: gr.method, headers: this.headers, body: this.body }, writer);
    } catch (err) {
      this.failed(err);
    }
  }

  /**
   * The limited request body failed: past request-size-limiting's limit (a 413
   * GatewayError), or the client's own stream broke. An exchange in flight ends with it: the
   * upstream request is aborted (its connection closed, so a short body is never taken as
   * whole) and decide() answers the 413, or cuts the client's connection when the response
   * had begun (ResponseWriter.onError). With no exchange in flight the answer is out (the
   * upstream answered before the body ended) or on its way (a refusal before any dispatch,
   * sent with Connection: close as the body was not read): the rest of an over-limit body
   * is not read, so the client's connection closes once the answer is flushed.
   */
  private bodyFailed(err: Error): void {
    if (this.writer?.abortWith(err) === true) return;
    const gr = this.gr;
    if (err instanceof GatewayError && gr.res.writableEnded) gr.req.socket?.destroySoon();
  }

  /** ResponseWriter: the response is complete */
  succeeded(): void {
    this.upstream.succeeded(this.current!);
    this.done.proxied();
  }

  /** ResponseWriter: the exchange failed; decided (retry or give up) in a microtask, out of the pool's callback */
  failed(err: unknown): void {
    queueMicrotask(() => this.decide(err));
  }

  private decide(err: unknown): void {
    const { gr, upstream } = this;
    const req = gr.req;
    // a plugin's own refusal from inside the body stream (request-size-limiting: 413)
    if (err instanceof GatewayError) return this.done.proxyFailed(err);
    // the listener refused the request itself (its body broke off: core/listener.ts); that 400 is the answer
    if (gr.res.writableEnded) return this.done.proxied();
    if (gr.res.destroyed || (req.destroyed && !req.complete)) {
      // the client went away: nothing to answer, and the target is not to blame
      return this.done.proxyFailed(new GatewayError('bad_gateway', 502, 'client closed the request', { reason: 'client_closed', cause: err }));
    }
    const code = (err as { code?: string }).code ?? '';
    const t = this.current!;
    // a request the pool refused to send, or a request body that failed, is not the target's fault
    if (!OUR_FAULT.has(code)) upstream.failed(t);
    const beforeUpstream = CONNECT_ERRORS.has(code) || STALE_CONNECTION_ERRORS.has(code);
    const bodyIntact = this.replayable || (CONNECT_ERRORS.has(code) && !req.readableDidRead);
    if (this.tries < this.retries && beforeUpstream && bodyIntact && !gr.res.headersSent) {
      this.tries++;
      this.previous = t;
      this.attempt();
      return;
    }
    this.done.proxyFailed(upstreamError(err, upstream.service.name));
  }

  /** a refusal before any dispatch (no healthy target) */
  fail(err: GatewayError): void {
    queueMicrotask(() => this.done.proxyFailed(err));
  }
}

function mergeVary(ours: string, theirs: string): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of `${ours},${theirs}`.split(',')) {
    const token = raw.trim();
    if (token === '' || seen.has(token.toLowerCase())) continue;
    seen.add(token.toLowerCase());
    out.push(token);
  }
  return out.join(', ');
}

/** Merges the upstream's Vary into ours, among the plugin fields before `first` of a flat list. */
function mergeVaryInto(flat: string[], first: number, theirs: string): void {
  for (let i = 0; i < first; i += 2) {
    if (flat[i]!.toLowerCase() === 'vary') {
      flat[i + 1] = mergeVary(flat[i + 1]!, theirs);
      return;
    }
  }
}

/** A flat list as an object, repeated fields (Set-Cookie) as one array each. */
function grouped(flat: string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (typeof seen === 'string') headers[name] = [seen, value];
    else seen.push(value);
  }
  return headers;
}

/** The flat list without the upstream fields its Connection header named (plugin fields stay). */
function withoutListed(flat: string[], first: number, listed: Set<string>): string[] {
  const kept = flat.slice(0, first);
  for (let i = first; i < flat.length; i += 2) if (!listed.has(flat[i]!)) kept.push(flat[i]!, flat[i + 1]!);
  return kept;
}

function connectionTokens(value: string, into: Set<string> | null): Set<string> | null {
  // nearly every upstream says just "keep-alive": no allocation (and no regular expression) for that
  if (value === 'keep-alive' || value === 'close') return into;
  if (value.length <= 10) {
    const lower = value.toLowerCase();
    if (lower === 'keep-alive' || lower === 'close') return into;
  }
  let tokens = into;
  for (const raw of value.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token !== '' && token !== 'close' && token !== 'keep-alive') (tokens ??= new Set<string>()).add(token);
  }
  return tokens;
}

export function joinPath(base: string, path: string, query: string): string {
  const full = base + path;
  const p = full === '' ? '/' : full.charCodeAt(0) === 47 ? full : '/' + full;
  return query === '' ? p : `${p}?${query}`;
}

/** A GatewayError for a failed upstream exchange; never exposes the cause. */
export function upstreamError(err: unknown, service: string): GatewayError {
  const code = (err as { code?: string }).code ?? '';
  if (TIMEOUT_ERRORS.has(code)) {
    return new GatewayError('gateway_timeout', 504, `service ${service} did not answer in time`, { reason: 'upstream_timeout', cause: err });
  }
  if (code === 'UPSTREAM_INVALID_RESPONSE') {
    // the upstream answered, with something that is not HTTP/1.1 (the parser refused it)
    return new GatewayError('bad_gateway', 502, `service ${service} sent an invalid HTTP response`, { reason: 'invalid_response', cause: err });
  }
  return new GatewayError('bad_gateway', 502, `service ${service} is unreachable`, { reason: code === '' ? 'upstream_error' : code.toLowerCase(), cause: err });
}

/**
 * The pool's response handler: writes the response to the client as it arrives, with
 * backpressure: onData returns false when the client is slow, and the pool resumes on drain.
 */
class ResponseWriter implements UpstreamResponseHandler {
  // declared, set in the constructor (see Exchange)
  private declare readonly _res: ServerResponse;
  /** headers plugins set for the client; undefined when none did */
  private declare readonly _extra: Readonly<Record<string, string>> | undefined;
  private declare _exchange: Exchange | null;
  private declare _abort: ((err?: Error) => void) | null;
  /** watching with a plain 'close' listener (a response that is not a ListenerResponse) */
  private declare _onClose: (() => void) | null;
  private declare _resume: (() => void) | null;

  constructor(res: ServerResponse, extra: Readonly<Record<string, string>> | undefined, exchange: Exchange) {
    this._res = res;
    this._extra = extra;
    this._exchange = exchange;
    this._abort = null;
    this._onClose = null;
    this._resume = null;
  }

  onConnect(abort: (err?: Error) => void): void {
    const res = this._res;
    if (this._abort === null) {
      // the client hung up: stop the upstream exchange too. The listener's own 'close'
      // listener tells us (ListenerResponse.closeWatcher): no listener added per request.
      this._abort = abort;
      if (res instanceof ListenerResponse) res.closeWatcher = this;
      else res.on('close', (this._onClose = () => this.responseClosed()));
    }
    // the client went away, or the listener already refused the request (its body broke off)
    if (res.destroyed || res.writableEnded) abort();
  }

  /** Exchange: ends the exchange in flight with `err` (onError follows at once); false when none was in flight */
  abortWith(err: Error): boolean {
    if (this._exchange === null || this._abort === null) return false;
    this._abort(err);
    return this._exchange === null;
  }

  /** the client's response closed: abort unless it was finished */
  responseClosed(): void {
    if (!this._res.writableFinished) this._abort?.();
  }

  /** the client's request body broke off: the upstream must not wait for the rest (nor take a short body as whole) */
  requestBroken(): void {
    this._abort?.(new UpstreamError('UPSTREAM_REQUEST_BODY', 'the request body broke off'));
  }

  onHeaders(statusCode: number, rawHeaders: string[], resume: () => void, statusText: string): boolean {
    // (1xx never arrive here: the pool skips them; 100-continue was answered to the client)
    // One flat [name, value, …] list for writeHead: nothing is set on the response before,
    // so Node writes it as is (no header map, no setHeader per field), and the listener's
    // X-Request-Id joins it (core/listener.ts).
    const out: string[] = [];
    // headers plugins set for the client (CORS, RateLimit-*) win over the upstream's
    const extra = this._extra;
    let ours: string[] | null = null; // their names (lower-case already, types.ts): a handful, a scan beats a Set
    if (extra !== undefined) {
      for (const name in extra) {
        (ours ??= []).push(name);
        out.push(name, extra[name]!);
      }
    }
    const first = out.length; // the upstream's fields start here
    let listed: Set<string> | null = null; // names the upstream's Connection header makes hop-by-hop
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const lower = rawHeaders[i]!.toLowerCase();
      const value = rawHeaders[i + 1]!;
      if (lower === 'connection') {
        listed = connectionTokens(value, listed);
        continue;
      }
      if (HOP_BY_HOP_RESPONSE.has(lower)) continue;
      if (ours !== null && ours.includes(lower)) {
        // both vary: the response varies by the union (CORS adds Origin to the upstream's)
        if (lower === 'vary') mergeVaryInto(out, first, value);
        continue;
      }
      out.push(lower, value);
    }
    const res = this._res;
    const flat = listed === null ? out : withoutListed(out, first, listed);
    // a response someone already set headers on (an upgrade's) merges field by field: repeats grouped
    // the upstream's reason phrase goes along when Node can write it
    const reason = statusText === '' || !REASON_PHRASE.test(statusText) ? undefined : statusText;
    res.writeHead(statusCode, reason, res instanceof ListenerResponse && res.pristine ? flat : grouped(flat));
    // nothing is written yet: a 'drain' listener is added only when a write says "full"
    this._resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this._res;
    if (res.write(chunk)) return true;
    if (this._resume !== null) res.once('drain', this._resume);
    return false;
  }

  onComplete(): void {
    this.cleanup();
    const exchange = this._exchange;
    this._exchange = null;
    // the upstream exchange is over: the request is done once the response is handed to
    // the socket (waiting for 'finish' would only add a listener per request, and a
    // client that disconnects mid-flush would leave the promise pending)
    this._res.end();
    exchange?.succeeded();
  }

  onError(err: Error): void {
    this.cleanup();
    const exchange = this._exchange;
    this._exchange = null;
    if (this._res.headersSent) {
      // mid-body failure: the status is out; cutting the connection is all that is left
      this._res.destroy(err);
    }
    exchange?.failed(err);
  }

  private cleanup(): void {
    const res = this._res;
    if (this._onClose !== null) res.removeListener('close', this._onClose);
    else if (res instanceof ListenerResponse && res.closeWatcher === this) res.closeWatcher = null;
  }
}
