// client_secret_basic and client_secret_post (RFC 6749 §2.3.1): the secret is compared as a
// SHA-256 digest in constant time. Secrets are high-entropy, so no slow hash is needed.
import { safeEqualHex, sha256Hex } from '../../core/crypto-util.js';
import { invalidClient } from '../../core/errors.js';
import type { ClientAuthenticator } from './types.js';

export const clientSecret: ClientAuthenticator = async function checkClientSecret(_ctx, client, presented) {
  if (client.secret_hash === null || presented.credential === undefined) throw invalidClient('client authentication failed');
  if (!safeEqualHex(sha256Hex(presented.credential), client.secret_hash)) throw invalidClient('client authentication failed');
};
