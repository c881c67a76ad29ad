// Error page: shown instead of redirecting when the client or redirect URI cannot be trusted,
// and for failures before they are known (../endpoints/browser-failure.ts).
import type { ServerResponse } from 'node:http';
import type { BrandingConfig } from '../../config/types.js';
import { escapeHtml, renderPage } from './page.js';

export function renderError(res: ServerResponse, status: number, title: string, message: string, branding?: BrandingConfig): void {
  const body = `<h1>${escapeHtml(title)}</h1><p class="error" role="alert">${escapeHtml(message)}</p>`;
  renderPage(res, status, { title, body, branding });
}
