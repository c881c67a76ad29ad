// The consent page's ticket: the form grants only what its page showed, to whom it was shown.
// Sealed with the page (flow-ticket.ts, purpose `consent`): the signed-in user, their SSO
// session and its auth_time, and a digest of what was asked (client, redirect URI, response
// type, scopes, resource indicators). The POST is accepted only when the ticket opens, has
// not expired, and every one of these is the same for the request being approved and the
// browser's current session: a page edited (another client, an enlarged scope), left open
// while someone else signed in, or older than a new login of the same user grants nothing.
// And a ticket is answered once: the POST that it matches claims its random id in the shared
// one-time store (storage.jtis, until the ticket expires), so of two POSTs of the same page (a
// replay, a double click on Allow), on this instance or any other, the first alone decides:
// the second grants and denies nothing (interact.ts carries on as if no form had been posted).
import { sha256Base64url } from '../../../core/crypto-util.js';
import type { SsoSessionRecord } from '../../../storage/types.js';
import type { AuthContext } from '../../context.js';
import { openTicket, sealTicket, useTicket } from './flow-ticket.js';
import type { AuthorizationRequest } from './request.js';

/** seconds a consent page can be answered */
const CONSENT_TICKET_TTL = 600;

/** What the consent is for, in a form that does not depend on the order parameters came in. */
function askedFor(r: AuthorizationRequest): string {
  const sorted = (values: readonly string[]) => [...new Set(values)].sort();
  return sha256Base64url(JSON.stringify([r.client.client_id, r.redirectUri, r.responseType, sorted(r.scope), sorted(r.resources)]));
}

function sessionRef(session: SsoSessionRecord): string {
  return sha256Base64url(`consent:${session.id}`);
}

export function sealConsentTicket(ctx: AuthContext, r: AuthorizationRequest, session: SsoSessionRecord, now: number): string {
  return sealTicket(ctx, 'consent', { u: session.user_id, s: sessionRef(session), t: session.auth_time, a: askedFor(r) }, CONSENT_TICKET_TTL, now);
}

/** What became of a consent POST's ticket: accepted (and claimed), not this page's, or answered already. */
export type ConsentTicketCheck = 'accepted' | 'mismatch' | 'used';

/**
 * Accepts `ticket` when it is the consent page's for this very request, user and sign-in, and
 * claims it: 'used' when it was claimed before (by a POST that went on to its answer).
 */
export async function acceptConsentTicket(ctx: AuthContext, r: AuthorizationRequest, session: SsoSessionRecord, ticket: string | undefined, now: number): Promise<ConsentTicketCheck> {
  const t = openTicket(ctx, 'consent', ticket, now);
  const matches = t !== undefined && t.u === session.user_id && t.s === sessionRef(session) && t.t === session.auth_time && t.a === askedFor(r);
  if (!matches) return 'mismatch';
  // atomic across instances: of two POSTs of one page, one gets true
  return (await useTicket(ctx, t, now)) ? 'accepted' : 'used';
}
