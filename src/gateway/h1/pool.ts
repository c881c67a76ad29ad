// The gateway's HTTP/1.1 client for one upstream origin: keep-alive connections over
// node:net / node:tls, responses parsed by Node's own llhttp binding (the parser node:http
// uses, strict mode), one exchange per connection at a time (no pipelining).
//
// Why not undici: per request undici builds a Request object, validates and re-encodes
// every header, runs its WebAssembly llhttp with Buffer copies of each header field, and
// drives a queue and a kernel of state machines: a minimal proxy on this client needs about
// a tenth less CPU per request than the same proxy on undici (bench row (b2), GATEWAY.md). Here a
// request is one string written to the socket, and a response is the parser's callbacks
// handed straight to the caller's handler.
//
// The handler interface is undici's dispatch handler (onConnect, onHeaders, onData,
// onComplete, onError; exactly one of the last two, once), with the response fields as the
// parser gives them: latin1 strings in their received case.
//
// Timeouts: `connectTimeout` until the connection (and TLS handshake) is up; then
// `readTimeout` of silence while an exchange waits for the upstream (headers or body; not
// while the caller holds the response paused). An idle connection is reused for at most
// `keepAliveTimeout` after its last exchange (less when the upstream's `Keep-Alive: timeout=N`
// says it keeps it shorter: N − 1 s, so a request never races the upstream's own close),
// closed by the pool within a second after that, and dropped as soon as the upstream closes it.
import { createRequire } from 'node:module';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';

/** Node's llhttp binding (lib/_http_common.js), as node:http's own client uses it. */
interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  [key: number]: unknown;
}
interface ParserClass {
  new (): Parser;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: ParserClass };
const kOnHeaders = HTTPParser.kOnHeaders;
const kOnHeadersComplete = HTTPParser.kOnHeadersComplete;
const kOnBody = HTTPParser.kOnBody;
const kOnMessageComplete = HTTPParser.kOnMessageComplete;

export interface UpstreamPoolOptions {
  /** ms until the connection (and its TLS handshake) is up */
  connectTimeout: number;
  /** ms of silence allowed while waiting for the response (headers or body) */
  readTimeout: number;
  /** ms an idle connection is kept for reuse; default 4000 */
  keepAliveTimeout?: number;
  /** https: trusted CAs instead of Node's bundled ones, a client certificate, or no verification */
  tls?: UpstreamTlsOptions;
}

export interface UpstreamTlsOptions {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** default true */
  rejectUnauthorized?: boolean;
}

/** A flat [name, value, …] list or an object; names lower case. */
export type UpstreamRequestHeaders = Array<string | string[]> | Record<string, string | string[] | undefined>;

export interface UpstreamRequest {
  method: string;
  /** origin-form request target: '/path?query' */
  path: string;
  /** sent as given, but for framing (the pool sets Content-Length / Transfer-Encoding) and a default Host */
  headers: UpstreamRequestHeaders;
  /** a Readable without Content-Length goes chunked */
  body: Buffer | Readable | null;
}

export interface UpstreamResponseHandler {
  /** first, before anything is sent; `abort` ends the exchange (onError follows) */
  onConnect(abort: (err?: Error) => void): void;
  /** the final (≥ 200) response's head; false pauses the body until resume() */
  onHeaders(statusCode: number, headers: string[], resume: () => void, statusText: string): boolean;
  /** body bytes, de-chunked; false pauses until resume() */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(err: Error): void;
}

export type UpstreamErrorCode =
  | 'UPSTREAM_CONNECT_TIMEOUT'
  | 'UPSTREAM_READ_TIMEOUT'
  | 'UPSTREAM_SOCKET_CLOSED'
  | 'UPSTREAM_INVALID_RESPONSE'
  | 'UPSTREAM_INVALID_REQUEST'
  | 'UPSTREAM_REQUEST_BODY'
  | 'UPSTREAM_ABORTED'
  | 'UPSTREAM_CLOSED';

