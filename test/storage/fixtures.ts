// Records for storage tests: a signing key and a token with plausible defaults, at a fixed
// NOW, each field overridable. Shared by the contract, next-key, migration and token
// exchange suites.
import type { SigningKeyRecord, TokenRecord } from '../../src/storage/types.js';

export const NOW = 1_700_000_000;

export function signingKeyRecord(kid: string, over: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return {
    kid,
    alg: 'ES256',
    public_jwk: { kty: 'EC', crv: 'P-256', x: `x-${kid}`, y: `y-${kid}`, kid },
    private_enc: `enc:${kid}`,
    status: 'current',
    created_at: NOW,
    publish_until: null,
    ...over,
  };
}

export function tokenRecord(digest: string, over: Partial<TokenRecord> = {}): TokenRecord {
  return {
    digest,
    kind: 'access_token',
    format: 'opaque',
    jti: `jti-${digest}`,
    client_id: 'web',
    sub: 'alice-id',
    scope: 'openid orders:read',
    audience: ['orders'],
    grant_id: null,
    issued_at: NOW,
    expires_at: NOW + 600,
    revoked_at: null,
    extra: null,
    ...over,
  };
}
