// Request objects by value (RFC 9101 JAR; OIDC Core §6.1 `request`) at the authorization
// endpoint and the PAR endpoint: the authorization request as a JWT the client signed with its
// own key, one of those it authenticates with for private_key_jwt (`jwks` / `jwks_uri`, the
// same key sets: client-auth/private-key-jwt.ts). Only its parameters count (RFC 9101 §5):
// anything sent beside it but client_id is ignored, and they go through the same checks as a
// plain request's.
//
// Accepted: a compact JWS with an asymmetric algorithm (the client's request_object_signing_alg
// when it has one), verified with the client's keys; `iss` the client_id, `aud` the issuer,
// `client_id` (when present) the request's, `exp` in the future, `nbf` / `iat` not, at most
// 60 minutes between `nbf` (else `iat`) and `exp` (as FAPI 2.0 asks), no `request` or
// `request_uri` inside. No `alg: none`, no HMAC (a client secret is no key to sign with here),
// no encrypted objects (JWE): all invalid_request_object.
//
// Which errors may be redirected: one found before the signature verified (the object is
// malformed, unsigned, of another alg, or not signed by the client) leaves nothing to trust
// and is an error page (RequestObjectError). Once it verified, the client stands behind its
// redirect_uri: a claim out of bounds is `refusal`, sent to that URI once it is found
// registered, as any error of a plain request.
import { compactVerify, decodeProtectedHeader, errors, type CompactVerifyGetKey } from 'jose';
import { FormParams } from '../../../core/http.js';
import { REQUEST_OBJECT_ALGS } from '../../../crypto/algorithms.js';
import { withClientKeys } from '../../client-auth/private-key-jwt.js';
import { timeFault, type TimeFault } from '../../client-jwt-times.js';
import type { Client } from '../../clients.js';
import type { AuthContext } from '../../context.js';
import { REPEATABLE_REQUEST_PARAMS, REQUEST_PARAMS, UntrustedRequestError } from './request.js';


/** Seconds a request object may be valid for, from nbf (else iat) to exp (FAPI 2.0 Security Profile §5.3.2.1). */
const MAX_LIFETIME = 3600;
/** Why the object's times are out of bounds (client-jwt-times.ts, the same checks as client assertions'). */
const TIME_REFUSALS: Readonly<Record<TimeFault, string>> = {
  exp: 'it has expired (exp)',
  nbf: 'it is not valid yet (nbf)',
  iat: 'it is issued in the future (iat)',
  lifetime: `it is valid for more than ${MAX_LIFETIME / 60} minutes (exp - nbf, else exp - iat)`,
};
/** `typ` values a request object may carry (RFC 9101 §10.8, explicit typing; plain JWT as OIDC clients send). */
const TYPES: ReadonlySet<string> = new Set(['oauth-authz-req+jwt', 'application/oauth-authz-req+jwt', 'jwt']);

/** A request object that cannot be trusted at all: an error page (a 400 at the PAR endpoint), never a redirect. */
export class RequestObjectError extends UntrustedRequestError {
  /** why, as error_description of invalid_request_object */
  readonly reason: string;

  constructor(reason: string, options?: ErrorOptions) {
    super(`The request object was refused (invalid_request_object): ${reason}.`, options);
    this.reason = reason;
  }
}

export interface OpenedRequestObject {
  /** the object's authorization parameters, and client_id */
  params: FormParams;
  /** why a claim is out of bounds, if one is: invalid_request_object, sent to the object's redirect URI */
  refusal?: string;
}