export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;
  constructor(code: UpstreamErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'UpstreamError';
    this.code = code;
  }
}

/** RFC 9110 §5.6.2 token (method, field name) */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** what a field value may hold: HTAB, SP, VCHAR, obs-text (no CR, LF or NUL: no request splitting) */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** an origin-form target: no whitespace or control characters */
const BAD_TARGET = /[^\x21-\x7e\x80-\xff]/;
/** methods whose request without a body still says Content-Length: 0 (RFC 9110 §8.6) */
const EXPECTS_BODY: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);
const LAST_CHUNK = '0\r\n\r\n';
/** how often idle connections past their keep-alive time are closed */
const SWEEP_MS = 1_000;

export class UpstreamPool {
  readonly origin: string;
  readonly #host: string;
  readonly #port: number;
  readonly #tls: boolean;
  readonly #servername: string | undefined;
  readonly #tlsOptions: UpstreamTlsOptions | undefined;
  /** the Host field when the request has none */
  readonly #hostHeader: string;
  readonly connectTimeout: number;
  readonly readTimeout: number;
  readonly keepAliveTimeout: number;
  /** the socket timeout of an idle connection: the longer of the two (an idle one is dropped when it fires) */
  readonly idleTimeout: number;
  /** every open connection (for destroy) */
  readonly live = new Set<Connection>();
  /** idle connections, most recently used last */
  readonly #idle: Connection[] = [];
  #open = 0;
  #busy = 0;
  #closed = false;
  #drained: (() => void) | null = null;
  #sweeper: NodeJS.Timeout | null = null;

  constructor(origin: string, options: UpstreamPoolOptions) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported upstream protocol ${url.protocol}`);
    this.origin = url.origin;
    this.#tls = url.protocol === 'https:';
    this.#host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.#port = url.port === '' ? (this.#tls ? 443 : 80) : Number(url.port);
    this.#servername = isIP(this.#host) === 0 ? this.#host : undefined;
    this.#hostHeader = url.host;
    this.#tlsOptions = options.tls;
    this.connectTimeout = options.connectTimeout;
    this.readTimeout = options.readTimeout;
    this.keepAliveTimeout = options.keepAliveTimeout ?? 4_000;
    this.idleTimeout = Math.max(this.readTimeout, this.keepAliveTimeout);
  }

  /** open connections, busy and idle */
  get connections(): number {
    return this.#open;
  }

  /** idle connections */
  get idle(): number {
    return this.#idle.length;
  }

  /** Sends `request` on an idle connection (or a new one) and reports to `handler`. Never throws. */
  dispatch(request: UpstreamRequest, handler: UpstreamResponseHandler): void {
    if (this.#closed) {
      handler.onConnect(noop);
      handler.onError(new UpstreamError('UPSTREAM_CLOSED', 'the upstream pool is closed'));
      return;
    }
    let head: string;
    try {
      head = this.#head(request);
    } catch (err) {
      handler.onConnect(noop);
      handler.onError(err as Error);
      return;
    }
    this.#take().start(new Dispatch(request, head, handler));
  }

  /** Connection: a reused connection was found closed before it answered; false when the pool is closed. */
  retryStale(ex: Dispatch): boolean {
    if (this.#closed) return false;
    ex.retried = true;
    this.#open++;
    this.#busy++;
    new Connection(this, this.#connect()).start(ex);
    return true;
  }

  /** Stops taking requests; resolves once the in-flight ones are done and every connection is closed. */
  close(): Promise<void> {
    this.#closed = true;
    this.#stopSweeping();
    for (const conn of this.#idle.splice(0)) conn.destroy(null);
    if (this.#busy === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained = resolve;
    });
  }

  /** Closes every connection now; in-flight exchanges fail. */
  destroy(): void {
    this.#closed = true;
    this.#stopSweeping();
    for (const conn of this.#idle.splice(0)) conn.destroy(null);
    for (const conn of [...this.live]) conn.destroy(new UpstreamError('UPSTREAM_CLOSED', 'the upstream pool was destroyed'));
  }

  /** The request head: request line, fields, framing, blank line. Throws on what must not be sent. */
  #head(request: UpstreamRequest): string {
    const { method, path, headers, body } = request;
    if (!TOKEN.test(method)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', 'invalid request method');
    // origin-form (RFC 9112 §3.2.1), or asterisk-form for OPTIONS: never an absolute URL that would name another host
    const form = path.charCodeAt(0) === 47 || (path === '*' && method === 'OPTIONS');
    if (!form || BAD_TARGET.test(path)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', 'invalid request target');
    let head = `${method} ${path} HTTP/1.1\r\n`;
    let host = false;
    let length: string | undefined;
    const flat = Array.isArray(headers) ? headers : flatten(headers);
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i] as string;
      const value = flat[i + 1];
      if (name === 'host') host = true;
      else if (name === 'content-length') {
        length = String(value);
        continue;
      } else if (name === 'transfer-encoding') continue;
      head += field(name, value);
    }
    if (!host) head += `host: ${this.#hostHeader}\r\n`;
    if (body === null) {
      if (length !== undefined && length !== '0') throw new UpstreamError('UPSTREAM_INVALID_REQUEST', 'Content-Length without a body');
      if (length !== undefined || EXPECTS_BODY.has(method)) head += 'content-length: 0\r\n';
    } else if (Buffer.isBuffer(body)) {
      head += `content-length: ${body.length}\r\n`;
    } else if (length !== undefined) {
      head += `content-length: ${checkedLength(length)}\r\n`;
    } else {
      head += 'transfer-encoding: chunked\r\n';
    }
    return head + '\r\n';
  }

