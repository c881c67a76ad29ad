// Answers at the redirect URI: the code, the implicit flow's tokens (implicit.ts) or an error,
// with state and iss (RFC 9207), as a redirect (query or fragment) or an auto-submitting form
// (form_post).
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { randomToken, sha256Base64url } from '../../../core/crypto-util.js';
import { oauthDescription } from '../../../core/errors.js';
import { sendRedirect } from '../../../core/http.js';
import type { SsoSessionRecord } from '../../../storage/types.js';
import type { AuthContext } from '../../context.js';
import { renderFormPost } from '../../views/form-post.js';
import { NO_CHALLENGE, pkceOptional } from './check-pkce.js';
import type { AuthorizationError, AuthorizationRequest, ResponseMode } from './request.js';

/** Codes live at most this long (RFC 6749 §4.1.2 recommends at most 10 minutes; we use 60 s). */
const CODE_TTL = 60;

/**
 * The longest code the token endpoint looks up: 43 characters, and with resource indicators
 * (at most MAX_RESOURCES_LENGTH bytes of JSON) a dot and their base64url JSON.
 */
export const MAX_CODE_LENGTH = 4096;

export async function issueCode(ctx: AuthContext, r: AuthorizationRequest, session: SsoSessionRecord): Promise<string> {
  if (r.codeChallenge === undefined) throw new Error('issueCode: the code flow needs a PKCE challenge');
  // a code without a challenge only ever for a client allowed one (the token endpoint trusts this)
  if (r.codeChallenge === NO_CHALLENGE && !pkceOptional(r.client)) throw new Error('issueCode: PKCE is required for this client');
  // RFC 8707: the resources asked for are bound to the code. They ride in the code itself,
  // after its random part: the stored digest covers the whole string, so a code whose
  // resources were changed is an unknown code.
  const code = r.resources.length === 0 ? randomToken(32) : `${randomToken(32)}.${Buffer.from(JSON.stringify(r.resources)).toString('base64url')}`;
  if (code.length > MAX_CODE_LENGTH) throw new Error('issueCode: the resource indicators make the code too long');
  const now = ctx.clock.now();
  await ctx.storage.authCodes.insert({
    digest: sha256Base64url(code),
    id: randomUUID(),
    client_id: r.client.client_id,
    redirect_uri: r.redirectUri,
    redirect_uri_given: r.redirectUriGiven,
    scope: r.scope.join(' '),
    nonce: r.nonce ?? null,
    code_challenge: r.codeChallenge,
    user_id: session.user_id,
    sid: session.id,
    auth_time: session.auth_time,
    amr: session.amr,
    acr: session.acr,
    created_at: now,
    expires_at: now + CODE_TTL,
    used_at: null,
  });
  return code;
}

/** The resource indicators bound to a code issueCode made (after a successful lookup: never tampered with). */
export function codeResources(code: string): string[] {
  const dot = code.indexOf('.');
  if (dot === -1) return [];
  const resources: unknown = JSON.parse(Buffer.from(code.slice(dot + 1), 'base64url').toString('utf8'));
  if (!Array.isArray(resources) || !resources.every((x) => typeof x === 'string')) throw new Error('codeResources: not a code of ours');
  return resources;
}

export function respond(
  ctx: AuthContext,
  res: ServerResponse,
  redirectUri: string,
  mode: ResponseMode,
  state: string | undefined,
  params: Array<[string, string]>,
  status: 302 | 303,
): void {
  const all: Array<[string, string]> = [...params];
  if (state !== undefined) all.push(['state', state]);
  all.push(['iss', ctx.endpoints.issuer]);
  if (mode === 'form_post') {
    renderFormPost(res, redirectUri, all, ctx.auth.branding);
    return;
  }
  const url = new URL(redirectUri);
  if (mode === 'fragment') {
    // registered redirect URIs carry no fragment (RFC 6749 §3.1.2): the parameters are all of it
    url.hash = new URLSearchParams(all).toString();
  } else {
    appendQuery(url, all);
  }
  sendRedirect(res, status, url.href);
}

export function respondError(
  ctx: AuthContext,
  res: ServerResponse,
  target: { redirectUri: string; mode: ResponseMode; state: string | undefined },
  err: AuthorizationError,
  status: 302 | 303,
): void {
  respond(ctx, res, target.redirectUri, target.mode, target.state, [['error', err.code], ['error_description', oauthDescription(err.message)]], status);
}

/**
 * Adds `params` to the query of a registered redirect URI, keeping the query it was registered
 * with exactly as written (RFC 6749 §3.1.2: it MUST be retained). url.searchParams would
 * re-serialize it: `?debug` would come back as `?debug=` and `/` or `~` percent-encoded.
 */
export function appendQuery(url: URL, params: Iterable<[string, string]>): void {
  const added = new URLSearchParams([...params]).toString();
  if (added === '') return;
  const kept = url.search.slice(1);
  url.search = kept === '' || kept.endsWith('&') ? kept + added : `${kept}&${added}`;
}
