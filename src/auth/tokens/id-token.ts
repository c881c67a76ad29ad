// ID tokens (OIDC Core §2, §3.1.3.6): signed with the current key of the client's
// id_token_signed_response_alg (default: the first of keys.id_token_algorithms), `typ: JWT`.
// Claims beyond the required ones come from the user's claims, by scope (OIDC Core §5.4).
import { createHash } from 'node:crypto';
import type { SigningAlg } from '../../config/types.js';
import { signJwt } from '../../crypto/jwt.js';
import type { UserRecord } from '../../storage/types.js';
import type { AuthContext } from '../context.js';

/** Claims released per scope; `groups` is Drawbridge's own. */
export const SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  profile: [
    'name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile',
    'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
  ],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  address: ['address'],
  groups: ['groups'],
};

/**
 * Discovery's claims_supported: what an ID token or userinfo answer can carry. No `azp`: ID
 * tokens have one audience, the client, so it is never needed (OIDC Core §2) nor sent. No
 * `acr` either: no sign-in sets one (acr_values is not supported), so none is ever issued.
 */
export const CLAIMS_SUPPORTED = [
  'sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'sid', 'amr',
  ...new Set(Object.values(SCOPE_CLAIMS).flat()),
];

/** The user's claims the scopes allow; preferred_username defaults to the username. */
export function claimsForScope(user: UserRecord, scope: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of scope) {
    for (const name of SCOPE_CLAIMS[s] ?? []) {
      const value = name === 'preferred_username' ? (user.claims[name] ?? user.username) : user.claims[name];
      if (value !== undefined) out[name] = value;
    }
  }
  return out;
}

/** at_hash: left half of the hash of the access token, with the hash of the signing alg. */
function tokenHash(alg: SigningAlg, token: string): string {
  // ES256/RS256 hash with SHA-256; Ed25519 signs with SHA-512 (OIDC Core §3.1.3.6, as the
  // OpenID Foundation's EdDSA errata and oidc-provider do)
  const digest = createHash(alg === 'EdDSA' ? 'sha512' : 'sha256').update(token, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

interface IdTokenRequest {
  clientId: string;
  /** the client's id_token_signed_response_alg; absent/null: the server's default ID token alg */
  alg: SigningAlg | null | undefined;
  user: UserRecord;
  scope: readonly string[];
  nonce: string | null;
  authTime: number;
  sid: string | null;
  amr: readonly string[];
  acr: string | null;
  accessToken?: string;
  ttl?: number;
}

export function issueIdToken(ctx: AuthContext, r: IdTokenRequest): string {
  const key = ctx.keyring.idTokenKey(r.alg);
  const now = ctx.clock.now();
  const payload: Record<string, unknown> = {
    iss: ctx.endpoints.issuer,
    sub: r.user.id,
    aud: r.clientId,
    exp: now + (r.ttl ?? ctx.auth.access_token_ttl),
    iat: now,
    auth_time: r.authTime,
  };
  if (r.nonce !== null) payload.nonce = r.nonce;
  if (r.accessToken !== undefined) payload.at_hash = tokenHash(key.alg, r.accessToken);
  if (r.sid !== null) payload.sid = r.sid;
  if (r.amr.length > 0) payload.amr = [...r.amr];
  if (r.acr !== null) payload.acr = r.acr;
  // every claim the scopes release; iss/sub/aud and friends above are never overwritten
  for (const [name, value] of Object.entries(claimsForScope(r.user, r.scope))) if (!(name in payload)) payload[name] = value;
  return signJwt(key, payload, 'JWT');
}
