// The browser harness itself: Debian Chromium starts headless and renders a local page.
import * as assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { chromiumAvailable, launchChromium, type RunningChromium } from '../helpers/chromium.js';

const available = chromiumAvailable();

test('Chromium renders a page served on localhost', { skip: !available }, async () => {
  const server = createServer((_req, res) => res.end('<!doctype html><title>t</title><p id="x">drawbridge</p>'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  let chrome: RunningChromium | undefined;
  try {
    chrome = await launchChromium();
    const page = await (await chrome.newContext()).newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    assert.equal(await page.textContent('#x'), 'drawbridge');
  } finally {
    await chrome?.close();
    server.close();
  }
});
