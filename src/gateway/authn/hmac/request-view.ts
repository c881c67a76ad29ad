// The request as a signer saw it, from the gateway's view of it.
import { normalizePath } from '../../../core/path.js';
import type { GatewayRequest } from '../../types.js';
import type { SignedMessage } from './signature-base.js';

/**
 * The path as the client sent it (RFC 9421 §2.2.6: before any percent-decoding), when
 * this request's own target is the one routed; otherwise — the forward-auth endpoint,
 * where the original URI came in a header — the routed path.
 */
export function rawPath(gr: GatewayRequest): string {
  const url = gr.req.url ?? '';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path === gr.path) return path;
  const query = q === -1 ? '' : url.slice(q + 1);
  return query === gr.query && normalizePath(path) === gr.path ? path : gr.path;
}

/** The request as RFC 9421 sees it: the (lower-cased) Host as the authority, every value of each header. */
export function signedMessage(gr: GatewayRequest): SignedMessage {
  const req = gr.req;
  return {
    method: gr.method,
    scheme: gr.scheme,
    authority: gr.host,
    path: rawPath(gr),
    query: gr.query,
    field: (name) => req.headersDistinct[name],
  };
}
