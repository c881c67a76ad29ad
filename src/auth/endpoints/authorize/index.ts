// Authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2), GET and POST. The steps, in
// order (like node-oidc-provider's actions/authorization/index.js):
//   check-client, check-redirect-uri   untrusted: an error page, never a redirect
//   check-response-mode                how everything after this is answered
//   check-response-type, check-scope, check-pkce, check-prompt
//   interact                           login (+ TOTP), SSO session, consent
//   respond                            the code, state and iss at the redirect URI
import type { IncomingMessage } from 'node:http';
import { AppError } from '../../../core/errors.js';
import { parseForm, readForm, type FormParams } from '../../../core/http.js';
import type { AuthContext } from '../../context.js';
import { renderError } from '../../views/error.js';
import type { Endpoint } from '../types.js';
import { checkClient } from './check-client.js';
import { checkPkce } from './check-pkce.js';
import { checkLength, checkMaxAge, checkPrompt } from './check-prompt.js';
import { checkRedirectUri } from './check-redirect-uri.js';
import { checkResponseMode } from './check-response-mode.js';
import { checkResponseType } from './check-response-type.js';
import { checkScope } from './check-scope.js';
import { interact } from './interact.js';
import { AuthorizationError, UntrustedRequestError, type AuthorizationRequest } from './request.js';
import { issueCode, respond, respondError } from './respond.js';

async function readParams(ctx: AuthContext, req: IncomingMessage, query: string): Promise<FormParams> {
  return req.method === 'POST' ? readForm(req, ctx.auth.max_body_size) : parseForm(query);
}

export const authorizationEndpoint: Endpoint = {
  methods: ['GET', 'POST'],
  handle: async function authorize(ctx, req, res, rc) {
    const status = req.method === 'POST' ? 303 : 302;
    let params: FormParams;
    let client;
    let redirectUri: string;
    try {
      params = await readParams(ctx, req, rc.query);
      client = await checkClient(ctx, params);
      redirectUri = checkRedirectUri(client, params);
    } catch (err) {
      if (err instanceof UntrustedRequestError) return renderError(res, 400, 'Sign-in request refused', err.message, ctx.auth.branding);
      if (err instanceof AppError && err.status < 500) return renderError(res, err.status, 'Sign-in request refused', err.message, ctx.auth.branding);
      throw err;
    }
    // from here on, errors go back to the client
    let target = { redirectUri, mode: 'query' as AuthorizationRequest['responseMode'], state: undefined as string | undefined };
    try {
      target = { redirectUri, mode: checkResponseMode(params), state: checkLength(params, 'state') };
      checkResponseType(params);
      const r: AuthorizationRequest = {
        params,
        client,
        redirectUri,
        responseMode: target.mode,
        state: target.state,
        scope: checkScope(client, params),
        codeChallenge: checkPkce(params),
        prompt: checkPrompt(params),
        maxAge: checkMaxAge(params),
        nonce: checkLength(params, 'nonce'),
        loginHint: checkLength(params, 'login_hint'),
      };
      const action = req.method === 'POST' ? params.get('action') : undefined;
      const done = await interact(ctx, req, res, r, action);
      if (!done) return;
      const code = await issueCode(ctx, r, done.session);
      respond(ctx, res, redirectUri, r.responseMode, r.state, [['code', code]], status);
    } catch (err) {
      if (err instanceof AuthorizationError) return respondError(ctx, res, target, err, status);
      if (err instanceof AppError && err.status < 500) {
        return respondError(ctx, res, target, new AuthorizationError('invalid_request', err.message), status);
      }
      throw err;
    }
  },
};
