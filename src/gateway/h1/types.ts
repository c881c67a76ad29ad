// The gateway's HTTP/1.1 upstream client (pool.ts): what callers hand it and hear back.
import type { Readable } from 'node:stream';

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

/** The idempotent methods (RFC 9110 §9.2.2): the ones a failed attempt may be sent again for. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Transport failures of a connection the upstream may have closed while it sat idle (a stale keep-alive socket). */
export const STALE_CONNECTION_ERRORS: ReadonlySet<string> = new Set(['UPSTREAM_SOCKET_CLOSED', 'ECONNRESET', 'EPIPE']);

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

type UpstreamErrorCode =
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
