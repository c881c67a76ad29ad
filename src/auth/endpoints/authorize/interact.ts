// The user's part: login (password, then TOTP for enrolled users), the SSO session, consent.
// The login and consent forms post back to the authorization endpoint with the request's
// parameters, so every step re-validates the whole request; nothing is kept between steps
// except the session and a short-lived sealed ticket between password and TOTP.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { remoteAddress } from '../../../core/http.js';
import { deriveKey, seal, unseal } from '../../../crypto/seal.js';
import type { SsoSessionRecord, UserRecord } from '../../../storage/types.js';
import type { AuthContext } from '../../context.js';
import { mfaStatus, verifyMfaCode } from '../../mfa/user-mfa.js';
import { currentSession, endSession, startSession } from '../../sessions/sso.js';
import { verifyLogin } from '../../users/verify-login.js';
import { renderConsent } from '../../views/consent.js';
import { checkCsrf, csrfToken } from '../../views/csrf.js';
import { renderError } from '../../views/error.js';
import { renderLogin, renderMfa } from '../../views/login.js';
import { AuthorizationError, REQUEST_PARAMS, type AuthorizationRequest } from './request.js';

const FAILED = 'Incorrect username or password.';
const LOCKED = 'Too many failed attempts. Try again later.';
/** seconds between the password step and the TOTP step, at most */
const MFA_TICKET_TTL = 300;

/** What the user decided; undefined means a page was rendered and the request waits. */
export interface Interaction {
  session: SsoSessionRecord;
}

function requestFields(r: AuthorizationRequest, opts: { freshLogin?: boolean } = {}): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  for (const name of REQUEST_PARAMS) {
    let value = r.params.get(name);
    if (name === 'client_id') value = r.client.client_id;
    if (name === 'redirect_uri') value = r.redirectUri;
    if (opts.freshLogin && name === 'max_age') continue; // satisfied by the login just done
    if (opts.freshLogin && name === 'prompt' && value !== undefined) {
      value = value.split(' ').filter((p) => p !== 'login' && p !== '').join(' ');
    }
    if (value !== undefined && value !== '') fields.push([name, value]);
  }
  return fields;
}

function formOrigins(r: AuthorizationRequest): string[] {
  // browsers apply form-action to the redirect that follows a POST, too
  return [new URL(r.redirectUri).origin];
}

function clientName(r: AuthorizationRequest): string {
  return r.client.client_name ?? r.client.client_id;
}

// without a master secret (development) a per-process key: a known fallback would let anyone
// forge a ticket and skip the password step
const PROCESS_TICKET_KEY = randomBytes(32);

function ticketKey(ctx: AuthContext): Buffer {
  return ctx.config.secret ? deriveKey(ctx.config.secret, 'login-mfa-ticket') : PROCESS_TICKET_KEY;
}

