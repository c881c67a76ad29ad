// Buffers the request body into gr.body (the proxy replays it upstream) for plugins that
// must see it before deciding (hmac-auth's digests). Bounded: past `limit` bytes it
// refuses with 413 without buffering more, and past request-size-limiting's limit for a
// chunked body (gr.bodyLimit, set by the interceptor before any authenticator runs) when
// that is smaller: the buffered body is replayed as is, so the proxy's counting stream never
// sees it.
import { hasRequestBody } from '../../core/http.js';
import { GatewayError, payloadTooLarge } from '../errors.js';
import { bodyTooLarge } from '../limits/body-limit.js';
import type { GatewayRequest } from '../types.js';

/** true when the request announces a body (a non-zero Content-Length or any Transfer-Encoding). */
export function hasBody(gr: GatewayRequest): boolean {
  return hasRequestBody(gr.req.headers);
}

const EMPTY = Buffer.alloc(0);

export function readBodyInto(gr: GatewayRequest, limit: number): Promise<Buffer> {
  if (gr.body !== undefined) return Promise.resolve(gr.body);
  if (!hasBody(gr)) {
    gr.body = EMPTY;
    return Promise.resolve(EMPTY);
  }
  const req = gr.req;
  // already read to the end by someone else (the forward-auth endpoint discards bodies):
  // what is left is nothing, and waiting for 'end' would wait forever
  if (req.readableEnded) {
    gr.body = EMPTY;
    return Promise.resolve(EMPTY);
  }
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(payloadTooLarge(limit));
  const sized = gr.bodyLimit !== undefined && gr.bodyLimit < limit;
  const max = sized ? gr.bodyLimit! : limit;
  return new Promise(function collect(resolve, reject) {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    function finish(err: GatewayError | undefined): void {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err !== undefined) {
        // stop reading: the error response closes the connection
        req.pause();
        reject(err);
        return;
      }
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      gr.body = body;
      resolve(body);
    }
    function onData(chunk: Buffer): void {
      size += chunk.length;
      if (size > max) finish(sized ? bodyTooLarge(max) : payloadTooLarge(limit));
      else chunks.push(chunk);
    }
    function onEnd(): void {
      finish(undefined);
    }
    function onError(): void {
      finish(new GatewayError('invalid_request', 400, 'could not read the request body', { reason: 'body' }));
    }
    function onClose(): void {
      finish(new GatewayError('invalid_request', 400, 'the request body was cut short', { reason: 'body' }));
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