  /** The most recently used idle connection still fresh enough, or a new one. */
  #take(): Connection {
    const idle = this.#idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (Date.now() - conn.lastUsed < conn.keepFor) {
        this.#busy++;
        if (this.idleTimeout !== this.readTimeout) conn.socket.setTimeout(this.readTimeout);
        return conn;
      }
      conn.destroy(null);
    }
    this.#open++;
    this.#busy++;
    return new Connection(this, this.#connect());
  }

  #connect(): Socket {
    const socket = this.#tls
      ? tlsConnect({ ...this.#tlsOptions, host: this.#host, port: this.#port, servername: this.#servername, ALPNProtocols: ['http/1.1'] })
      : netConnect({ host: this.#host, port: this.#port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    return socket;
  }

  /** Connection: its exchange is over; it may be reused when `reusable`. */
  released(conn: Connection, reusable: boolean): void {
    this.#busy--;
    if (reusable && !this.#closed) {
      conn.lastUsed = Date.now();
      // (a read timeout shorter than the keep-alive one would drop idle connections early)
      if (this.idleTimeout !== this.readTimeout) conn.socket.setTimeout(this.idleTimeout);
      this.#idle.push(conn);
      this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
    } else {
      conn.destroy(null);
    }
    if (this.#busy === 0 && this.#drained !== null) {
      const drained = this.#drained;
      this.#drained = null;
      drained();
    }
  }

  /**
   * Closes idle connections past their keep-alive time, about once a second while there
   * are any: after a burst, hundreds of connections the upstream would keep open are not
   * held until the socket timeout.
   */
  #sweep(): void {
    const idle = this.#idle;
    const now = Date.now();
    for (let i = idle.length - 1; i >= 0; i--) {
      const conn = idle[i]!;
      if (now - conn.lastUsed >= conn.keepFor) conn.destroy(null); // closed() takes it off the list
    }
    if (idle.length === 0 && this.#sweeper !== null) {
      clearInterval(this.#sweeper);
      this.#sweeper = null;
    }
  }

  #stopSweeping(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }

  /** Connection: its socket closed. */
  closed(conn: Connection): void {
    this.#open--;
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
  }

  get tls(): boolean {
    return this.#tls;
  }
}

function noop(): void {}

/** An object of fields as the flat list the gateway passes: names lower case, unset ones left out. */
function flatten(headers: Record<string, string | string[] | undefined>): Array<string | string[]> {
  const flat: Array<string | string[]> = [];
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) flat.push(name.toLowerCase(), value);
  }
  return flat;
}

