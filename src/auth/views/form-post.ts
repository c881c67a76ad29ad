// OAuth 2.0 Form Post Response Mode: the response parameters in a form that posts itself to
// the redirect URI. The script is allowed by the page's CSP nonce; without JavaScript the
// <noscript> button submits it.
import type { ServerResponse } from 'node:http';
import type { BrandingConfig } from '../../config/types.js';
import { escapeHtml, hiddenFields, renderPage } from './page.js';

export function renderFormPost(res: ServerResponse, redirectUri: string, params: Array<[string, string]>, branding?: BrandingConfig): void {
  const body =
    `<form method="post" action="${escapeHtml(redirectUri)}">` +
    hiddenFields(params) +
    `<noscript><p>Continue to the application.</p><button type="submit">Continue</button></noscript></form>`;
  renderPage(res, 200, {
    title: 'Continue',
    body,
    formOrigins: [new URL(redirectUri).origin],
    script: 'document.forms[0].submit();',
    branding,
  });
}
