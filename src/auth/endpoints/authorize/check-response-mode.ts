// response_mode: query (the default for code) or form_post. Checked before anything else is
// redirected, so errors travel the way the client asked for.
import type { FormParams } from '../../../core/http.js';
import { AuthorizationError, type ResponseMode } from './request.js';

export const RESPONSE_MODES: readonly ResponseMode[] = ['query', 'form_post'];

export function checkResponseMode(params: FormParams): ResponseMode {
  const mode = params.get('response_mode');
  if (mode === undefined) return 'query';
  if (!(RESPONSE_MODES as readonly string[]).includes(mode)) {
    throw new AuthorizationError('invalid_request', `response_mode "${mode}" is not supported`);
  }
  return mode as ResponseMode;
}