/** The request object `jwt` of `client` (already established by the request's client_id, or authenticated) opened. */
export async function openRequestObject(ctx: AuthContext, client: Client, jwt: string): Promise<OpenedRequestObject> {
  const parts = jwt.split('.').length;
  if (parts === 5) throw new RequestObjectError('encrypted request objects (JWE) are not supported; send it signed (JWS) with one of the client\'s keys');
  if (parts !== 3) throw new RequestObjectError('not a signed JWT (compact JWS)');
  let header;
  try {
    header = decodeProtectedHeader(jwt);
  } catch (err) {
    throw new RequestObjectError('its header is not valid', { cause: err });
  }
  const pinned = client.request_object_signing_alg;
  const algorithms = pinned !== undefined ? [pinned] : [...REQUEST_OBJECT_ALGS];
  const alg = typeof header.alg === 'string' ? header.alg : undefined;
  if (alg === undefined) throw new RequestObjectError('its header names no alg');
  if (alg.toLowerCase() === 'none') throw new RequestObjectError('it is not signed (alg none); sign it with one of the client\'s keys');
  if (!algorithms.includes(alg)) {
    throw new RequestObjectError(pinned !== undefined ? `it must be signed with ${pinned} (the client's request_object_signing_alg)` : `alg ${alg} is not accepted (one of ${algorithms.join(', ')})`);
  }
  const typ: unknown = header.typ;
  if (typ !== undefined && (typeof typ !== 'string' || !TYPES.has(typ.toLowerCase()))) throw new RequestObjectError(`typ ${String(typ)} is not a request object's (oauth-authz-req+jwt)`);
  if ((client.jwks ?? null) === null && (client.jwks_uri ?? null) === null) {
    throw new RequestObjectError('the client has no keys (jwks or jwks_uri) to verify it with');
  }
  let payload: Uint8Array;
  try {
    ({ payload } = await withClientKeys(client, (getKey) => compactVerify(jwt, getKey as CompactVerifyGetKey, { algorithms })));
  } catch (err) {
    const unreachable = err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || !(err instanceof errors.JOSEError);
    throw new RequestObjectError(unreachable ? 'the client\'s keys (jwks_uri) could not be read' : 'its signature does not verify with the client\'s keys', { cause: err });
  }
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    claims = undefined;
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new RequestObjectError('its payload is not a JSON object');
  const c = claims as Record<string, unknown>;
  const { params, problem: paramProblem } = paramsOf(client, c);
  const problem = claimProblem(ctx, client, c) ?? paramProblem;
  return { params, ...(problem !== undefined ? { refusal: problem } : {}) };
}

/** What is wrong with the object's own claims (RFC 9101 §4, §6.3), or undefined. */
function claimProblem(ctx: AuthContext, client: Client, c: Record<string, unknown>): string | undefined {
  const now = ctx.clock.now();
  const issuer = ctx.endpoints.issuer;
  if (c.request !== undefined || c.request_uri !== undefined) return 'it must not contain request or request_uri';
  if (c.iss !== client.client_id) return 'iss must be the client_id';
  const aud = c.aud;
  if (!(aud === issuer || (Array.isArray(aud) && aud.includes(issuer)))) return `aud must name the issuer ${issuer}`;
  if (c.client_id !== undefined && c.client_id !== client.client_id) return 'its client_id is not the client_id of the request';
  const { exp, nbf, iat } = c;
  if (!isTime(exp)) return 'exp is required (a NumericDate)';
  if (nbf !== undefined && !isTime(nbf)) return 'nbf is not a NumericDate';
  if (iat !== undefined && !isTime(iat)) return 'iat is not a NumericDate';
  const fault = timeFault({ exp, nbf, iat }, now, MAX_LIFETIME);
  return fault !== undefined ? TIME_REFUSALS[fault] : undefined;
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * The object's authorization parameters (those a plain request carries: REQUEST_PARAMS and
 * each resource), as strings: max_age may be a JSON number (OIDC Core §6.1), resource an array
 * (RFC 8707 §2); other claims are ignored, as other parameters of a plain request are.
 */
function paramsOf(client: Client, c: Record<string, unknown>): { params: FormParams; problem?: string } {
  const values = new Map<string, string[]>();
  let problem: string | undefined;
  const put = (name: string, value: string): void => {
    // a query could not hold it either (decodeFormComponent), and PostgreSQL refuses it; kept
    // all the same, so that a redirect_uri holding one is not registered rather than left out
    if (value.includes('\0')) problem ??= `${name} holds a NUL character`;
    values.set(name, [...(values.get(name) ?? []), value]);
  };
  for (const name of REQUEST_PARAMS) {
    const value = c[name];
    if (name === 'client_id' || value === undefined) continue;
    if (typeof value === 'string') put(name, value);
    else if (name === 'max_age' && typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) put(name, String(value));
    else problem ??= `${name} must be a string`;
  }
  for (const name of REPEATABLE_REQUEST_PARAMS) {
    const value = c[name];
    if (value === undefined) continue;
    const list = Array.isArray(value) ? value : [value];
    if (list.every((v) => typeof v === 'string')) for (const v of list) put(name, v);
    else problem ??= `${name} must be a string or an array of strings`;
  }
  values.set('client_id', [client.client_id]);
  return { params: new FormParams(values), ...(problem !== undefined ? { problem } : {}) };
}
