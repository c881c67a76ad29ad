// Login page: username and password, then (for users with TOTP) the one-time-code step.
// Messages never say whether a username exists.
import type { ServerResponse } from 'node:http';
import type { BrandingConfig } from '../../config/types.js';
import { escapeHtml, hiddenFields, renderPage } from './page.js';

interface LoginView {
  action: string;
  csrf: string;
  /** the authorization request, re-posted with the form */
  fields: Array<[string, string]>;
  clientName: string;
  username?: string;
  error?: string;
  formOrigins: string[];
  branding?: BrandingConfig | undefined;
}

export function renderLogin(res: ServerResponse, status: number, v: LoginView): void {
  const body =
    `<h1>Sign in</h1><p>to continue to <strong>${escapeHtml(v.clientName)}</strong></p>` +
    (v.error ? `<p class="error" role="alert">${escapeHtml(v.error)}</p>` : '') +
    `<form method="post" action="${escapeHtml(v.action)}">` +
    hiddenFields(v.fields) +
    hiddenFields([['action', 'login'], ['csrf_token', v.csrf]]) +
    `<label for="username">Username</label>` +
    `<input type="text" id="username" name="username" autocomplete="username" required autofocus value="${escapeHtml(v.username ?? '')}">` +
    `<label for="password">Password</label>` +
    `<input type="password" id="password" name="password" autocomplete="current-password" required>` +
    `<button type="submit">Sign in</button></form>`;
  renderPage(res, status, { title: 'Sign in', body, formOrigins: v.formOrigins, branding: v.branding });
}

interface MfaView {
  action: string;
  csrf: string;
  fields: Array<[string, string]>;
  /** sealed proof that the password step succeeded */
  ticket: string;
  error?: string;
  formOrigins: string[];
  branding?: BrandingConfig | undefined;
}

export function renderMfa(res: ServerResponse, status: number, v: MfaView): void {
  const body =
    `<h1>Two-step verification</h1><p>Enter the code from your authenticator app, or a recovery code.</p>` +
    (v.error ? `<p class="error" role="alert">${escapeHtml(v.error)}</p>` : '') +
    `<form method="post" action="${escapeHtml(v.action)}">` +
    hiddenFields(v.fields) +
    hiddenFields([['action', 'mfa'], ['csrf_token', v.csrf], ['mfa_ticket', v.ticket]]) +
    `<label for="otp">Code</label>` +
    `<input type="text" id="otp" name="otp" autocomplete="one-time-code" inputmode="numeric" required autofocus>` +
    `<button type="submit">Verify</button></form>`;
  renderPage(res, status, { title: 'Two-step verification', body, formOrigins: v.formOrigins, branding: v.branding });
}
