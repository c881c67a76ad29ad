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
//
// Files: types.ts (what callers pass and hear back), request-head.ts (the head written per
// request), parser.ts (Node's llhttp binding), connection.ts (one connection: writing,
// parsing, reuse), and this pool.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Connection, Dispatch } from './connection.js';
import { requestHead } from './request-head.js';
import { UpstreamError, type UpstreamPoolOptions, type UpstreamRequest, type UpstreamResponseHandler, type UpstreamTlsOptions } from './types.js';

export * from './types.js';

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
  /** every open connection (for destroy) */
  readonly live = new Set<Connection>();
  /** idle connections, most recently used last */
  readonly #idle: Connection[] = [];
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
  }

  /** open connections, busy and idle */
  get connections(): number {
    return this.live.size;
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
      head = requestHead(request, this.#hostHeader);
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

  /** The most recently used idle connection still fresh enough, or a new one. */
  #take(): Connection {
    const idle = this.#idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (Date.now() - conn.lastUsed < conn.keepFor) {
        this.#busy++;
        return conn;
      }
      conn.destroy(null);
    }
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
    if (idle.length === 0) this.#stopSweeping();
  }

  #stopSweeping(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }

  /** Connection: its socket closed (it has left `live` already). */
  closed(conn: Connection): void {
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
  }

  get tls(): boolean {
    return this.#tls;
  }
}

function noop(): void {}
