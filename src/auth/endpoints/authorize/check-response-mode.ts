// response_mode: query (the default for code), fragment (the default for the implicit
// types) or form_post (OAuth 2.0 Multiple Response Type Encoding Practices, Form Post
// Response Mode). Tokens never travel in a query string: `query` with an implicit type is
// refused. Decided before anything else is redirected, so errors travel the way the client
// asked for (or the response type's default way).
import type { FormParams } from '../../../core/http.js';
import { isImplicit, parseResponseType } from './check-response-type.js';
import { AuthorizationError, type ResponseMode } from './request.js';

export const RESPONSE_MODES: readonly ResponseMode[] = ['query', 'fragment', 'form_post'];

/**
 * How errors go back before response_mode itself is checked: the response type's default
 * (OAuth 2.0 Multiple Response Type Encoding Practices §2.1, §5): fragment for any type that
 * returns a token or an ID token, including the hybrid ones we refuse (`code id_token`: the
 * client reads its unsupported_response_type from the fragment), else query. Never throws:
 * a repeated response_type is reported later, as invalid_request, the default way.
 */
export function defaultResponseMode(params: FormParams): ResponseMode {
  let raw: string | undefined;
  try {
    raw = params.get('response_type');
  } catch {
    return 'query';
  }
  const parts = raw === undefined ? [] : raw.split(' ');
  return parts.includes('token') || parts.includes('id_token') ? 'fragment' : 'query';
}

export function checkResponseMode(params: FormParams): ResponseMode {
  const mode = params.get('response_mode');
  if (mode === undefined) return defaultResponseMode(params);
  if (!(RESPONSE_MODES as readonly string[]).includes(mode)) {
    throw new AuthorizationError('invalid_request', `response_mode "${mode}" is not supported`);
  }
  if (mode === 'query' && isImplicit(parseResponseType(params.get('response_type')))) {
    throw new AuthorizationError('invalid_request', 'response_mode "query" is not allowed for a response type that returns tokens');
  }
  return mode as ResponseMode;
}
