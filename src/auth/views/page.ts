// The frame every auth server page is rendered in: escaping, a per-response CSP nonce for
// the one inline stylesheet (and the form_post script), and the security headers every
// page carries. No external assets, nothing that needs JavaScript.
import type { ServerResponse } from 'node:http';
import type { BrandingConfig } from '../../config/types.js';
import { randomToken } from '../../core/crypto-util.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

interface PageOptions {
  title: string;
  /** trusted HTML (every interpolated value escaped by the caller) */
  body: string;
  /** origins forms on this page may submit (or be redirected) to, besides 'self' */
  formOrigins?: string[];
  /** trusted inline script (form_post only), allowed by the nonce */
  script?: string;
  /** auth.branding; absent: Drawbridge's own look */
  branding?: BrandingConfig | undefined;
}

const STYLE = `body{font-family:system-ui,sans-serif;background:#f5f6f8;color:#1d2330;margin:0}
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .3rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1rem;padding:.55rem 1.1rem;font-size:1rem;background:PRIMARY;color:#fff;border:0;border-radius:4px}
button.secondary{background:#6b7280}.error{color:#b42318}ul{padding-left:1.2rem}.logo{max-height:48px;display:block;margin-bottom:1rem}`;

export function renderPage(res: ServerResponse, status: number, opts: PageOptions): void {
  const nonce = randomToken(16);
  const logo = opts.branding?.logo_url;
  // primary_color is validated as a hex color by the config schema: safe inside the stylesheet
  const style = STYLE.replace('PRIMARY', opts.branding?.primary_color ?? '#2f5bea');
  const formAction = ["'self'", ...new Set(opts.formOrigins ?? [])].join(' ');
  const csp = [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    ...(logo !== undefined ? ["img-src 'self' data:"] : []),
    ...(opts.script !== undefined ? [`script-src 'nonce-${nonce}'`] : []),
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  const product = escapeHtml(opts.branding?.product_name ?? 'Drawbridge');
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta name="referrer" content="no-referrer">` +
    `<title>${escapeHtml(opts.title)} · ${product}</title><style nonce="${nonce}">${style}</style></head>` +
    `<body><main>` +
    (logo !== undefined ? `<img class="logo" src="${escapeHtml(logo)}" alt="${product}">` : '') +
    `${opts.body}</main>` +
    (opts.script !== undefined ? `<script nonce="${nonce}">${opts.script}</script>` : '') +
    `</body></html>`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'content-security-policy': csp,
    'x-frame-options': 'DENY',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  });
  res.end(html);
}

/** Hidden inputs carrying the authorization request through the login and consent forms. */
export function hiddenFields(fields: Iterable<[string, string]>): string {
  let html = '';
  for (const [name, value] of fields) html += `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;
  return html;
}
