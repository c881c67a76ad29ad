// The grant table: what is not listed here is unsupported_grant_type.
import type { GrantType } from '../../config/types.js';
import { authorizationCode } from './authorization-code.js';
import { clientCredentials } from './client-credentials.js';
import { password } from './password.js';
import { refreshToken } from './refresh-token.js';
import { tokenExchange } from './token-exchange.js';
import type { Grant } from './types.js';

export const GRANTS: Readonly<Partial<Record<GrantType, Grant>>> = {
  authorization_code: authorizationCode,
  client_credentials: clientCredentials,
  refresh_token: refreshToken,
  password,
  'urn:ietf:params:oauth:grant-type:token-exchange': tokenExchange,
};

export const SUPPORTED_GRANT_TYPES = Object.keys(GRANTS) as GrantType[];
