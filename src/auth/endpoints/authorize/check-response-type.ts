// Only the authorization code flow (`response_type=code`).
import type { FormParams } from '../../../core/http.js';
import { AuthorizationError } from './request.js';

export function checkResponseType(params: FormParams): void {
  const type = params.get('response_type');
  if (type === undefined) throw new AuthorizationError('invalid_request', 'missing required parameter "response_type"');
  if (type !== 'code') throw new AuthorizationError('unsupported_response_type', `response_type "${type}" is not supported`);
}
