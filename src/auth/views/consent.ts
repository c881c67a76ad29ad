// Consent page: what the client asks for, allow or deny. The form carries the consent ticket
// (endpoints/authorize/consent-ticket.ts): the answer counts only for what this page showed.
import type { ServerResponse } from 'node:http';
import type { BrandingConfig } from '../../config/types.js';
import { escapeHtml, hiddenFields, renderPage } from './page.js';

const SCOPE_TEXT: Record<string, string> = {
  openid: 'Sign you in',
  profile: 'Your name and profile details',
  email: 'Your email address',
  groups: 'Your group memberships',
  offline_access: 'Stay signed in when you are not using it',
};

interface ConsentView {
  action: string;
  csrf: string;
  fields: Array<[string, string]>;
  clientName: string;
  username: string;
  scopes: string[];
  /** sealed: the user, sign-in and request this page was shown for */
  ticket: string;
  formOrigins: string[];
  branding?: BrandingConfig | undefined;
}

export function renderConsent(res: ServerResponse, v: ConsentView): void {
  const items = v.scopes.map((s) => `<li>${escapeHtml(SCOPE_TEXT[s] ?? s)}</li>`).join('');
  const body =
    `<h1>Allow access?</h1><p><strong>${escapeHtml(v.clientName)}</strong> asks to:</p><ul>${items}</ul>` +
    `<p>Signed in as ${escapeHtml(v.username)}.</p>` +
    `<form method="post" action="${escapeHtml(v.action)}">` +
    hiddenFields(v.fields) +
    hiddenFields([['action', 'consent'], ['csrf_token', v.csrf], ['consent_ticket', v.ticket]]) +
    `<button type="submit" name="decision" value="allow">Allow</button> ` +
    `<button type="submit" name="decision" value="deny" class="secondary">Deny</button></form>`;
  renderPage(res, 200, { title: 'Allow access', body, formOrigins: v.formOrigins, branding: v.branding });
}
