// The user's part: login (password, then TOTP for enrolled users, or TOTP enrolment and the
// recovery codes for users who must have it), step-up of a password-only SSO session for a
// client with `mfa: required`, the SSO session, consent. Every form posts back to the
// authorization endpoint with the request's parameters, so every step re-validates the whole
// request; nothing is kept between steps except the session and short-lived sealed tickets
// (flow-ticket.ts; one purpose each): between the password and the second factor (user,
// client, expiry; each finishes one sign-in only), and on the consent page (what it showed,
// to whom; answered once: consent-ticket.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { remoteAddress } from '../../../core/http.js';
import type { SsoSessionRecord, UserRecord } from '../../../storage/types.js';
import type { AuthContext } from '../../context.js';
import { confirmEnrolmentAtLogin, MfaEnrolledError, mfaStatus, pendingTotpEnrolment, startTotpEnrolment, verifyMfaCode } from '../../mfa/user-mfa.js';
import { currentSession, endSession, startSession } from '../../sessions/sso.js';
import { verifyLogin } from '../../users/verify-login.js';
import { renderConsent } from '../../views/consent.js';
import { checkCsrf, csrfToken } from '../../views/csrf.js';
import { renderError } from '../../views/error.js';
import { renderLogin, renderMfa } from '../../views/login.js';
import { renderMfaEnrol, renderRecoveryCodes } from '../../views/mfa-enrol.js';
import { requestAudit } from '../../request-scope.js';
import { hintedSubject } from './check-id-token-hint.js';
import { acceptConsentTicket, sealConsentTicket } from './consent-ticket.js';
import { openTicket, sealTicket, ticketUsed, useTicket, type OpenedTicket } from './flow-ticket.js';
import { IN_FLOW_TTL, requestUriFor } from './pushed.js';
import { AuthorizationError, REQUEST_PARAMS, type AuthorizationRequest } from './request.js';

const FAILED = 'Incorrect username or password.';
const LOCKED = 'Too many failed attempts. Try again later.';
const SIGN_IN_EXPIRED = 'The sign-in has expired. Go back and sign in again.';
const CONSENT_MISMATCH = 'This consent page has expired or does not match the current sign-in. Go back to the application and start again.';
/**
 * Prompts answered by the login page even with an SSO session (OIDC Core §3.1.2.1): `login`
 * re-authenticates; `select_account` lets the user pick the account, and a browser holds one
 * session, so picking is signing in (as whoever they choose). Satisfied once the user has.
 */
const SIGN_IN_PROMPTS = new Set(['login', 'select_account']);
/** seconds between the password step and the TOTP step, at most */
const MFA_TICKET_TTL = 300;

/** What the user decided; undefined means a page was rendered and the request waits. */
interface Interaction {
  session: SsoSessionRecord;
}

function requestFields(ctx: AuthContext, r: AuthorizationRequest, opts: { freshLogin?: boolean } = {}): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  // redirect_uri is carried as the client sent it, absent staying absent: the code records
  // whether the request named one, and the token request must repeat it only then (RFC 6749 §4.1.3)
  for (const name of REQUEST_PARAMS) {
    let value = r.params.get(name);
    if (name === 'client_id') value = r.client.client_id;
    if (opts.freshLogin && name === 'max_age') continue; // satisfied by the login just done
    if (opts.freshLogin && name === 'prompt' && value !== undefined) {
      value = value.split(' ').filter((p) => !SIGN_IN_PROMPTS.has(p) && p !== '').join(' ');
    }
    if (value !== undefined && value !== '') fields.push([name, value]);
  }
  for (const resource of r.resources) fields.push(['resource', resource]);
  // a pushed request stays one: its pages carry a request_uri (renewed), not its parameters
  // (and a request object's stays one: require_signed_request_object holds on every page)
  if (r.pushed) return [['client_id', r.client.client_id], ['request_uri', requestUriFor(ctx, r.client.client_id, fields, IN_FLOW_TTL, { signed: r.signed })]];
  return fields;
}

function formOrigins(r: AuthorizationRequest): string[] {
  // browsers apply form-action to the redirect that follows a POST, too
  return [new URL(r.redirectUri).origin];
}

function clientName(r: AuthorizationRequest): string {
  return r.client.client_name ?? r.client.client_id;
}

