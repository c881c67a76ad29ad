// id_token_hint (OIDC Core §3.1.2.1): an ID token we issued, naming the user the client
// expects. If that user is signed in (or signs in now) the answer is positive; otherwise the
// OP SHOULD answer an error such as login_required, so a client never silently gets another
// user's tokens (prompt=none from an RP that still believes Alice is signed in). Expired is
// fine (hints usually are); our signature and issuer are not optional. We need not be in aud.
import { verifyJwt } from '../../../crypto/jwt.js';
import type { AuthContext } from '../../context.js';
import { MAX_TOKEN_LENGTH } from '../../tokens/resolve.js';
import { AuthorizationError, type AuthorizationRequest } from './request.js';

interface Hint {
  sub: string;
  /** whether the hint was issued to the requesting client (only then may its user be named on the login page) */
  forClient: boolean;
}

/** The subject the request's id_token_hint names, or undefined without one. */
export function hintedSubject(ctx: AuthContext, r: AuthorizationRequest): Hint | undefined {
  const hint = r.params.get('id_token_hint');
  if (hint === undefined) return undefined;
  const invalid = new AuthorizationError('invalid_request', 'id_token_hint is not an ID token issued here');
  if (hint.length > MAX_TOKEN_LENGTH) throw invalid;
  const verified = verifyJwt(hint, ctx.keyring.verificationKeys);
  if (!verified) throw invalid;
  const { header, payload } = verified;
  // an ID token (typ JWT), not an access token (at+jwt, client_id) or a logout token (events)
  if (header.typ !== undefined && header.typ !== 'JWT') throw invalid;
  if ('events' in payload || 'client_id' in payload) throw invalid;
  if (payload.iss !== ctx.endpoints.issuer || typeof payload.sub !== 'string') throw invalid;
  const aud = payload.aud;
  const forClient = aud === r.client.client_id || (Array.isArray(aud) && aud.includes(r.client.client_id));
  return { sub: payload.sub, forClient };
}
