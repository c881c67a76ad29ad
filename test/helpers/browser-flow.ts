// Steps shared by the Chromium suites (test/e2e/browser-*.test.ts): a record of every page
// the browser was shown (so a test can say "the login page never appeared"), and the user's
// part of the auth server's pages, driven through labels and roles as a person would.
import type { BrowserContext, Page } from 'playwright-core';

export type PageKind = 'login' | 'mfa' | 'consent' | 'error' | 'other';

export interface SeenPage {
  url: string;
  status: number;
  kind: PageKind;
}

export interface PageLog {
  /** every top-level document the context received, in order (redirects included) */
  pages: SeenPage[];
  /** waits for the bodies still being read; then `pages` is complete */
  settle(): Promise<SeenPage[]>;
  kinds(): Promise<PageKind[]>;
  /** Content-Security-Policy violations Chromium reported on any page of the context */
  cspViolations: string[];
}

function kindOf(html: string, status: number): PageKind {
  if (html.includes('id="password"')) return 'login';
  if (html.includes('autocomplete="one-time-code"')) return 'mfa';
  if (html.includes('name="decision"')) return 'consent';
  return status >= 400 ? 'error' : 'other';
}

/** Records the documents shown in `context` from now on, classifying the auth server's pages. */
export function watchPages(context: BrowserContext, issuer: string): PageLog {
  const pages: SeenPage[] = [];
  const reading: Array<Promise<void>> = [];
  const cspViolations: string[] = [];
  context.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspViolations.push(`${msg.location().url}: ${msg.text()}`);
  });
  context.on('response', (res) => {
    const req = res.request();
    if (!req.isNavigationRequest() || req.frame().parentFrame() !== null) return;
    const seen: SeenPage = { url: res.url(), status: res.status(), kind: 'other' };
    pages.push(seen);
    if (!res.url().startsWith(issuer) || (res.status() >= 300 && res.status() < 400)) return;
    reading.push(
      res.text().then(
        (html) => void (seen.kind = kindOf(html, seen.status)),
        () => undefined,
      ),
    );
  });
  const settle = async () => {
    await Promise.all(reading);
    return pages;
  };
  return { pages, settle, kinds: async () => (await settle()).map((p) => p.kind), cspViolations };
}

/** On the login page: type the credentials and press "Sign in". */
export async function submitLogin(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Waits until the browser is at `origin` + `path`. */
export async function waitForPath(page: Page, origin: string, path: string): Promise<void> {
  await page.waitForURL((u) => u.origin === origin && u.pathname === path);
}

/** The RP's page text of `#status` (after its page loaded). */
export async function rpStatus(page: Page): Promise<string> {
  return (await page.locator('#status').textContent()) ?? '';
}