export async function interact(
  ctx: AuthContext,
  req: IncomingMessage,
  res: ServerResponse,
  r: AuthorizationRequest,
  action: string | undefined,
): Promise<Interaction | undefined> {
  const now = ctx.clock.now();
  const ip = remoteAddress(req);
  const page = pageFor(ctx, req, res, r);
  const audit = requestAudit(ctx, req);
  // HEAD acts on no session (index.ts): answered as for a browser without one
  let session = req.method === 'HEAD' ? undefined : await currentSession(ctx, req);
  let fresh = false;

  if (action !== undefined) {
    if (!checkCsrf(ctx, req, r.params.get('csrf_token'))) {
      renderError(res, 403, 'Request refused', 'The form has expired or was not sent from this site. Go back and try again.', ctx.auth.branding);
      return undefined;
    }
  }

  // a hint that is not our ID token is refused before anything is shown
  const hinted = hintedSubject(ctx, r);

  if (action === 'login') {
    const username = r.params.get('username') ?? '';
    // with a second factor to come, the password alone does not clear the failures (TOTP guessing)
    const result = await verifyLogin(ctx, username, r.params.get('password') ?? '', ip, undefined, audit, { secondFactorFollows: (u) => needsSecondFactor(ctx, r, u) });
    if (!result.user) {
      renderLogin(res, failedStatus(res, result), { ...page.common(), clientName: clientName(r), username, error: result.allowed ? FAILED : LOCKED });
      return undefined;
    }
    // a second factor first when the user has one, or must have one (enrolment)
    if (await askSecondFactor(ctx, page, r, result.user)) return undefined;
    session = await startSession(ctx, req, res, result.user, ['pwd']);
    fresh = true;
  } else if (action === 'mfa' || action === 'enrol' || action === 'enrolled') {
    const opened = await openMfaTicket(ctx, r, r.params.get('mfa_ticket'), action, now);
    if (!opened) {
      renderError(res, 403, 'Request refused', SIGN_IN_EXPIRED, ctx.auth.branding);
      return undefined;
    }
    const { user, ticket } = opened;
    if (action === 'mfa') {
      const check = await verifyMfaCode(ctx, user, (r.params.get('otp') ?? '').replace(/\s/g, ''), ip, audit);
      if (!check.ok) {
        // the same ticket again: a wrong code does not use it up (the guard counts the tries)
        renderMfa(res, failedStatus(res, check), { ...page.common(), ticket: r.params.get('mfa_ticket')!, error: check.allowed ? 'That code is not valid.' : LOCKED });
        return undefined;
      }
    } else if (action === 'enrol') {
      if ((await mfaStatus(ctx, user)).enrolled) {
        // enrolled meanwhile (another tab): the code page, never a second enrolment
        renderMfa(res, 200, { ...page.common(), ticket: sealMfaTicket(ctx, r, user, 'mfa', now) });
        return undefined;
      }
      const check = await confirmEnrolmentAtLogin(ctx, user, (r.params.get('otp') ?? '').replace(/\s/g, ''), ip, audit);
      if (!check.recoveryCodes) {
        const error = check.allowed ? 'That code is not valid. Check the time on your device and try the next code.' : LOCKED;
        await showEnrolment(ctx, page, r, user, failedStatus(res, check), error);
        return undefined;
      }
      // the enrolment page's ticket is done (a replay would get the code page); the codes
      // once, then Continue (action=enrolled) finishes the sign-in
      if (!(await useTicket(ctx, ticket, now))) {
        renderError(res, 403, 'Request refused', SIGN_IN_EXPIRED, ctx.auth.branding);
        return undefined;
      }
      renderRecoveryCodes(res, { ...page.common(), ticket: sealMfaTicket(ctx, r, user, 'enrolled', now), codes: check.recoveryCodes });
      return undefined;
    } else if (!(await mfaStatus(ctx, user)).enrolled) {
      // Continue after the recovery codes, but TOTP was reset meanwhile: start over
      renderError(res, 403, 'Request refused', SIGN_IN_EXPIRED, ctx.auth.branding);
      return undefined;
    }
    // one sign-in per ticket: claimed in the shared store, so a replay fails on any instance
    if (!(await useTicket(ctx, ticket, now))) {
      renderError(res, 403, 'Request refused', SIGN_IN_EXPIRED, ctx.auth.branding);
      return undefined;
    }
    session = await startSession(ctx, req, res, user, ['pwd', 'otp', 'mfa']);
    fresh = true;
  }

  // max_age=0 asks for a fresh login every time (as prompt=login). A consent POST is no
  // exception: the consent page shown right after the login a request asked for carries the
  // request without prompt=login and max_age (requestFields, freshLogin), so one that still
  // demands them was not answered by a login, and gets the login page
  const tooOld = session !== undefined && r.maxAge !== undefined && (r.maxAge === 0 || now - session.auth_time > r.maxAge);
  const needLogin = session === undefined || (!fresh && (tooOld || [...SIGN_IN_PROMPTS].some((p) => r.prompt.has(p))));
  let user: UserRecord | undefined;
  if (!needLogin) {
    user = await ctx.storage.users.get(session!.user_id);
    if (!user || user.locked) {
      await endSession(ctx, req, res);
      session = undefined;
    }
  }
  if (needLogin || !session || !user) {
    if (r.prompt.has('none')) throw new AuthorizationError('login_required', 'the user is not signed in');
    renderLogin(res, 200, { ...page.common(), clientName: clientName(r), username: r.loginHint });
    return undefined;
  }

  // id_token_hint names someone else: they sign in (the login page, their name filled in); a
  // sign-in just done as another user, or prompt=none, is login_required (OIDC Core §3.1.2.1)
  if (hinted !== undefined && hinted.sub !== user.id) {
    if (fresh || r.prompt.has('none')) throw new AuthorizationError('login_required', 'the signed-in user is not the one id_token_hint names');
    // the name is filled in only from a hint issued to this client: any other ID token of ours
    // would otherwise turn the login page into a subject → username lookup
    const expected = hinted.forClient ? await ctx.storage.users.get(hinted.sub) : undefined;
    renderLogin(res, 200, { ...page.common(), clientName: clientName(r), username: expected?.username ?? r.loginHint });
    return undefined;
  }

  // step-up: an SSO session made with the password alone, for a client (or user) that needs TOTP
  if (!session.amr.includes('otp') && (await mfaStatus(ctx, user, clientRequiresMfa(r))).required) {
    if (r.prompt.has('none')) throw new AuthorizationError('interaction_required', 'two-step verification is required');
    await askSecondFactor(ctx, page, r, user);
    return undefined;
  }

  let consented = false;
  if (action === 'consent') {
    // only what the page showed, to whom it was shown, for the sign-in it was shown after
    const ticket = await acceptConsentTicket(ctx, r, session, r.params.get('consent_ticket'), now);
    if (ticket === 'mismatch') {
      audit.record({ event: 'consent.refused', user_id: user.id, username: user.username, client_id: r.client.client_id, scope: r.scope.join(' '), reason: 'ticket_mismatch' });
      renderError(res, 403, 'Request refused', CONSENT_MISMATCH, ctx.auth.branding);
      return undefined;
    }
    // and once: a page answered already (a double click on Allow, a replay) decides nothing
    // more. The request goes on as if no form had been posted, as reloading it would: the
    // consent the first answer stored lets it through, else the consent page is shown afresh.
    // Audited, with the decision it posted (a Deny after Allow, a replayed form show up there).
    if (ticket === 'used') {
      const decision = r.params.get('decision') === 'allow' ? 'allow' : 'deny';
      audit.record({ event: 'consent.repeated', user_id: user.id, username: user.username, client_id: r.client.client_id, scope: r.scope.join(' '), decision });
    }
    if (ticket === 'accepted') {
      if (r.params.get('decision') !== 'allow') {
        audit.record({ event: 'consent.denied', user_id: user.id, username: user.username, client_id: r.client.client_id, scope: r.scope.join(' ') });
        throw new AuthorizationError('access_denied', 'the user denied the request');
      }
      await ctx.storage.consents.grant(user.id, r.client.client_id, r.scope, now);
      audit.record({ event: 'consent.granted', user_id: user.id, username: user.username, client_id: r.client.client_id, scope: r.scope.join(' ') });
      consented = true;
    }
  }
  if (!consented) {
    // `consent: skip` (first-party clients): set by operators only (config file, `client create --consent skip`)
    const skip = r.client.consent === 'skip';
    const granted = skip ? undefined : new Set(await ctx.storage.consents.get(user.id, r.client.client_id));
    const covered = granted === undefined || r.scope.every((s) => granted.has(s));
    if (!covered || r.prompt.has('consent')) {
      if (r.prompt.has('none')) throw new AuthorizationError('consent_required', 'the user has not consented to this request');
      renderConsent(res, {
        ...page.common(), fields: requestFields(ctx, r, { freshLogin: fresh }),
        clientName: clientName(r), username: user.username, scopes: r.scope, ticket: sealConsentTicket(ctx, r, session, now),
      });
      return undefined;
    }
  }
  return { session };
}

