// Verifies a compact JWS from a trusted issuer with node:crypto KeyObjects prepared once.
// The issuer is chosen by the token's (unverified) `iss`, then only that issuer's keys
// and algorithms are tried; the algorithm must be in our asymmetric table AND in the
// issuer's list, and fit the key's type. Claims are checked as jose checks them (`exp`
// required here), with `leeway` seconds of tolerance; tests cross-check against jose.
import { isJwtAlg, verifySignature, type JwtAlg } from './algorithms.js';
import { KeysUnavailableError, type KeySource } from './jwks.js';

export interface TrustedIssuer {
  issuer: string;
  algorithms: ReadonlySet<JwtAlg>;
  keys: KeySource;
}

interface ClaimOptions {
  /** accepted audiences; undefined: `aud` is not checked */
  audience?: ReadonlySet<string>;
  leeway: number;
  now: number;
}

type VerifyResult =
  | { ok: true; header: Record<string, unknown>; payload: Record<string, unknown> }
  | { ok: false; problem: string; unavailable?: boolean };

const B64URL = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function refuse(problem: string): VerifyResult {
  return { ok: false, problem };
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  if (!B64URL.test(segment)) return undefined;
  try {
    const value: unknown = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** true for three dot-separated segments: a JWS. Anything else is some other kind of token. */
export function looksLikeJwt(token: string): boolean {
  const first = token.indexOf('.');
  if (first <= 0) return false;
  const second = token.indexOf('.', first + 1);
  return second > first + 1 && token.indexOf('.', second + 1) === -1;
}

export async function verifyJwt(token: string, issuers: ReadonlyMap<string, TrustedIssuer>, opts: ClaimOptions): Promise<VerifyResult> {
  const parts = token.split('.');
  if (parts.length !== 3) return refuse('malformed token');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeSegment(headerPart);
  if (header === undefined) return refuse('malformed token');
  // before anything else, so `none` and HS* are named for what they are
  const alg = header.alg;
  if (!isJwtAlg(alg)) return refuse('token algorithm not accepted');
  const payload = decodeSegment(payloadPart);
  if (payload === undefined || !B64URL.test(signaturePart)) return refuse('malformed token');
  // we understand no JWS extension, so any critical one makes the token unusable
  if (header.crit !== undefined) return refuse('unsupported critical header');
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') return refuse('malformed token');

  const iss = payload.iss;
  const trusted = typeof iss === 'string' ? issuers.get(iss) : undefined;
  if (trusted === undefined) return refuse('untrusted issuer');
  if (!trusted.algorithms.has(alg)) return refuse('token algorithm not accepted');

  let candidates;
  try {
    candidates = await trusted.keys.candidates(alg, kid);
  } catch (err) {
    if (err instanceof KeysUnavailableError) return { ok: false, problem: 'issuer keys unavailable', unavailable: true };
    throw err;
  }
  if (candidates.length === 0) return refuse('no key of the issuer fits the token');
  const input = Buffer.from(`${headerPart}.${payloadPart}`);
  const signature = Buffer.from(signaturePart, 'base64url');
  if (!candidates.some((key) => verifySignature(alg, key, input, signature))) return refuse('invalid signature');

  const problem = checkClaims(payload, opts);
  return problem === undefined ? { ok: true, header, payload } : refuse(problem);
}

/** jose's semantics: numeric dates must be numbers; `exp <= now - leeway` is expired; `nbf > now + leeway` not yet valid. */
function checkClaims(payload: Record<string, unknown>, opts: ClaimOptions): string | undefined {
  const { exp, nbf, iat, aud } = payload;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return exp === undefined ? 'token has no expiry' : 'malformed exp claim';
  if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) return 'malformed nbf claim';
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat))) return 'malformed iat claim';
  if (exp <= opts.now - opts.leeway) return 'token expired';
  if (nbf !== undefined && nbf > opts.now + opts.leeway) return 'token not yet valid';
  if (opts.audience !== undefined) {
    const accepted = opts.audience;
    const ok = typeof aud === 'string' ? accepted.has(aud) : Array.isArray(aud) && aud.some((one) => typeof one === 'string' && accepted.has(one));
    if (!ok) return 'audience not accepted';
  }
  return undefined;
}
