// Failures on the pages a browser reaches (the authorization endpoint with its login, TOTP and
// consent forms, and the end-session endpoint): a person is at the other end, so never the
// back channel's JSON body. Storage or Redis down (UnavailableError, or an AppError 503) is
// temporarily_unavailable: a 503 page with Retry-After. Anything else unexpected (a bug) is
// server_error: a 500 page. The page names no cause, only the request id (also sent as
// X-Request-Id) for the user to quote; the cause is logged with that id, as the listener logs
// the failures of the back-channel endpoints. The authorization endpoint sends the same codes
// to the client's redirect URI instead once that is validated (RFC 6749 §4.1.2.1).
import type { ServerResponse } from 'node:http';
import { toAppError, type AppError } from '../../core/errors.js';
import type { RequestContext } from '../../core/listener.js';
import type { AuthContext } from '../context.js';
import { renderError } from '../views/error.js';

type FailureCode = 'temporarily_unavailable' | 'server_error';

/** What the error is, for the browser: a store that did not answer (core's 503), or a fault of ours. */
export function failureCode(err: unknown): FailureCode {
  return isOutage(toAppError(err)) ? 'temporarily_unavailable' : 'server_error';
}

function isOutage(e: AppError): boolean {
  return e.status === 503 && e.code === 'temporarily_unavailable';
}

/** Told to the client at its redirect URI (error_description): what happened and the id to quote, no cause. */
export function failureDescription(code: FailureCode, rc: RequestContext): string {
  return code === 'temporarily_unavailable'
    ? `the service is temporarily unavailable; try again in a moment (request id ${rc.requestId})`
    : `the server met an unexpected error (request id ${rc.requestId})`;
}

/** The cause in the log, with the request id the browser was given. */
export function logFailure(ctx: AuthContext, rc: RequestContext, err: unknown): void {
  // which store failed is in the cause of core's 503 (toAppError), a bug is its own cause
  ctx.logger.error({ err: toAppError(err).cause ?? err, requestId: rc.requestId, path: rc.path }, 'request failed');
}

/** Logs `err` and answers with the error page (503 with Retry-After, or 500). */
export function failurePage(ctx: AuthContext, res: ServerResponse, rc: RequestContext, err: unknown): void {
  logFailure(ctx, rc, err);
  if (res.headersSent) {
    // a page under way is cut so the browser sees it failed
    if (!res.writableEnded) res.destroy();
    return;
  }
  const reference = ` If it keeps happening, quote this reference: ${rc.requestId}`;
  const e = toAppError(err);
  if (isOutage(e)) {
    res.setHeader('retry-after', e.headers['retry-after'] ?? '5');
    renderError(res, 503, 'Temporarily unavailable', `The service is temporarily unavailable. Try again in a moment.${reference}`, ctx.auth.branding);
    return;
  }
  renderError(res, 500, 'Something went wrong', `The request could not be completed because of an error on our side. Try again.${reference}`, ctx.auth.branding);
}
