// The gateway's one error renderer (ARCHITECTURE §6): JSON { error, error_description,
// request_id }, the error's headers (challenges, Retry-After, RateLimit-*) and the headers
// plugins set for the client (CORS …). Never a stack trace; anything that is not a
// GatewayError is a 500 whose cause is logged, not sent.
import type { ServerResponse } from 'node:http';
import { hasRequestBody } from '../core/http.js';
import type { Logger } from '../observability/logger.js';
import { GatewayError } from './errors.js';

/** A 401 carrying several challenges: one `WWW-Authenticate` field per configured scheme. */
export class ChallengeError extends GatewayError {
  readonly challenges: readonly string[];
  constructor(description: string, challenges: readonly string[]) {
    super('unauthorized', 401, description, { reason: 'missing_credentials' });
    this.challenges = challenges;
  }
}

export function notFoundError(): GatewayError {
  return new GatewayError('not_found', 404, 'no route matches the request', { reason: 'no_route' });
}

export function toGatewayError(err: unknown, logger: Logger, requestId: string): GatewayError {
  if (err instanceof GatewayError) return err;
  logger.error({ err, requestId }, 'gateway request failed');
  return new GatewayError('internal_error', 500, 'internal error', { cause: err });
}

export function sendGatewayError(
  res: ServerResponse,
  err: GatewayError,
  requestId: string,
  extraHeaders?: Record<string, string>,
): void {
  if (res.headersSent) {
    // the response is already under way (upstream died mid-body): cut it so the client sees
    // it; one answered in full (the listener refused a body that broke off) is left to finish
    if (!res.writableEnded) res.destroy();
    return;
  }
  const payload = JSON.stringify({ error: err.code, error_description: err.message, request_id: requestId });
  if (extraHeaders) for (const name in extraHeaders) res.setHeader(name, extraHeaders[name]!);
  for (const name in err.headers) res.setHeader(name, err.headers[name]!);
  if (err instanceof ChallengeError && err.challenges.length > 0) res.setHeader('www-authenticate', err.challenges as string[]);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(payload));
  // a request body we did not read may still be arriving: close the connection after
  // answering (a bodiless request is not "complete" yet while its handler runs: keep it open)
  if (!res.req.complete && hasRequestBody(res.req.headers)) res.setHeader('connection', 'close');
  res.writeHead(err.status);
  res.end(payload);
}
