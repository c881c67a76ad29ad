// Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4, validated per
// §2.6): a JWT signed by the provider (its JWKS; asymmetric algorithms only), `iss` = the
// provider, `aud` containing our client_id, `iat` and `exp` (with leeway), `typ`
// logout+jwt when present, `events` carrying the back-channel logout member, no `nonce`,
// `sub` and/or `sid`, and a `jti` not seen before (storage.jtis, per relying party).
import { decodeJwt } from '../../crypto/jwt.js';
import { verifyJwt } from '../authn/jwt/verify.js';
import type { RelyingParty } from './relying-party.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

type LogoutTokenResult =
  | { ok: true; rp: RelyingParty; iss: string; sub?: string; sid?: string }
  | { ok: false; problem: string; unavailable?: boolean };

/** The relying parties the token may be for (unverified iss + aud): only those are tried. */
function candidatesFor(token: string, parties: readonly RelyingParty[]): RelyingParty[] {
  const decoded = decodeJwt(token);
  if (decoded === undefined) return [];
  const { iss, aud } = decoded.payload;
  const audiences = Array.isArray(aud) ? aud : [aud];
  return parties.filter((rp) => rp.config.issuer === iss && audiences.includes(rp.config.client_id));
}

export async function validateLogoutToken(token: string, parties: readonly RelyingParty[], now: number): Promise<LogoutTokenResult> {
  const candidates = candidatesFor(token, parties);
  if (candidates.length === 0) return { ok: false, problem: 'the logout token is not for any configured provider and client' };
  let last: LogoutTokenResult = { ok: false, problem: 'logout token rejected' };
  for (const rp of candidates) {
    last = await validateFor(token, rp, now);
    if (last.ok || last.unavailable) return last;
  }
  return last;
}

async function validateFor(token: string, rp: RelyingParty, now: number): Promise<LogoutTokenResult> {
  let trusted;
  try {
    trusted = await rp.provider.trusted();
  } catch (err) {
    return { ok: false, problem: (err as Error).message, unavailable: true };
  }
  const leeway = rp.config.leeway;
  const verified = await verifyJwt(token, trusted, { audience: new Set([rp.config.client_id]), leeway, now });
  if (!verified.ok) return verified.unavailable ? { ok: false, problem: verified.problem, unavailable: true } : { ok: false, problem: verified.problem };
  const { header, payload } = verified;
  const typ = header.typ;
  if (typ !== undefined && (typeof typ !== 'string' || !['logout+jwt', 'application/logout+jwt'].includes(typ.toLowerCase()))) {
    return { ok: false, problem: 'logout token has the wrong typ' };
  }
  if (typeof payload.iat !== 'number' || payload.iat > now + leeway) return { ok: false, problem: 'logout token has no valid iat' };
  const events = payload.events;
  if (typeof events !== 'object' || events === null || Array.isArray(events)) return { ok: false, problem: 'logout token has no events claim' };
  const member = (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT];
  if (typeof member !== 'object' || member === null || Array.isArray(member)) return { ok: false, problem: 'logout token events lack the back-channel logout event' };
  // §2.4: a nonce is prohibited, so an ID token can never pass for a logout token
  if (payload.nonce !== undefined) return { ok: false, problem: 'logout token must not carry a nonce' };
  const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
  const sid = typeof payload.sid === 'string' && payload.sid !== '' ? payload.sid : undefined;
  if (sub === undefined && sid === undefined) return { ok: false, problem: 'logout token has neither sub nor sid' };
  if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 256) return { ok: false, problem: 'logout token has no jti' };
  // remembered until it could no longer pass the exp check anyway
  const until = (payload.exp as number) + leeway;
  if (!(await rp.jtis.remember(`oidc-logout:${rp.key}`, payload.jti, until, now))) return { ok: false, problem: 'logout token replayed' };
  const result: LogoutTokenResult = { ok: true, rp, iss: rp.config.issuer };
  if (sub !== undefined) result.sub = sub;
  if (sid !== undefined) result.sid = sid;
  return result;
}
