// One keep-alive connection of the pool (pool.ts) and its parser: at most one exchange at a
// time. It writes the request head and streams the body, hands the parser's callbacks to
// the exchange's handler (holding body chunks while the handler is paused), and decides
// at the end whether the connection can be reused, or whether a stale one's request goes
// once more on a fresh connection.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { UpstreamPool } from './pool.js';
import { declaredLength } from './request-head.js';
import { keptFor, newResponseParser, type Parser } from './parser.js';
import { IDEMPOTENT_METHODS, STALE_CONNECTION_ERRORS, UpstreamError, type UpstreamRequest, type UpstreamRequestHeaders, type UpstreamResponseHandler } from './types.js';

const LAST_CHUNK = '0\r\n\r\n';

/** One dispatched request; it moves to a fresh connection once when a reused one was stale. */
export class Dispatch {
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
export class Connection {
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
      socket.setTimeout(pool.readTimeout);
    });
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('end', () => this.ended());
    socket.on('timeout', () => this.timedOut());
    socket.on('error', (err: Error) => this.destroy(err));
    socket.on('close', () => this.destroy(null));
    this.parser = newResponseParser({
      headers: (fields) => {
        this.partial = this.partial === null ? fields : this.partial.concat(fields);
      },
      headersComplete: (fields, statusCode, statusText, upgrade, keepAlive) => this.headersComplete(fields, statusCode, statusText, upgrade, keepAlive),
      body: (chunk) => this.bodyChunk(chunk),
      messageComplete: () => this.messageComplete(),
    });
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
      STALE_CONNECTION_ERRORS.has(code) &&
      IDEMPOTENT_METHODS.has(request.method) &&
      (request.body === null || Buffer.isBuffer(request.body)) &&
      this.pool.retryStale(ex)
    ) {
      return;
    }
    ex.handler.onError(err);
  }

  private ended(): void {
    // the upstream closed its side: a close-delimited body ends here (the parser completes it;
    // anything else it cut short stays incomplete, and destroy() fails the exchange)
    if (this.ex !== null && !this.responseDone) this.parser.finish();
    this.destroy(null);
  }

  private timedOut(): void {
    // idle: not a read timeout (the pool's sweep ends idle connections; the next write re-arms the timer)
    if (this.ex === null) return;
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
