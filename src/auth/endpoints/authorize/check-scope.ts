// Requested scopes ⊆ the client's (none requested: its defaults).
import type { FormParams } from '../../../core/http.js';
import { AppError } from '../../../core/errors.js';
import type { Client } from '../../clients.js';
import { grantedScopes } from '../../scope.js';
import { AuthorizationError } from './request.js';

export function checkScope(client: Client, params: FormParams): string[] {
  try {
    return grantedScopes(client, params.get('scope'));
  } catch (err) {
    if (err instanceof AppError && err.code === 'invalid_scope') throw new AuthorizationError('invalid_scope', err.message);
    throw err;
  }
}
