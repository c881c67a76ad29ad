// Real Chromium for browser tests: Debian's `chromium` driven by playwright-core (never a
// downloaded browser). When /usr/bin/chromium is missing the suite is skipped with a LOUD
// line on stderr, except in CI (DRAWBRIDGE_REQUIRE_SERVICES=1), where that fails the run.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.DRAWBRIDGE_TEST_CHROMIUM || '/usr/bin/chromium';

/** The flags this machine's closed network needs (see the env notes): nothing phones home. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** true when Chromium is installed; else false after a loud SKIPPED line (throws in CI). */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  const msg = `Chromium not found at ${CHROMIUM_PATH} (apt-get install chromium)`;
  if (process.env.DRAWBRIDGE_REQUIRE_SERVICES === '1') throw new Error(`${msg} and DRAWBRIDGE_REQUIRE_SERVICES=1`);
  process.stderr.write(`\n*** SKIPPED: ${msg} — browser suites are skipped ***\n\n`);
  return false;
}

export interface RunningChromium {
  browser: Browser;
  /** a fresh, isolated profile (own cookies) */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<RunningChromium> {
  // playwright gives every launch its own empty temporary profile
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 30_000 });
  return {
    browser,
    newContext: () => browser.newContext(),
    async close() {
      await browser.close().catch(() => undefined);
    },
  };
}