/** What every page of the flow needs: the form target, CSRF token, the request, the look. */
interface FlowPage {
  res: ServerResponse;
  common(): { action: string; csrf: string; fields: Array<[string, string]>; formOrigins: string[]; branding: AuthContext['auth']['branding'] };
}

function pageFor(ctx: AuthContext, req: IncomingMessage, res: ServerResponse, r: AuthorizationRequest): FlowPage {
  return {
    res,
    common: () => ({
      action: ctx.endpoints.authorization,
      csrf: csrfToken(ctx, req, res),
      fields: requestFields(ctx, r),
      formOrigins: formOrigins(r),
      branding: ctx.auth.branding,
    }),
  };
}

/**
 * The status of a form shown again after a failed attempt: 200, as any page with an error on
 * it (a 401 must carry a WWW-Authenticate challenge, RFC 9110 §15.5.2, and a form is none), or
 * 429 with Retry-After while the username or the IP is locked out.
 */
function failedStatus(res: ServerResponse, check: { allowed: boolean; retryAfter: number }): number {
  if (check.allowed) return 200;
  if (check.retryAfter > 0) res.setHeader('retry-after', String(Math.ceil(check.retryAfter)));
  return 429;
}

function clientRequiresMfa(r: AuthorizationRequest): boolean {
  return r.client.mfa === 'required';
}

