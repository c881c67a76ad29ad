// Authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2), GET (and HEAD) and POST. The steps, in
// order (like node-oidc-provider's actions/authorization/index.js):
//   check-client, check-redirect-uri   untrusted: an error page, never a redirect
//   check-response-mode                how everything after this is answered
//   check-response-type, check-scope, check-resource, check-pkce (code), check-prompt,
//                                      nonce (id_token, or an OpenID code request without
//                                      PKCE); implicit types only to https (or loopback
//                                      http) redirect URIs
//   (a request_uri from the PAR endpoint (RFC 9126, par.ts) first stands in for the parameters;
//   a request object (RFC 9101, request-object.ts), verified once the client is known, too; a
//   client with require_signed_request_object must send one of those: `request`, or a
//   request_uri whose request came as one)
//   interact                           login (+ TOTP or enrolment, step-up), SSO session, consent
//   respond / implicit                 the code, or the implicit flow's tokens, with state and iss
// Errors, by what is known when they happen: before the client and its redirect URI are
// established, an error page (never a redirect); after, the error at the redirect URI. The
// unexpected ones are no exception (../browser-failure.ts), since a browser is at the other
// end, never the JSON body of the back-channel endpoints: storage or Redis failing
// (UnavailableError) is a 503 page with Retry-After or temporarily_unavailable at the redirect
// URI, anything else (a bug) a 500 page or server_error there (RFC 6749 §4.1.2.1), the cause
// logged with the request id the page quotes.
// HEAD (RFC 9110 §9.3.2) is answered as GET is for a browser without an SSO session, and never
// acts: every check runs and its error is answered as GET answers it (the error page, or the
// error redirect), a good request gets the login page's status and header fields (or
// login_required with prompt=none); no session is looked up or touched, no code or token is
// issued, and a pushed request_uri (single use) is checked, used-up one included, but not used
// up: its request is answered as the flow's own request_uri would be, without handing one out.
// HEAD is a safe method: a link checker's or a preview's HEAD must not spend a request_uri the
// browser needs next, nor obtain a code for whoever's cookie it carries.
import type { IncomingMessage } from 'node:http';
import { AppError, invalidRequest } from '../../../core/errors.js';
import { parseForm, readForm, sendRedirect, type FormParams } from '../../../core/http.js';
import type { Client } from '../../clients.js';
import type { AuthContext } from '../../context.js';
import { renderError } from '../../views/error.js';
import { failureCode, failureDescription, failurePage, logFailure } from '../browser-failure.js';
import type { Endpoint } from '../types.js';
import { checkClient } from './check-client.js';
import { checkPkce, NO_CHALLENGE } from './check-pkce.js';
import { checkLength, checkMaxAge, checkPrompt } from './check-prompt.js';
import { checkRedirectUri, mayReceiveTokens } from './check-redirect-uri.js';
import { checkResponseMode, defaultResponseMode } from './check-response-mode.js';
import { checkResponseType } from './check-response-type.js';
import { issueImplicit } from './implicit.js';
import { checkResources } from './check-resource.js';
import { checkScope } from './check-scope.js';
import { interact } from './interact.js';
import { noteClient, requestAudit } from '../../request-scope.js';
import { pulledParams, REQUEST_URI_PREFIX } from './pushed.js';
import { openRequestObject, RequestObjectError } from './request-object.js';
import { AuthorizationError, UntrustedRequestError, type AuthorizationRequest, type ResponseMode } from './request.js';
import { issueCode, respond, respondError } from './respond.js';

async function readParams(ctx: AuthContext, req: IncomingMessage, query: string): Promise<FormParams> {
  if (req.method === 'POST') return readForm(req, ctx.auth.max_body_size);
  try {
    return parseForm(query);
  } catch (err) {
    // parseForm speaks of a request body; here the same decoding failed in the URL
    if (err instanceof AppError && err.status === 400) throw invalidRequest('the query string is malformed (invalid percent-encoding)');
    throw err;
  }
}

