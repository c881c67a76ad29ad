// Validates an RP-initiated logout request (OIDC RP-Initiated Logout 1.0 §2, §3). Nothing in
// it is trusted until checked, so every failure is an error page, never a redirect:
//   id_token_hint             an ID token we signed (one of our published keys, iss = us);
//                             expired is fine (§2: the OP need not reject it), tampered is not
//   client_id                 a known client; with a hint, one of the hint's audiences
//   post_logout_redirect_uri  honoured only when registered, exactly, for that client
//   state                     echoed on that redirect; logout_hint, ui_locales accepted, unused
import { MAX_CLIENT_ID } from '../../config/formats.js';
import { verifyJwt } from '../../crypto/jwt.js';
import type { FormParams } from '../../core/http.js';
import type { Client } from '../clients.js';
import type { AuthContext } from '../context.js';

/** A refusal shown to the user on an error page. */
export class LogoutRequestError extends Error {}

interface IdTokenHint {
  sub: string;
  aud: string[];
  sid: string | null;
}

export interface LogoutRequest {
  hint: IdTokenHint | undefined;
  client: Client | undefined;
  /** the validated post_logout_redirect_uri */
  redirectUri: string | undefined;
  state: string | undefined;
  /** the request's parameters, to carry through the confirmation form */
  fields: Array<[string, string]>;
}

const CARRIED = ['id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state', 'logout_hint', 'ui_locales'] as const;
const MAX_LENGTH: Record<(typeof CARRIED)[number], number> = {
  id_token_hint: 8192,
  client_id: MAX_CLIENT_ID,
  post_logout_redirect_uri: 2048,
  state: 1024,
  logout_hint: 1024,
  ui_locales: 256,
};

export async function checkLogoutRequest(ctx: AuthContext, params: FormParams): Promise<LogoutRequest> {
  const fields: Array<[string, string]> = [];
  for (const name of CARRIED) {
    const value = params.get(name);
    if (value === undefined) continue;
    if (value.length > MAX_LENGTH[name]) throw new LogoutRequestError(`The sign-out request is not valid (${name} is too long).`);
    fields.push([name, value]);
  }
  const raw = params.get('id_token_hint');
  const hint = raw === undefined ? undefined : verifyHint(ctx, raw);

  let client: Client | undefined;
  const clientId = params.get('client_id');
  if (clientId !== undefined) {
    client = (await ctx.clients.get(clientId)) ?? undefined;
    if (!client) throw new LogoutRequestError('The application is not known (client_id is invalid).');
    if (hint && !hint.aud.includes(clientId)) throw new LogoutRequestError('The sign-out request is not valid (client_id does not match the ID token).');
  } else if (hint && hint.aud.length === 1) {
    client = (await ctx.clients.get(hint.aud[0]!)) ?? undefined;
  }

  const redirect = params.get('post_logout_redirect_uri');
  let redirectUri: string | undefined;
  if (redirect !== undefined) {
    if (!client) throw new LogoutRequestError('The sign-out request is not valid (post_logout_redirect_uri needs id_token_hint or client_id).');
    // exact string comparison, as for redirect_uri (no normalisation, no prefix match)
    if (!client.post_logout_redirect_uris.includes(redirect)) {
      throw new LogoutRequestError('The sign-out request is not valid (post_logout_redirect_uri is not registered for this application).');
    }
    redirectUri = redirect;
  }
  return { hint, client, redirectUri, state: params.get('state'), fields };
}

/** An ID token of ours: our key, typ JWT (not an access or logout token), iss = us. Expiry is not checked. */
function verifyHint(ctx: AuthContext, token: string): IdTokenHint {
  const verified = verifyJwt(token, ctx.keyring.verificationKeys);
  const invalid = new LogoutRequestError('The sign-out request is not valid (id_token_hint is not an ID token issued here).');
  if (!verified) throw invalid;
  const { header, payload } = verified;
  if (header.typ !== undefined && header.typ !== 'JWT') throw invalid;
  if (payload.iss !== ctx.endpoints.issuer || typeof payload.sub !== 'string') throw invalid;
  const aud = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud.filter((a): a is string => typeof a === 'string') : [];
  if (aud.length === 0) throw invalid;
  // belt and braces beside typ: access tokens carry client_id, logout tokens events
  if ('events' in payload || 'client_id' in payload) throw invalid;
  return { sub: payload.sub, aud, sid: typeof payload.sid === 'string' ? payload.sid : null };
}
