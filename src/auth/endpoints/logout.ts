// End-session endpoint (OIDC RP-Initiated Logout 1.0), GET (and HEAD) and POST at /oauth2/logout.
//   check-request          untrusted until checked: an error page, never a redirect
//   confirm                unless the ID token hint names this browser's very session, the
//                          user confirms on a CSRF-protected form (a cross-site GET or a
//                          forged POST cannot sign anyone out)
//   end the session        logout/end-sessions.ts: tokens revoked, gateways told, back-channel
//                          logout sent in the background; the cookie cleared
//   finish                 to post_logout_redirect_uri with state, or a "signed out" page
// HEAD (RFC 9110 §9.3.2) is answered as GET is for a browser without a session: the request
// checked (its error page), then the redirect to post_logout_redirect_uri or the signed-out
// page, with no session looked up or ended and no cookie cleared. HEAD is a safe method; a link
// checker's or a preview's HEAD must not sign anyone out, as GET with the session's own
// id_token_hint does.
// A browser is at the other end: an unexpected error (storage down, a bug) is an error page
// (../browser-failure.ts), never JSON, and never the redirect, which would say it worked.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from '../../core/errors.js';
import { parseForm, readForm, sendRedirect, type FormParams } from '../../core/http.js';
import type { RequestContext } from '../../core/listener.js';
import type { AuthContext } from '../context.js';
import { checkLogoutRequest, LogoutRequestError, type LogoutRequest } from '../logout/check-request.js';
import { appendQuery } from './authorize/respond.js';
import { endSsoSession, logoutDeps } from '../logout/end-sessions.js';
import { requestAudit } from '../request-scope.js';
import { cookieName, setCookie } from '../sessions/cookie.js';
import { currentSession, SSO_COOKIE } from '../sessions/sso.js';
import { checkCsrf, csrfToken } from '../views/csrf.js';
import { renderError } from '../views/error.js';
import { renderLogoutConfirm, renderSignedOut, renderStillSignedIn } from '../views/logout.js';
import { failurePage } from './browser-failure.js';
import type { Endpoint } from './types.js';

const REFUSED = 'Sign-out request refused';

export const logoutEndpoint: Endpoint = {
  methods: ['GET', 'HEAD', 'POST'],
  handle: async function endSessionEndpoint(ctx, req, res, rc) {
    try {
      await endSession(ctx, req, res, rc);
    } catch (err) {
      // a request we refuse (a body too large, …), else unexpected
      if (err instanceof AppError && err.status < 500 && !res.headersSent) return renderError(res, err.status, REFUSED, err.message, ctx.auth.branding);
      failurePage(ctx, res, rc, err);
    }
  },
};

async function endSession(ctx: AuthContext, req: IncomingMessage, res: ServerResponse, rc: RequestContext): Promise<void> {
  const status = req.method === 'POST' ? 303 : 302;
  let params: FormParams;
  let r: LogoutRequest;
  try {
    params = req.method === 'POST' ? await readForm(req, ctx.auth.max_body_size) : parseForm(rc.query);
    r = await checkLogoutRequest(ctx, params);
  } catch (err) {
    if (err instanceof LogoutRequestError) return renderError(res, 400, REFUSED, err.message, ctx.auth.branding);
    throw err;
  }
  // nothing acted on (see the top): what GET answers once no session is left
  if (req.method === 'HEAD') return finish(ctx, res, r, status, true);
  // only the confirmation form posts an action; RPs may POST the request itself (§2)
  const action = req.method === 'POST' ? params.get('action') : undefined;
  if (action !== undefined) {
    if (!checkCsrf(ctx, req, params.get('csrf_token'))) {
      return renderError(res, 403, 'Request refused', 'The form has expired or was not sent from this site. Go back and try again.', ctx.auth.branding);
    }
    if (action !== 'logout' && action !== 'cancel') return renderError(res, 400, REFUSED, 'The sign-out form is not valid.', ctx.auth.branding);
  }
  if (action === 'cancel') return finish(ctx, res, r, status, false);

  const session = await currentSession(ctx, req);
  if (session && action !== 'logout' && r.hint?.sid !== session.id) {
    const user = await ctx.storage.users.get(session.user_id);
    return renderLogoutConfirm(res, {
      action: ctx.endpoints.endSession,
      csrf: csrfToken(ctx, req, res),
      fields: r.fields,
      clientName: r.client ? (r.client.client_name ?? r.client.client_id) : undefined,
      username: user?.username,
      formOrigins: r.redirectUri ? [new URL(r.redirectUri).origin] : [],
      branding: ctx.auth.branding,
    });
  }
  if (session) {
    const ended = await endSsoSession(logoutDeps(ctx), session);
    // delivery goes on in the background; its failures are logged by backchannel.ts
    void ended.deliveries;
    // request id and IP from the request (request-scope.ts)
    requestAudit(ctx, req).record({
      event: 'logout',
      user_id: session.user_id,
      ...(r.client ? { client_id: r.client.client_id } : {}),
      sid: session.id,
      confirmed: action === 'logout',
      clients: ended.clients,
      revoked: ended.tokens_revoked,
    });
    ctx.logger.info({ event: 'logout', sub: session.user_id, clients: ended.clients.length, revoked: ended.tokens_revoked }, 'signed out');
  }
  setCookie(ctx, res, cookieName(ctx, SSO_COOKIE), '', { maxAge: 0 });
  finish(ctx, res, r, status, true);
}

function finish(ctx: AuthContext, res: ServerResponse, r: LogoutRequest, status: 302 | 303, signedOut: boolean): void {
  if (r.redirectUri === undefined) {
    if (signedOut) renderSignedOut(res, ctx.auth.branding);
    else renderStillSignedIn(res, ctx.auth.branding);
    return;
  }
  const url = new URL(r.redirectUri);
  // the registered query stays as written (OIDC RP-Initiated Logout §3, as for redirect_uri)
  if (r.state !== undefined) appendQuery(url, [['state', r.state]]);
  sendRedirect(res, status, url.href);
}
