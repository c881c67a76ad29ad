// Counting what a body without Content-Length really carries: the proxy streams the
// request through `limitBody` when `gr.bodyLimit` is set; past the limit the stream fails
// with a 413 GatewayError, heard by the proxy from the stream's creation on (proxy.ts
// Exchange.bodyFailed): it aborts the upstream request and answers 413, or cuts the client's
// connection when the response had begun.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { GatewayError } from '../errors.js';

/** 413, closing the connection so Node does not read the rest of a huge body to reuse it. */
export function bodyTooLarge(limit: number): GatewayError {
  return new GatewayError('payload_too_large', 413, `request body exceeds ${limit} bytes`, {
    headers: { connection: 'close' },
    reason: 'request_size',
  });
}

class BodyLimit extends Transform {
  readonly limit: number;
  #seen = 0;

  constructor(limit: number) {
    super();
    this.limit = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.limit) callback(bodyTooLarge(this.limit));
    else callback(null, chunk);
  }
}

/**
 * `source` as a stream that fails with a 413 GatewayError past `limit` bytes. The source
 * is only unpiped then, not destroyed: its socket must still carry the 413 (sent with
 * `Connection: close`). A failing source fails the counted stream too.
 *
 * `onError` is attached before anything can flow, so the counted stream never emits an
 * 'error' without a listener: the body is counted from the moment it is piped, which can be
 * before anyone reads it (the upstream connection is still being made), and a reader that
 * stopped listening (the upstream answered early) may leave it counting the rest. An
 * unheard 'error' there took the whole process down. Without `onError` the failure is only
 * kept for whoever reads the stream.
 */
export function limitBody(source: Readable, limit: number, onError: (err: Error) => void = ignore): Readable {
  const counted = new BodyLimit(limit);
  counted.on('error', onError);
  source.once('error', (err) => counted.destroy(err));
  return source.pipe(counted);
}

function ignore(): void {}