export async function interact(
  ctx: AuthContext,
  req: IncomingMessage,
  res: ServerResponse,
  r: AuthorizationRequest,
  action: string | undefined,
): Promise<Interaction | undefined> {
  const action_ = ctx.endpoints.authorization;
  const now = ctx.clock.now();
  const ip = remoteAddress(req);
  let session = await currentSession(ctx, req);
  let fresh = false;

  if (action !== undefined) {
    if (!checkCsrf(ctx, req, r.params.get('csrf_token'))) {
      renderError(res, 403, 'Request refused', 'The form has expired or was not sent from this site. Go back and try again.', ctx.auth.branding);
      return undefined;
    }
  }

  if (action === 'login') {
    const username = r.params.get('username') ?? '';
    const result = await verifyLogin(ctx, username, r.params.get('password') ?? '', ip);
    if (!result.user) {
      renderLogin(res, result.allowed ? 401 : 429, {
        action: action_, csrf: csrfToken(ctx, req, res), fields: requestFields(r), clientName: clientName(r),
        username, error: result.allowed ? FAILED : LOCKED, formOrigins: formOrigins(r), branding: ctx.auth.branding,
      });
      return undefined;
    }
    const mfa = await mfaStatus(ctx, result.user);
    if (mfa.enrolled) {
      const ticket = seal(ticketKey(ctx), JSON.stringify({ u: result.user.id, exp: now + MFA_TICKET_TTL }), 'mfa-ticket');
      renderMfa(res, 200, { action: action_, csrf: csrfToken(ctx, req, res), fields: requestFields(r), ticket, formOrigins: formOrigins(r), branding: ctx.auth.branding });
      return undefined;
    }
    if (mfa.required) {
      // enrolment pages are not built yet: refuse rather than skip the second factor
      renderError(res, 403, 'Two-step verification required', 'Your account requires two-step verification. Ask an administrator to enrol you.', ctx.auth.branding);
      return undefined;
    }
    session = await startSession(ctx, req, res, result.user, ['pwd']);
    fresh = true;
  } else if (action === 'mfa') {
    const user = await openTicket(ctx, r.params.get('mfa_ticket'), now);
    if (!user) {
      renderError(res, 403, 'Request refused', 'The sign-in has expired. Go back and sign in again.', ctx.auth.branding);
      return undefined;
    }
    const check = await verifyMfaCode(ctx, user, (r.params.get('otp') ?? '').replace(/\s/g, ''), ip);
    if (!check.ok) {
      renderMfa(res, check.allowed ? 401 : 429, {
        action: action_, csrf: csrfToken(ctx, req, res), fields: requestFields(r), ticket: r.params.get('mfa_ticket')!,
        error: check.allowed ? 'That code is not valid.' : LOCKED, formOrigins: formOrigins(r), branding: ctx.auth.branding,
      });
      return undefined;
    }
    session = await startSession(ctx, req, res, user, ['pwd', 'otp', 'mfa']);
    fresh = true;
  }

  // max_age=0 asks for a fresh login every time (as prompt=login)
  const tooOld = session !== undefined && r.maxAge !== undefined && (r.maxAge === 0 || now - session.auth_time > r.maxAge);
  const needLogin = session === undefined || (!fresh && action !== 'consent' && (r.prompt.has('login') || tooOld));
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
    renderLogin(res, 200, {
      action: action_, csrf: csrfToken(ctx, req, res), fields: requestFields(r), clientName: clientName(r),
      username: r.loginHint, formOrigins: formOrigins(r), branding: ctx.auth.branding,
    });
    return undefined;
  }

  let consented = false;
  if (action === 'consent') {
    if (r.params.get('decision') !== 'allow') throw new AuthorizationError('access_denied', 'the user denied the request');
    await ctx.storage.consents.grant(user.id, r.client.client_id, r.scope, now);
    consented = true;
  }
  if (!consented) {
    // `consent: skip` (first-party clients) is a config-file setting: only operators grant it
    const skip = ctx.auth.clients.some((c) => c.client_id === r.client.client_id && c.consent === 'skip');
    const granted = skip ? undefined : new Set(await ctx.storage.consents.get(user.id, r.client.client_id));
    const covered = granted === undefined || r.scope.every((s) => granted.has(s));
    if (!covered || r.prompt.has('consent')) {
      if (r.prompt.has('none')) throw new AuthorizationError('consent_required', 'the user has not consented to this request');
      renderConsent(res, {
        action: action_, csrf: csrfToken(ctx, req, res), fields: requestFields(r, { freshLogin: fresh }),
        clientName: clientName(r), username: user.username, scopes: r.scope, formOrigins: formOrigins(r), branding: ctx.auth.branding,
      });
      return undefined;
    }
  }
  return { session };
}

async function openTicket(ctx: AuthContext, ticket: string | undefined, now: number): Promise<UserRecord | undefined> {
  if (ticket === undefined || ticket.length > 2048) return undefined;
  let parsed: { u?: unknown; exp?: unknown };
  try {
    parsed = JSON.parse(unseal(ticketKey(ctx), ticket, 'mfa-ticket')) as { u?: unknown; exp?: unknown };
  } catch {
    return undefined;
  }
  if (typeof parsed.u !== 'string' || typeof parsed.exp !== 'number' || parsed.exp <= now) return undefined;
  const user = await ctx.storage.users.get(parsed.u);
  return user && !user.locked ? user : undefined;
}
