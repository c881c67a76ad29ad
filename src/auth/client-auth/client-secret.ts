// client_secret_basic and client_secret_post (RFC 6749 §2.3.1): the secret is compared as a
// SHA-256 digest in constant time. Secrets are high-entropy, so no slow hash is needed.
// Synchronous: the stored digest was decoded once when the client was cached (clients.ts).
import { timingSafeEqual } from 'node:crypto';
import { sha256 } from '../../core/crypto-util.js';
import { invalidClient } from '../../core/errors.js';
import type { ClientAuthenticator } from './types.js';

export const clientSecret: ClientAuthenticator = function checkClientSecret(_ctx, client, presented) {
  if (client.secretDigest === null || presented.credential === undefined) throw invalidClient('client authentication failed');
  // both are 32 bytes: timingSafeEqual never throws here
  if (!timingSafeEqual(sha256(presented.credential), client.secretDigest)) throw invalidClient('client authentication failed');
};
