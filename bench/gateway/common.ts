// What the gateway benchmark's orchestrator (bench/gateway.ts) and its child entry points
// (bench/gateway/*.ts) agree on: credentials, the request path, the upstream's answers and
// its statistics endpoint, and a small RFC 9421 signer for hmac-auth.
import { createHmac } from 'node:crypto';
import { READY_PREFIX } from '../common.js';

/** Every measured request is `GET` of this path (the gateway's route is the prefix /bench). */
export const REQUEST_PATH = '/bench/items/42';
export const ROUTE_PREFIX = '/bench';
/** The gateway's service name: the `aud` of the internal JWT upstream receives. */
export const SERVICE_NAME = 'bench-api';

/** The upstream answers every request with one of these (tiny JSON, fixed length). */
export const UPSTREAM_BODY = {
  /** no `Authorization: Bearer ey…` arrived */
  plain: '{"ok":true,"bearer":0,"leak":0}',
  /** the internal JWT arrived and no edge credential did */
  bearer: '{"ok":true,"bearer":1,"leak":0}',
} as const;
/** Upstream statistics (not counted as requests): GET on the upstream itself. */
export const STATS_PATH = '/__bench/stats';

export interface UpstreamStats {
  /** requests answered (stats requests excluded) */
  requests: number;
  /** of those, with `Authorization: Bearer ey…` */
  bearer: number;
  /** of those, carrying an edge credential (apikey, Signature, Signature-Input) */
  leaked: number;
  /** the most recent bearer token, for verification with jose */
  lastBearer: string | null;
}

// ─── credentials ─────────────────────────────────────────────────────────────────────

export const CONSUMER = 'bench-partner';
export const API_KEY = 'bench-api-key-7d1c0f3a9e6b42d58c17e0b94a2f6d31';
export const HMAC_KEY_ID = 'bench-hmac-key';
export const HMAC_SECRET = 'bench-hmac-secret-4b9e2c7a0d5f18e63a92c4b7e01d5f8a';
/** the auth server's client for the jwt scenario: ES256 JWT access tokens (RFC 9068) */
export const JWT_CLIENT_ID = 'bench-gw-jwt';
export const JWT_CLIENT_SECRET = 'bench-gw-jwt-secret-0e4a7c2f9b1d63e85a0c4f7b2e9d16a3';
export const JWT_AUDIENCE = 'https://api.bench.example/';
export const JWT_SCOPE = 'api:read';

export const GATEWAY_SECRET = 'bench-gateway-master-secret-0123456789abcdef-fedcba9876543210';

// ─── scenarios the gateway child knows ──────────────────────────────────────────────

export const GATEWAY_SCENARIOS = ['none', 'key-auth', 'jwt', 'hmac-auth', 'key-auth+rate-limiting'] as const;
export type GatewayScenario = (typeof GATEWAY_SCENARIOS)[number];

/** The first line a child prints starting with READY_PREFIX (bench/common.ts), as JSON. */
export interface GatewayReady {
  server: string;
  version: string;
  /** the gateway's (or proxy's, or upstream's) URL */
  url: string;
  /** the issuer whose keys sign internal tokens */
  issuer?: string;
  /** the signing keys' public JWKS (internal tokens verify against it) */
  jwks?: { keys: Array<Record<string, unknown>> };
  /** the auth server's token endpoint (jwt scenario) */
  tokenUrl?: string;
  /** the rate-limiting policy in use */
  policy?: 'local' | 'redis';
  workers?: number;
}

/** Prints the ready line the orchestrator waits for. */
export function announce(ready: GatewayReady): void {
  process.stdout.write(READY_PREFIX + JSON.stringify(ready) + '\n');
}

// ─── RFC 9421 hmac-sha256 signer (what a client does; cheap enough to run per request) ─

/**
 * Signature-Input and Signature for a request without a body and without a query, covering
 * `@method`, `@authority` and `@path` (RFC 9421 §2.5, §3.1), with `created`, `keyid`, `alg`
 * and a `nonce`. The bench cross-checks it against http-message-signatures before use.
 */
export function signRequest(
  method: string,
  authority: string,
  path: string,
  created: number,
  nonce: string,
  keyId = HMAC_KEY_ID,
  secret: string | Buffer = HMAC_SECRET,
): { 'signature-input': string; signature: string } {
  const params = `("@method" "@authority" "@path");created=${created};keyid="${keyId}";alg="hmac-sha256";nonce="${nonce}"`;
  const base =
    `"@method": ${method.toUpperCase()}\n` +
    `"@authority": ${authority.toLowerCase()}\n` +
    `"@path": ${path}\n` +
    `"@signature-params": ${params}`;
  const mac = createHmac('sha256', secret).update(base).digest('base64');
  return { 'signature-input': `sig1=${params}`, signature: `sig1=:${mac}:` };
}