function field(name: string, value: string | string[] | undefined): string {
  if (!TOKEN.test(name)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', 'invalid header field name');
  if (typeof value === 'string') {
    if (BAD_VALUE.test(value)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', `invalid value of header field ${name}`);
    return `${name}: ${value}\r\n`;
  }
  let lines = '';
  for (const v of value ?? []) {
    if (BAD_VALUE.test(v)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', `invalid value of header field ${name}`);
    lines += `${name}: ${v}\r\n`;
  }
  return lines;
}

function checkedLength(value: string): string {
  if (!/^\d{1,15}$/.test(value)) throw new UpstreamError('UPSTREAM_INVALID_REQUEST', 'invalid Content-Length');
  return value;
}

/** Methods a reused connection's silent close may be retried for on a fresh one: the idempotent ones (RFC 9110 §9.2.2) proxy.ts retries too. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Transport failures of a connection the upstream may have closed while it sat idle. */
const STALE: ReadonlySet<string> = new Set(['UPSTREAM_SOCKET_CLOSED', 'ECONNRESET', 'EPIPE']);

/** One dispatched request; it moves to a fresh connection once when a reused one was stale. */
class Dispatch {
  declare readonly request: UpstreamRequest;
  declare readonly head: string;
  declare readonly handler: UpstreamResponseHandler;
  declare conn: Connection | null;
  /** retried once already after a stale connection */
  declare retried: boolean;

  constructor(request: UpstreamRequest, head: string, handler: UpstreamResponseHandler) {
    this.request = request;
    this.head = head;
    this.handler = handler;
    this.conn = null;
    this.retried = false;
  }

  /** the handler's abort(): ends the exchange on whichever connection it is on */
  abort(err?: Error): void {
    const conn = this.conn;
    if (conn !== null && conn.ex === this) conn.fail(err ?? new UpstreamError('UPSTREAM_ABORTED', 'the exchange was aborted'));
  }
}

/** One keep-alive connection and its parser; at most one exchange at a time. */
class Connection {
  readonly pool: UpstreamPool;
  readonly socket: Socket;
  readonly parser: Parser;
  /** Date.now() when its last exchange ended */
  lastUsed = 0;
  /** ms it may sit idle and still be reused: the pool's keepAliveTimeout, or less as the upstream said */
  keepFor: number;
  /** exchanges started on it, this one included */
  uses = 0;
  connected = false;
  destroyed = false;
  /** the exchange in progress; null between exchanges */
  ex: Dispatch | null = null;
  /** the exchange's streamed request body while it is being sent */
  body: Readable | null = null;
  stopBody: (() => void) | null = null;
  /** bytes of a Content-Length body still to send; -1: chunked */
  bodyLeft = -1;
  requestSent = false;
  /** the exchange received a byte */
  answered = false;
  /** the response is complete (set by the parser, acted on after it returns) */
  responseDone = false;
  headersSeen = false;
  skipBody = false;
  keepAlive = true;
  informational = false;
  /** the handler asked for a pause */
  paused = false;
  /** body chunks the parser delivered while paused, handed over on resume */
  held: Buffer[] | null = null;
  /** received bytes no exchange asked for: the connection cannot be trusted */
  stray = false;
  /** header fields flushed by the parser before the head was complete */
  partial: string[] | null = null;
  readonly resume: () => void;

  constructor(pool: UpstreamPool, socket: Socket) {
    this.pool = pool;
    this.socket = socket;
    this.keepFor = pool.keepAliveTimeout;
    pool.live.add(this);
    socket.setTimeout(pool.connectTimeout);
    socket.once(pool.tls ? 'secureConnect' : 'connect', () => {
      this.connected = true;
      socket.setTimeout(this.ex === null ? pool.idleTimeout : pool.readTimeout);
    });
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('end', () => this.ended());
    socket.on('timeout', () => this.timedOut());
    socket.on('error', (err: Error) => this.destroy(err));
    socket.on('close', () => this.destroy(null));
    const parser = (this.parser = new HTTPParser());
    parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
    parser[kOnHeaders] = (fields: string[]) => {
      this.partial = this.partial === null ? fields : this.partial.concat(fields);
    };
    parser[kOnHeadersComplete] = (
      _major: number,
      _minor: number,
      fields: string[] | undefined,
      _method: unknown,
      _url: unknown,
      statusCode: number,
      statusText: string,
      upgrade: boolean,
      keepAlive: boolean,
    ) => this.headersComplete(fields, statusCode, statusText, upgrade, keepAlive);
    parser[kOnBody] = (chunk: Buffer) => this.bodyChunk(chunk);
    parser[kOnMessageComplete] = () => this.messageComplete();
    this.resume = () => this.resumed();
  }

  /** Starts an exchange: the handler hears onConnect (first attempt only), then the head (and body) go out. */
  start(ex: Dispatch): void {
    this.ex = ex;
    ex.conn = this;
    this.uses++;
    this.answered = false;
    this.responseDone = false;
    this.headersSeen = false;
    this.informational = false;
    this.skipBody = ex.request.method === 'HEAD';
    this.keepAlive = true;
    this.requestSent = false;
    if (!ex.retried) {
      ex.handler.onConnect((err?: Error) => ex.abort(err));
      if (this.ex !== ex) return; // aborted at once
    }
    const socket = this.socket;
    const body = ex.request.body;
    if (body === null) {
      socket.write(ex.head, 'latin1');
      this.requestSent = true;
    } else if (Buffer.isBuffer(body)) {
      socket.cork();
      socket.write(ex.head, 'latin1');
      socket.write(body);
      socket.uncork();
      this.requestSent = true;
    } else {
      socket.write(ex.head, 'latin1');
      // the body is read only once the connection is up: a refused connection leaves it untouched (retryable)
      if (this.connected) this.sendBody(body, ex.request.headers);
      else
        socket.once(this.pool.tls ? 'secureConnect' : 'connect', () => {
          if (this.ex === ex) this.sendBody(body, ex.request.headers);
        });
    }
  }

  /** Streams a Readable request body, Content-Length (counted) or chunked, with backpressure. */
  private sendBody(body: Readable, headers: UpstreamRequestHeaders): void {
    this.body = body;
    this.bodyLeft = declaredLength(headers);
    const socket = this.socket;
    const onData = (chunk: Buffer | string) => {
      if (this.body !== body) return;
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (bytes.length === 0) return;
      let flushed: boolean;
      if (this.bodyLeft === -1) {
        socket.cork();
        socket.write(`${bytes.length.toString(16)}\r\n`, 'latin1');
        socket.write(bytes);
        flushed = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else {
        this.bodyLeft -= bytes.length;
        if (this.bodyLeft < 0) return this.fail(new UpstreamError('UPSTREAM_REQUEST_BODY', 'the request body is longer than its Content-Length'));
        flushed = socket.write(bytes);
      }
      if (!flushed) {
        body.pause();
        socket.once('drain', () => {
          if (this.body === body) body.resume();
        });
      }
    };
    const onEnd = () => {
      if (this.body !== body) return;
      stop();
      if (this.bodyLeft > 0) return this.fail(new UpstreamError('UPSTREAM_REQUEST_BODY', 'the request body is shorter than its Content-Length'));
      if (this.bodyLeft === -1) socket.write(LAST_CHUNK, 'latin1');
      this.requestSent = true;
    };
    const onError = (err: Error) => {
      if (this.body === body) this.fail(err);
    };
    const onClose = () => {
      // destroyed before its end (the client went away): the upstream must not take a short body as whole
      if (this.body === body && !body.readableEnded) this.fail(new UpstreamError('UPSTREAM_REQUEST_BODY', 'the request body ended early'));
    };
    const stop = () => {
      body.removeListener('data', onData);
      body.removeListener('end', onEnd);
      body.removeListener('error', onError);
      body.removeListener('close', onClose);
      this.stopBody = null;
      if (this.body === body) this.body = null;
      // stopped early (the upstream answered or failed first): the rest is read and dropped,
      // so the client can finish sending and its connection stays usable
      if (!body.readableEnded && !body.destroyed) body.resume();
    };
    this.stopBody = stop;
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
    if (body.isPaused()) body.resume();
  }

  private received(chunk: Buffer): void {
    if (this.ex === null) {
      // bytes nobody asked for (an upstream that says more than its response): never reuse
      this.stray = true;
      this.destroy(null);
      return;
    }
    this.answered = true;
    const result = this.parser.execute(chunk);
    if (result instanceof Error) {
      this.fail(new UpstreamError('UPSTREAM_INVALID_RESPONSE', `invalid HTTP response from upstream (${(result as { code?: string }).code ?? 'parse error'})`, result));
    } else if (this.stray) {
      this.fail(new UpstreamError('UPSTREAM_INVALID_RESPONSE', 'the upstream sent more than one response'));
    } else if (this.responseDone && this.held === null && this.ex !== null) {
      this.finish();
    }
  }

  private headersComplete(fields: string[] | undefined, statusCode: number, statusText: string, upgrade: boolean, keepAlive: boolean): number {
    const ex = this.ex;
    if (ex === null || this.headersSeen) {
      this.stray = true;
      return 1;
    }
    let all = fields ?? [];
    if (this.partial !== null) {
      all = fields === undefined ? this.partial : this.partial.concat(fields);
      this.partial = null;
    }
    if (statusCode < 200) {
      if (statusCode === 101 || upgrade) {
        this.stray = true; // no upgrade was asked for
        return 1;
      }
      this.informational = true;
      return 1; // 1xx: no body; the final response follows
    }
    this.headersSeen = true;
    this.keepAlive = keepAlive;
    if (keepAlive) this.keepFor = keptFor(all, this.pool.keepAliveTimeout);
    if (!ex.handler.onHeaders(statusCode, all, this.resume, statusText)) this.pause();
    return this.skipBody ? 1 : 0;
  }

  private bodyChunk(chunk: Buffer): void {
    const ex = this.ex;
    if (ex === null || !this.headersSeen) return;
    if (this.paused) (this.held ??= []).push(chunk); // the parser goes on through what was read: held until resume
    else if (!ex.handler.onData(chunk)) this.pause();
  }

  private messageComplete(): void {
    if (this.informational && !this.headersSeen) {
      this.informational = false;
      return;
    }
    if (this.ex === null || this.responseDone) {
      this.stray = true;
      return;
    }
    this.responseDone = true;
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.setTimeout(0); // the caller holds us: its slowness is not the upstream's
    this.socket.pause();
  }

  /** the handler's resume(): hands over held chunks (until it pauses again), then reads on */
  private resumed(): void {
    if (!this.paused) return;
    this.paused = false;
    const ex = this.ex;
    if (ex === null) return;
    const held = this.held;
    if (held !== null) {
      while (held.length > 0) {
        if (!ex.handler.onData(held.shift()!)) {
          this.paused = true;
          return;
        }
        if (this.ex !== ex) return; // aborted from inside onData
      }
      this.held = null;
    }
    if (this.responseDone) return this.finish();
    if (this.destroyed) return;
    this.socket.setTimeout(this.pool.readTimeout);
    this.socket.resume();
  }

  /**
   * The response is complete: the handler hears onComplete, the connection goes back or
   * away. A request body still being sent (the upstream answered early, e.g. 413) stops
   * here, and its connection is not reused.
   */
  private finish(): void {
    const ex = this.ex!;
    this.ex = null;
    ex.conn = null;
    this.stopBody?.();
    const reusable = this.keepAlive && this.requestSent && !this.stray && !this.destroyed;
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    this.pool.released(this, reusable);
    ex.handler.onComplete();
  }

  /**
   * The exchange failed: the connection is closed, and the handler hears onError, unless
   * this connection was a reused one the upstream had closed before answering: then a
   * replayable idempotent request goes once more, on a fresh connection.
   */
  fail(err: Error): void {
    const ex = this.ex;
    if (ex === null) return;
    this.ex = null;
    ex.conn = null;
    this.held = null;
    this.stopBody?.();
    this.pool.released(this, false); // closes the connection
    const request = ex.request;
    const code = (err as { code?: string }).code;
    if (
      this.uses > 1 &&
      !this.answered &&
      !ex.retried &&
      code !== undefined &&
      STALE.has(code) &&
      IDEMPOTENT.has(request.method) &&
      (request.body === null || Buffer.isBuffer(request.body)) &&
      this.pool.retryStale(ex)
    ) {
      return;
    }
    ex.handler.onError(err);
  }

  private ended(): void {
    // the upstream closed its side: a close-delimited body ends here (the parser completes it)
    if (this.ex !== null && !this.responseDone && this.parser.finish() instanceof Error) this.responseDone = false;
    this.destroy(null);
  }

  private timedOut(): void {
    if (this.ex === null) {
      this.destroy(null); // idle for longer than it may be kept
      return;
    }
    const code = this.connected ? 'UPSTREAM_READ_TIMEOUT' : 'UPSTREAM_CONNECT_TIMEOUT';
    const ms = this.connected ? this.pool.readTimeout : this.pool.connectTimeout;
    this.fail(new UpstreamError(code, `${this.connected ? 'no response' : 'no connection'} from upstream within ${ms} ms`));
  }

  /**
   * Closes the connection. A live exchange whose response is complete still ends well (now,
   * or when a paused handler resumes and takes the rest); otherwise it fails with `err`, or
   * "socket closed" when null.
   */
  destroy(err: Error | null): void {
    if (!this.destroyed) {
      this.destroyed = true;
      this.pool.live.delete(this);
      this.pool.closed(this);
      this.socket.destroy();
    }
    if (this.ex === null) return;
    if (err === null && this.responseDone) {
      if (this.held === null) this.finish();
      return;
    }
    const closed = this.headersSeen ? 'the upstream closed the connection mid-response' : 'the upstream closed the connection before responding';
    this.fail(err ?? new UpstreamError('UPSTREAM_SOCKET_CLOSED', closed));
  }
}

/**
 * How long a connection may idle before reuse after a response with these fields: `max`,
 * or the upstream's `Keep-Alive: timeout=N` less a second when that is shorter (0: never).
 */
function keptFor(fields: string[], max: number): number {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'keep-alive') continue;
    const m = /(?:^|[\s,;])timeout\s*=\s*"?(\d+)/i.exec(fields[i + 1]!);
    if (m !== null) return Math.max(0, Math.min(max, Number(m[1]) * 1000 - 1000));
  }
  return max;
}

/** The Content-Length a Readable body was declared with, or -1 (chunked). */
function declaredLength(headers: UpstreamRequestHeaders): number {
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'content-length') return Number(headers[i + 1]);
    return -1;
  }
  for (const name in headers) if (name.toLowerCase() === 'content-length') return Number(headers[name]);
  return -1;
}
