// The times of a JWT a client signed itself, checked alike wherever one is taken: a client
// assertion (client-auth/private-key-jwt.ts) and a request object
// (endpoints/authorize/request-object.ts). Each caller words its refusal its own way, so this
// names the claim at fault rather than an error.

/** Seconds of clock skew allowed on exp, nbf and iat, either way. */
export const CLOCK_SKEW = 30;

/** The claim that puts a JWT out of bounds; `lifetime`: exp too far after its start. */
export type TimeFault = 'exp' | 'nbf' | 'iat' | 'lifetime';

/** NumericDates (RFC 7519 §2) already read as such; nbf and iat optional. */
interface JwtTimes {
  exp: number;
  nbf?: number | undefined;
  iat?: number | undefined;
}

/**
 * The first of these that holds at `now`, or undefined: `exp` passed, `nbf` or `iat` ahead,
 * more than `maxLifetime` seconds from nbf (else iat, else now) to exp. A caller that has
 * checked nbf elsewhere and counts the lifetime from iat leaves nbf out.
 */
export function timeFault(times: JwtTimes, now: number, maxLifetime: number): TimeFault | undefined {
  const { exp, nbf, iat } = times;
  if (exp <= now - CLOCK_SKEW) return 'exp';
  if (nbf !== undefined && nbf > now + CLOCK_SKEW) return 'nbf';
  if (iat !== undefined && iat > now + CLOCK_SKEW) return 'iat';
  if (exp - (nbf ?? iat ?? now) > maxLifetime) return 'lifetime';
  return undefined;
}