/** Whether the password step is followed by a TOTP step or by enrolment for this user and client. */
async function needsSecondFactor(ctx: AuthContext, r: AuthorizationRequest, user: UserRecord): Promise<boolean> {
  const mfa = await mfaStatus(ctx, user, clientRequiresMfa(r));
  return mfa.enrolled || mfa.required;
}

/**
 * After the password (or for a step-up): the TOTP page for an enrolled user, the enrolment
 * page for one who must have TOTP and has none. false: no second factor is needed.
 */
async function askSecondFactor(ctx: AuthContext, page: FlowPage, r: AuthorizationRequest, user: UserRecord): Promise<boolean> {
  const mfa = await mfaStatus(ctx, user, clientRequiresMfa(r));
  if (mfa.enrolled) {
    renderMfa(page.res, 200, { ...page.common(), ticket: sealMfaTicket(ctx, r, user, 'mfa', ctx.clock.now()) });
    return true;
  }
  if (!mfa.required) return false;
  await showEnrolment(ctx, page, r, user, 200);
  return true;
}

/** The enrolment page: the pending secret again after a wrong code, else a new one. */
async function showEnrolment(ctx: AuthContext, page: FlowPage, r: AuthorizationRequest, user: UserRecord, status: number, error?: string): Promise<void> {
  if (!ctx.config.secret) {
    // TOTP secrets are stored sealed under the master secret: without one there is no enrolment
    renderError(page.res, 503, 'Two-step verification unavailable', 'Two-step verification is required but cannot be set up on this server. Contact an administrator.', ctx.auth.branding);
    return;
  }
  const issuer = ctx.auth.branding?.product_name ?? 'Drawbridge';
  let enrolment;
  try {
    enrolment = (error !== undefined ? await pendingTotpEnrolment(ctx, user, issuer) : undefined) ?? (await startTotpEnrolment(ctx, user, issuer));
  } catch (err) {
    if (!(err instanceof MfaEnrolledError)) throw err;
    // enrolled meanwhile (another tab): the code page instead
    renderMfa(page.res, status, { ...page.common(), ticket: sealMfaTicket(ctx, r, user, 'mfa', ctx.clock.now()), ...(error !== undefined ? { error } : {}) });
    return;
  }
  renderMfaEnrol(page.res, status, {
    ...page.common(), ticket: sealMfaTicket(ctx, r, user, 'enrol', ctx.clock.now()), qrSvg: enrolment.qrSvg, secret: enrolment.secret,
    uri: enrolment.uri, clientName: clientName(r), ...(error !== undefined ? { error } : {}),
  });
}

type MfaTicketPurpose = 'mfa' | 'enrol' | 'enrolled';

/** seconds a ticket is good for: the recovery-code page gets longer (codes are written down) */
const TICKET_TTL: Record<MfaTicketPurpose, number> = { mfa: MFA_TICKET_TTL, enrol: 600, enrolled: 900 };

/** Sealed {user, client, expiry, id} for one step after the password. */
function sealMfaTicket(ctx: AuthContext, r: AuthorizationRequest, user: UserRecord, purpose: MfaTicketPurpose, now: number): string {
  return sealTicket(ctx, purpose, { u: user.id, c: r.client.client_id }, TICKET_TTL[purpose], now);
}

/** The user a ticket was made for, when it opens for this step and client and has not been used. */
async function openMfaTicket(
  ctx: AuthContext,
  r: AuthorizationRequest,
  ticket: string | undefined,
  purpose: MfaTicketPurpose,
  now: number,
): Promise<{ user: UserRecord; ticket: OpenedTicket } | undefined> {
  const t = openTicket(ctx, purpose, ticket, now);
  if (t === undefined || typeof t.u !== 'string') return undefined;
  // made for this client's sign-in (its MFA requirement was judged for it)
  if (t.c !== r.client.client_id) return undefined;
  // finished a sign-in already: refused before a code is counted or a recovery code spent
  if (await ticketUsed(ctx, t, now)) return undefined;
  const user = await ctx.storage.users.get(t.u);
  return user && !user.locked ? { user, ticket: t } : undefined;
}
