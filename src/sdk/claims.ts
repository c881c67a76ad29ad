// The claims of a verified token, typed (ARCHITECTURE §5). The gateway's internal JWT and the
// auth server's RFC 9068 JWT access tokens share this shape; fields only one of them sets
// are optional. Extra claims (e.g. `email` copied from a user) stay readable by name.
import { DrawbridgeAuthError } from './errors.js';

/** How the caller authenticated at the edge (internal tokens only). */
export type AuthMethod = 'session' | 'oauth2' | 'key-auth' | 'basic-auth' | 'hmac-auth' | 'jwt' | 'anonymous' | (string & {});

/** RFC 8693 §4.1: who acts on the subject's behalf; `act.act` is the actor before that. */
export interface Actor {
  sub: string;
  act?: Actor;
  readonly [claim: string]: unknown;
}

export interface InternalClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  iat: number;
  exp: number;
  jti?: string;
  client_id: string;
  /** space-separated, as in the token ('' when none) */
  scope: string;
  /** `scope` split: what guards check */
  scopes: readonly string[];
  /** [] when the token has none */
  groups: readonly string[];
  auth_method?: AuthMethod;
  /**
   * A session id, when a sign-in session is behind the call; whose depends on `auth_method`:
   * - `session`: the gateway's own browser session (its id in the gateway's session store,
   *   as `GET /sessions/{id}` and `drawbridge session list` show it).
   * - `oauth2`, `jwt` (and the auth server's JWT access tokens verified directly, which have no
   *   `auth_method`): the `sid` of the access token the caller presented, copied as is: the
   *   issuer's SSO session (for Drawbridge's auth server, the sign-in session that issued the
   *   authorization code; the ID token and logout tokens carry the same `sid`). With the
   *   `jwt` plugin the issuer may be another trusted one, whose ids are its own.
   * - otherwise: absent. Tokens from client_credentials or token exchange have none either.
   * The two kinds are different namespaces: compare a `sid` only with another of the same
   * `auth_method`. An identifier, never a cookie or a token.
   */
  sid?: string;
  /** the gateway consumer, for consumer credentials (key-auth, basic-auth, hmac-auth) */
  consumer?: string;
  /** present on delegated (token-exchange) calls */
  act?: Actor;
  readonly [claim: string]: unknown;
}

function invalid(why: string): DrawbridgeAuthError {
  return new DrawbridgeAuthError('invalid_token', why);
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Checks the types of the claims a service relies on; jose already checked iss, aud, exp,
 * nbf, iat and the signature. A token whose claims have the wrong type is invalid: a
 * service must never see `scope: 42` or `groups: "admin"` typed as something else.
 */
export function toClaims(payload: Record<string, unknown>): InternalClaims {
  if (typeof payload.sub !== 'string' || payload.sub === '') throw invalid('the token has no subject');
  if (typeof payload.client_id !== 'string' || payload.client_id === '') throw invalid('the token has no client_id');
  if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number') throw invalid('the token lacks iat or exp');
  const scope = payload.scope === undefined ? '' : payload.scope;
  if (typeof scope !== 'string') throw invalid('the scope claim is not a string');
  const groups = payload.groups === undefined ? [] : payload.groups;
  if (!isStringArray(groups)) throw invalid('the groups claim is not a list of strings');
  for (const name of ['sid', 'consumer', 'auth_method', 'jti'] as const) {
    if (payload[name] !== undefined && typeof payload[name] !== 'string') throw invalid(`the ${name} claim is not a string`);
  }
  if (payload.act !== undefined && !isActor(payload.act)) throw invalid('the act claim is malformed');
  return Object.freeze({
    ...payload,
    scope,
    scopes: Object.freeze(scope.split(' ').filter((s) => s !== '')),
    groups: Object.freeze([...groups]),
  }) as InternalClaims;
}

function isActor(v: unknown, depth = 0): v is Actor {
  if (depth > 16 || typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const a = v as Record<string, unknown>;
  return typeof a.sub === 'string' && (a.act === undefined || isActor(a.act, depth + 1));
}
