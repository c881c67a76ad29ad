// Resource indicators (RFC 8707 §2.1) at the authorization endpoint: absolute URIs without a
// fragment, only those the client may target, as at the token endpoint. They are bound to the
// code (respond.ts), and the token endpoint holds the exchange to them.
import type { FormParams } from '../../../core/http.js';
import { AppError } from '../../../core/errors.js';
import type { Client } from '../../clients.js';
import { requestedResources } from '../../scope.js';
import { AuthorizationError } from './request.js';

/** At most this many bytes of resource indicators (as UTF-8 JSON) ride in one code. */
export const MAX_RESOURCES_LENGTH = 2048;

export function checkResources(client: Client, params: FormParams): string[] {
  let resources: string[];
  try {
    resources = requestedResources(client, params);
  } catch (err) {
    if (err instanceof AppError && err.code === 'invalid_target') throw new AuthorizationError('invalid_target', err.message);
    throw err;
  }
  if (Buffer.byteLength(JSON.stringify(resources)) > MAX_RESOURCES_LENGTH) throw new AuthorizationError('invalid_target', 'too many or too long resource indicators');
  return resources;
}
