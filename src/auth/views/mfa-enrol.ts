// TOTP enrolment inside the sign-in flow: the QR code (inline SVG drawn in-process, so the
// secret never leaves the server and the page's CSP needs no image source), the secret for
// typing by hand, an otpauth:// link and the code field; then the recovery codes, shown once,
// with a Continue button that finishes the sign-in. Names and labels here are what the
// browser tests use: keep them stable.
import type { ServerResponse } from 'node:http';
import type { BrandingConfig } from '../../config/types.js';
import { escapeHtml, hiddenFields, renderPage } from './page.js';

const ENROL_TITLE = 'Set up two-step verification';
const RECOVERY_TITLE = 'Save your recovery codes';

interface EnrolView {
  action: string;
  csrf: string;
  fields: Array<[string, string]>;
  /** sealed proof that the password step succeeded (purpose: enrolment) */
  ticket: string;
  /** inline `<svg>` from mfa/qr.ts (trusted: drawn here, the title escaped there) */
  qrSvg: string;
  /** base32 secret, for typing into an app by hand */
  secret: string;
  /** otpauth://totp/… */
  uri: string;
  clientName: string;
  error?: string;
  formOrigins: string[];
  branding?: BrandingConfig | undefined;
}

/** The secret in groups of four, as apps show it (spaces are ignored when typed). */
function grouped(secret: string): string {
  return secret.match(/.{1,4}/g)!.join(' ');
}

export function renderMfaEnrol(res: ServerResponse, status: number, v: EnrolView): void {
  // a fixed display size without a stylesheet rule: the QR is drawn on a viewBox and scales
  const svg = v.qrSvg.replace('<svg ', '<svg width="208" height="208" id="totp-qr" ');
  const body =
    `<h1>${ENROL_TITLE}</h1>` +
    `<p><strong>${escapeHtml(v.clientName)}</strong> requires a second step when you sign in. ` +
    `Scan this code with an authenticator app, then enter the 6-digit code it shows.</p>` +
    (v.error ? `<p class="error" role="alert">${escapeHtml(v.error)}</p>` : '') +
    `<div>${svg}</div>` +
    `<p>Can't scan it? Enter this key in the app: <code id="totp-secret">${escapeHtml(grouped(v.secret))}</code></p>` +
    `<p><a id="totp-link" href="${escapeHtml(v.uri)}">Open in an authenticator app on this device</a></p>` +
    `<form method="post" action="${escapeHtml(v.action)}">` +
    hiddenFields(v.fields) +
    hiddenFields([['action', 'enrol'], ['csrf_token', v.csrf], ['mfa_ticket', v.ticket]]) +
    `<label for="otp">Code from the app</label>` +
    `<input type="text" id="otp" name="otp" autocomplete="one-time-code" inputmode="numeric" pattern="[0-9 ]*" required autofocus>` +
    `<button type="submit">Verify and turn on</button></form>`;
  renderPage(res, status, { title: ENROL_TITLE, body, formOrigins: v.formOrigins, branding: v.branding });
}

interface RecoveryCodesView {
  action: string;
  csrf: string;
  fields: Array<[string, string]>;
  /** sealed proof that enrolment succeeded (purpose: continue) */
  ticket: string;
  codes: string[];
  formOrigins: string[];
  branding?: BrandingConfig | undefined;
}

export function renderRecoveryCodes(res: ServerResponse, v: RecoveryCodesView): void {
  const items = v.codes.map((c) => `<li><code>${escapeHtml(c)}</code></li>`).join('');
  const body =
    `<h1>${RECOVERY_TITLE}</h1>` +
    `<p>Two-step verification is on. If you lose your authenticator, each of these codes signs you in once. ` +
    `Write them down or store them in a password manager: they are shown only now.</p>` +
    `<ol id="recovery-codes">${items}</ol>` +
    `<form method="post" action="${escapeHtml(v.action)}">` +
    hiddenFields(v.fields) +
    hiddenFields([['action', 'enrolled'], ['csrf_token', v.csrf], ['mfa_ticket', v.ticket]]) +
    `<button type="submit">Continue</button></form>`;
  renderPage(res, 200, { title: RECOVERY_TITLE, body, formOrigins: v.formOrigins, branding: v.branding });
}