export const authorizationEndpoint: Endpoint = {
  methods: ['GET', 'HEAD', 'POST'],
  handle: async function authorize(ctx, req, res, rc) {
    const status = req.method === 'POST' ? 303 : 302;
    let params: FormParams;
    let client;
    let redirectUri: string;
    let pushed: boolean;
    /** the parameters are a verified request object's: sent now, or earlier (the request_uri says so) */
    let signed = false;
    let requestObject: string | undefined;
    let refusal: string | undefined;
    try {
      params = await readParams(ctx, req, rc.query);
      requestObject = params.get('request');
      if (requestObject !== undefined && params.get('request_uri') !== undefined) throw new UntrustedRequestError('request and request_uri cannot both be sent.');
      // a pushed request (RFC 9126): its parameters come from the request_uri, nothing else
      pushed = params.get('request_uri')?.startsWith(REQUEST_URI_PREFIX) === true;
      if (pushed) {
        const pulled = await pulledParams(ctx, params, { use: req.method !== 'HEAD' });
        // the PAR endpoint's request_uri, used once: on to the flow's own (a reload must work)
        if (pulled.next !== undefined) return sendRedirect(res, status, pulled.next);
        params = pulled.params;
        signed = pulled.signed;
      }
      client = await checkClient(ctx, params);
      // a request object (RFC 9101 §5): its parameters alone, with the client_id beside it
      if (requestObject !== undefined) {
        ({ params, refusal } = await openRequestObject(ctx, client, requestObject));
        signed = true;
      }
      try {
        redirectUri = checkRedirectUri(client, params);
      } catch (err) {
        // the object's own fault is the better reason when its redirect URI is no good either
        if (refusal !== undefined && err instanceof UntrustedRequestError) throw new RequestObjectError(refusal);
        throw err;
      }
    } catch (err) {
      if (err instanceof UntrustedRequestError) return renderError(res, 400, 'Sign-in request refused', err.message, ctx.auth.branding);
      if (err instanceof AppError && err.status < 500) return renderError(res, err.status, 'Sign-in request refused', err.message, ctx.auth.branding);
      // no redirect URI to trust yet: the page
      return failurePage(ctx, res, rc, err);
    }
    noteClient(req, client.client_id);
    // from here on, errors go back to the client (tokens never in a query: fragment for implicit types)
    const target = { redirectUri, mode: defaultResponseMode(params), state: undefined as string | undefined };
    try {
      // RFC 9126 §5/§6: the server's, or this client's, requests only through the PAR endpoint
      const mustPush = !pushed && (ctx.auth.require_pushed_authorization_requests || client.require_pushed_authorization_requests === true);
      // a request object's parameters stay its own through the pages, as a pushed request's
      const r = checkRequest(client, params, target, { pushed: pushed || requestObject !== undefined, signed, mustPush, refusal });
      const action = req.method === 'POST' ? params.get('action') : undefined;
      const done = await interact(ctx, req, res, r, action);
      if (!done) return;
      const answer: Array<[string, string]> = r.responseType === 'code' ? [['code', await issueCode(ctx, r, done.session)]] : await issueImplicit(ctx, r, done.session, requestAudit(ctx, req));
      respond(ctx, res, redirectUri, r.responseMode, r.state, answer, status);
    } catch (err) {
      if (err instanceof AuthorizationError) return respondError(ctx, res, target, err, status);
      if (err instanceof AppError && err.status < 500) {
        return respondError(ctx, res, target, new AuthorizationError('invalid_request', err.message), status);
      }
      // unexpected: temporarily_unavailable or server_error, back to the client validated above
      if (res.headersSent) return failurePage(ctx, res, rc, err);
      logFailure(ctx, rc, err);
      const code = failureCode(err);
      return respondError(ctx, res, target, new AuthorizationError(code, failureDescription(code, rc)), status);
    }
  },
};

