// Pushed authorization request endpoint (RFC 9126): a client sends its authorization request
// here, authenticated as at the token endpoint (public clients name their client_id), and
// gets back a request_uri to send the browser with instead of the parameters
// (authorize/pushed.ts). The request is checked here as the authorization endpoint checks it,
// so a bad one is refused before the user sees anything: 400 with the error the authorization
// endpoint would have redirected (RFC 9126 §2.3), as JSON. The request may come as a request
// object (`request`, RFC 9126 §3, RFC 9101): verified as at the authorization endpoint
// (authorize/request-object.ts), its parameters alone are checked and pushed; any fault of it
// is invalid_request_object. A client with require_signed_request_object must push one: its
// plain pushes are refused (invalid_request), and its request_uri remembers the object.
import { invalidRequest, oauthDescription } from '../../core/errors.js';
import { readForm, sendNoStoreJson } from '../../core/http.js';
import { authenticateClient } from '../client-auth/index.js';
import { noteClient } from '../request-scope.js';
import { checkRequest } from './authorize/index.js';
import { checkRedirectUri } from './authorize/check-redirect-uri.js';
import { defaultResponseMode } from './authorize/check-response-mode.js';
import { PUSHED_TTL, pushedFields, requestUriFor } from './authorize/pushed.js';
import { openRequestObject, RequestObjectError } from './authorize/request-object.js';
import { AuthorizationError, UntrustedRequestError } from './authorize/request.js';
import type { Endpoint } from './types.js';

export const pushedAuthorizationEndpoint: Endpoint = {
  methods: ['POST'],
  handle: async function pushAuthorizationRequest(ctx, req, res) {
    const form = await readForm(req, ctx.auth.max_body_size);
    const client = await authenticateClient(ctx, { req, params: form, endpoint: ctx.endpoints.pushedAuthorization }, { allowPublic: true });
    noteClient(req, client.client_id);
    if (form.get('request_uri') !== undefined) throw invalidRequest('request_uri is not allowed in a pushed authorization request');
    let params = form;
    const requestObject = form.get('request');
    try {
      if (requestObject !== undefined) {
        const opened = await openRequestObject(ctx, client, requestObject);
        if (opened.refusal !== undefined) throw new RequestObjectError(opened.refusal);
        params = opened.params;
      }
      const redirectUri = checkRedirectUri(client, params);
      // a plain push from a client that must send request objects is refused there (RFC 9101 §10.5)
      checkRequest(client, params, { redirectUri, mode: defaultResponseMode(params), state: undefined }, { pushed: false, signed: requestObject !== undefined });
    } catch (err) {
      if (err instanceof RequestObjectError) return sendNoStoreJson(res, 400, { error: 'invalid_request_object', error_description: oauthDescription(err.reason) });
      if (err instanceof UntrustedRequestError) throw invalidRequest(err.message);
      if (err instanceof AuthorizationError) return sendNoStoreJson(res, 400, { error: err.code, error_description: oauthDescription(err.message) });
      throw err;
    }
    const requestUri = requestUriFor(ctx, client.client_id, pushedFields(params), PUSHED_TTL, { once: true, signed: requestObject !== undefined });
    sendNoStoreJson(res, 201, { request_uri: requestUri, expires_in: PUSHED_TTL });
  },
};
