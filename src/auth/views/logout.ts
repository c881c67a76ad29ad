// Logout pages (RP-initiated logout): the confirmation asked when the request cannot prove it
// comes from a client of this very session, and the pages shown when no client redirect follows.
// Field names are part of the browser tests' contract: `action` (button: `logout` | `cancel`)
// and `csrf_token`, beside the request's own parameters as hidden fields.
import type { ServerResponse } from 'node:http';
import type { BrandingConfig } from '../../config/types.js';
import { escapeHtml, hiddenFields, renderPage } from './page.js';

interface LogoutConfirmView {
  action: string;
  csrf: string;
  fields: Array<[string, string]>;
  /** the client that asked, when known */
  clientName?: string | undefined;
  username?: string | undefined;
  /** where the browser may be redirected after the POST (CSP form-action applies to redirects) */
  formOrigins: string[];
  branding?: BrandingConfig | undefined;
}

function product(branding: BrandingConfig | undefined): string {
  return branding?.product_name ?? 'Drawbridge';
}

export function renderLogoutConfirm(res: ServerResponse, v: LogoutConfirmView): void {
  const title = `Sign out of ${product(v.branding)}?`;
  const body =
    `<h1>${escapeHtml(title)}</h1>` +
    (v.clientName !== undefined ? `<p><strong>${escapeHtml(v.clientName)}</strong> asks to sign you out.</p>` : '') +
    (v.username !== undefined ? `<p>Signed in as ${escapeHtml(v.username)}.</p>` : '') +
    `<p>Signing out ends your session here and in the applications you signed in to with it.</p>` +
    `<form method="post" action="${escapeHtml(v.action)}">` +
    hiddenFields(v.fields) +
    hiddenFields([['csrf_token', v.csrf]]) +
    `<button type="submit" name="action" value="logout">Sign out</button> ` +
    `<button type="submit" name="action" value="cancel" class="secondary">Stay signed in</button></form>`;
  renderPage(res, 200, { title: 'Sign out', body, formOrigins: v.formOrigins, branding: v.branding });
}

export function renderSignedOut(res: ServerResponse, branding?: BrandingConfig): void {
  const body = `<h1>You have signed out</h1><p>You are no longer signed in to ${escapeHtml(product(branding))}. You can close this window.</p>`;
  renderPage(res, 200, { title: 'Signed out', body, branding });
}

export function renderStillSignedIn(res: ServerResponse, branding?: BrandingConfig): void {
  const body = `<h1>You are still signed in</h1><p>You did not sign out of ${escapeHtml(product(branding))}.</p>`;
  renderPage(res, 200, { title: 'Still signed in', body, branding });
}