/** Where the parameters of checkRequest come from. */
export interface RequestOrigin {
  /**
   * a pushed request's (RFC 9126) or a request object's (RFC 9101): the pages carry a
   * request_uri of ours instead of the parameters, and only such a request_uri is accepted
   */
  pushed: boolean;
  /**
   * the parameters come from a verified request object (RFC 9101): sent now, or pushed as one;
   * a client with require_signed_request_object sends nothing else (RFC 9101 §10.5)
   */
  signed?: boolean;
  /** a plain request where only pushed ones are accepted: refused */
  mustPush?: boolean;
  /** why a request object's claims were refused (request-object.ts): invalid_request_object as soon as the response mode is known */
  refusal?: string | undefined;
}

/**
 * The request's parameters checked (after the client and its redirect URI), as the
 * authorization endpoint and the pushed authorization request endpoint both check them.
 * `target` learns the state and the response mode as soon as they are known, so that an
 * error found later can still be sent back the way the client asked.
 */
export function checkRequest(
  client: Client,
  params: FormParams,
  target: { redirectUri: string; mode: ResponseMode; state: string | undefined },
  origin: RequestOrigin,
): AuthorizationRequest {
  const { pushed } = origin;
  target.state = checkLength(params, 'state');
  target.mode = checkResponseMode(params);
  if (origin.mustPush) throw new AuthorizationError('invalid_request', 'authorization requests must be pushed to the pushed authorization request endpoint first (RFC 9126)');
  if (origin.signed !== true && client.require_signed_request_object === true) throw new AuthorizationError('invalid_request', 'this client must send its authorization requests as a signed request object (request, RFC 9101)');
  if (origin.refusal !== undefined) throw new AuthorizationError('invalid_request_object', `request object refused: ${origin.refusal}`);
  // by reference (RFC 9101), from anywhere but our own PAR endpoint
  if (!pushed && params.get('request_uri') !== undefined) {
    throw new AuthorizationError('request_uri_not_supported', 'request_uri is supported only as returned by the pushed authorization request endpoint');
  }
  const responseType = checkResponseType(client, params);
  if (responseType !== 'code' && !mayReceiveTokens(target.redirectUri)) {
    throw new AuthorizationError('unauthorized_client', 'tokens are not sent to an http redirect URI (use https; http only on a loopback host)');
  }
  const scope = checkScope(client, params);
  const resources = checkResources(client, params);
  const nonce = checkLength(params, 'nonce');
  if (responseType.includes('id_token')) {
    // OIDC Core §3.2.2.1: an ID token in the front channel needs the nonce to stop replays
    if (!scope.includes('openid')) throw new AuthorizationError('invalid_request', 'response_type id_token needs the openid scope');
    if (nonce === undefined || nonce === '') throw new AuthorizationError('invalid_request', 'nonce is required when an ID token is returned from the authorization endpoint');
  }
  // PKCE protects the code exchange; the implicit flow has none
  const codeChallenge = responseType === 'code' ? checkPkce(client, params) : undefined;
  if (codeChallenge === NO_CHALLENGE && scope.includes('openid') && (nonce === undefined || nonce === '')) {
    // RFC 9700 §2.1.1: a client that does not use PKCE must use nonce against code injection
    throw new AuthorizationError('invalid_request', 'nonce is required for an OpenID request without code_challenge (PKCE)');
  }
  return {
    params,
    client,
    redirectUri: target.redirectUri,
    redirectUriGiven: params.get('redirect_uri') !== undefined,
    responseMode: target.mode,
    responseType,
    state: target.state,
    scope,
    resources,
    codeChallenge,
    prompt: checkPrompt(params),
    maxAge: checkMaxAge(params),
    nonce,
    loginHint: checkLength(params, 'login_hint'),
    pushed,
    signed: origin.signed === true,
  };
}
