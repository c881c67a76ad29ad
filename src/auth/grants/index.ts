// The grant table: what is not listed here is unsupported_grant_type.
import type { GrantType } from '../../config/types.js';
import { clientCredentials } from './client-credentials.js';
import type { Grant } from './types.js';

export const GRANTS: Readonly<Partial<Record<GrantType, Grant>>> = {
  client_credentials: clientCredentials,
};

export const SUPPORTED_GRANT_TYPES = Object.keys(GRANTS) as GrantType[];
